// swift-tools-version:6.0
import PackageDescription

// One module per concern, dependencies pointing one way (see README "Layout").
let package = Package(
    name: "pba",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pba", targets: ["pba"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto"),
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ"),
        // pba's own C kernels (AVX2 and AVX-512 paths in one binary, chosen at run time).
        // -O3: at -O2 clang does not fully unroll the register blocks and they run at half speed.
        .target(name: "CKernels", path: "Sources/CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Tensor", dependencies: ["CBLAS", "CKernels"]),
        .target(name: "Engine", dependencies: ["Tensor", "CZlib", "CCrypto"]),
        .target(name: "Augment", dependencies: ["Engine"]),
        .target(name: "Search", dependencies: ["Augment"]),
        .target(name: "Schedule", dependencies: ["Search", "Augment"]),
        .target(name: "Evaluation", dependencies: ["Schedule", "Augment", "Engine"]),
        .target(name: "Store", dependencies: ["Search", "Schedule", "Engine", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "Wire", dependencies: ["Engine", "Augment", "CZeroMQ"]),
        .target(name: "Worker", dependencies: ["Wire", "Engine", "Augment", "Schedule", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Coordinator", dependencies: ["Wire", "Store", "Search", "Schedule", "Evaluation", .product(name: "Logging", package: "swift-log")]),
        // The dashboard: pure pages, SVG, JSON and metrics from store values (Dashboard), and the
        // thin Hummingbird server around them (DashboardServer), like Wire's codec and transport.
        .target(name: "Dashboard", dependencies: ["Store", "Schedule", "Search", "Evaluation", "Augment"]),
        .target(name: "DashboardServer", dependencies: [
            "Dashboard", "Store",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .executableTarget(name: "pba", dependencies: [
            "Engine", "Augment", "Search", "Schedule", "Evaluation", "Store", "Wire", "Worker", "Coordinator", "Dashboard", "DashboardServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine"]),
        .testTarget(name: "AugmentTests", dependencies: ["Augment"], exclude: ["Fixtures"]),
        .testTarget(name: "SearchTests", dependencies: ["Search"]),
        .testTarget(name: "ScheduleTests", dependencies: ["Schedule"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Schedule", "Augment"]),
        .testTarget(name: "StoreTests", dependencies: ["Store"]),
        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "CoordinatorTests", dependencies: ["Coordinator", "Evaluation", "Schedule", "Store", "Wire", "Engine",
                                                           .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "DashboardTests", dependencies: ["Dashboard", "DashboardServer", "Store", "Search", "Schedule", "Augment", "Tensor", "Evaluation"]),
        .testTarget(name: "IntegrationTests", dependencies: ["Store", "Schedule", "Search", "Wire", "Evaluation", "pba"]),
    ]
)
