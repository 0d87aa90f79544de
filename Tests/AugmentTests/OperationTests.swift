import XCTest
import Tensor
@testable import Augment

/// A test-only operation: adds 1 to byte `magnitude` of the image, so tests can count
/// applications per tuple. Registering it is all it takes to use it in policies.
struct TallyOperation: ImageOperation {
    var name: String { "Tally" }
    func parameter(magnitude: Int) -> Double { Double(magnitude) }
    func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        image.base[Int(arguments.parameter)] &+= 1
    }
}

func testImage(width: Int = 32, height: Int = 32, channels: Int = 3, seed: UInt64 = 1) -> Image {
    var rng = SeededGenerator(seed: seed)
    let shape = try! ImageShape(width: width, height: height, channels: channels)
    return try! Image(shape: shape, pixels: (0..<shape.count).map { _ in UInt8(rng.nextInt(below: 256)) })
}

final class OperationTests: XCTestCase {
    let fill = try! FillColor([1, 2, 3])

    func testStandardRegistryHoldsThePBAOperationsInOrder() throws {
        XCTAssertEqual(OperationRegistry.standard.names, OperationSet.pba.names)
        let ops = try OperationRegistry.standard.resolve(.pba)
        XCTAssertEqual(ops.map(\.name), OperationSet.pba.names)
    }

    func testNewOperationIsOneProtocolAndOneRegistration() throws {
        var registry = OperationRegistry.standard
        try registry.register(TallyOperation())
        XCTAssertThrowsError(try registry.register(TallyOperation())) { e in
            XCTAssertEqual("\(e)", "an operation named 'Tally' is already registered")
        }
        let set = OperationSet(names: OperationSet.pba.names + ["Tally"])
        var values = [Int](repeating: 0, count: 4 * set.count)
        values[2 * 15] = 10; values[2 * 15 + 1] = 5  // Tally, first pair: always, byte 5
        let policy = try ResolvedPolicy(try Policy(values: values, operations: set), registry: registry)
        let augmenter = try Augmenter(Augmentation(stage: .policy(policy), base: nil),
                                      shape: try ImageShape(width: 4, height: 4, channels: 1), fill: fill, registry: registry)
        var applied = 0
        for seed in 0..<200 {
            var image = Image(shape: augmenter.shape)
            var rng = SeededGenerator(seed: UInt64(seed))
            try augmenter.augment(&image, using: &rng)
            applied += Int(image.pixels[5])
            XCTAssertEqual(image.pixels.enumerated().filter { $0.offset != 5 }.map(\.element).max(), 0)
        }
        XCTAssertGreaterThan(applied, 100)   // applied whenever count ≥ 1 (80%)
        XCTAssertThrowsError(try ResolvedPolicy(try Policy(values: values, operations: set))) { e in
            XCTAssertTrue("\(e)".hasPrefix("unknown operation 'Tally'"), "\(e)")
        }
    }

    func testSingleOperationEntryRejectsBadArguments() throws {
        var image = testImage(width: 8, height: 8)
        let rotate = RotateOperation()
        XCTAssertThrowsError(try applyOperation(rotate, magnitude: 11, to: &image, fill: fill)) { e in
            XCTAssertEqual("\(e)", "magnitude 11 is outside 0...10")
        }
        XCTAssertThrowsError(try applyOperation(rotate, magnitude: 3, sign: 0, to: &image, fill: fill)) { e in
            XCTAssertEqual("\(e)", "sign 0 must be +1 or -1")
        }
        XCTAssertThrowsError(try applyOperation(CutoutOperation(), magnitude: 3, center: PixelPoint(x: 8, y: 0),
                                                to: &image, fill: fill)) { e in
            XCTAssertEqual("\(e)", "centre 8,0 lies outside the 8×8×3 image")
        }
        XCTAssertThrowsError(try ImageShape(width: 0, height: 3, channels: 3))
        XCTAssertThrowsError(try ImageShape(width: 3, height: 3, channels: 2)) { e in
            XCTAssertEqual("\(e)", "image has 2 channels, expected 1 or 3")
        }
        XCTAssertThrowsError(try FillColor([1, 2]))
        XCTAssertThrowsError(try Image(shape: image.shape, pixels: [1, 2, 3])) { e in
            XCTAssertEqual("\(e)", "image has 3 bytes, its shape needs 192")
        }
    }

    func testUncoveredPixelsTakeTheFillColour() throws {
        let shape = try ImageShape(width: 10, height: 10, channels: 3)
        let white = Image(shape: shape, filledWith: 255)
        var t = white
        try applyOperation(TranslateXOperation(), magnitude: 3, sign: 1, to: &t, fill: fill)
        for y in 0..<10 {
            for x in 0..<10 {
                let expected: [UInt8] = x >= 7 ? [1, 2, 3] : [255, 255, 255]
                XCTAssertEqual([t[x, y, 0], t[x, y, 1], t[x, y, 2]], expected, "TranslateX at \(x),\(y)")
            }
        }
        var r = white
        try applyOperation(RotateOperation(), magnitude: 9, sign: -1, to: &r, fill: fill)
        XCTAssertEqual([r[0, 0, 0], r[0, 0, 1], r[0, 0, 2]], [1, 2, 3])
        XCTAssertEqual([r[5, 5, 0], r[5, 5, 1], r[5, 5, 2]], [255, 255, 255])
        var c = white
        try applyOperation(CutoutOperation(), magnitude: 2, center: PixelPoint(x: 1, y: 9), to: &c, fill: fill)
        // side 4: x in [-1, 3) clipped to [0, 3), y in [7, 11) clipped to [7, 10)
        var filled = 0
        for y in 0..<10 { for x in 0..<10 where c[x, y, 0] == 1 { filled += 1; XCTAssertTrue(x < 3 && y >= 7) } }
        XCTAssertEqual(filled, 9)
        let grey = try FillColor([9])
        var g = Image(shape: try ImageShape(width: 6, height: 6, channels: 1), filledWith: 200)
        try applyOperation(TranslateYOperation(), magnitude: 2, sign: -1, to: &g, fill: grey)
        XCTAssertEqual(g[0, 0, 0], 9); XCTAssertEqual(g[0, 1, 0], 9); XCTAssertEqual(g[0, 2, 0], 200)
    }

    func testColourNeedingOperationIsIdentityOnGrey() throws {
        let grey = testImage(width: 9, height: 5, channels: 1)
        for m in [0, 3, 9] {
            var g = grey
            try applyOperation(ColorOperation(), magnitude: m, to: &g, fill: fill)
            XCTAssertEqual(g, grey)
        }
    }

    func testIdentityMagnitudes() throws {
        // Magnitude 0 is the identity for these (enhance factor 0.1 is not, Posterize keeps 4 bits).
        let image = testImage(width: 12, height: 9)
        for name in ["Rotate", "TranslateX", "TranslateY", "ShearX", "ShearY", "Solarize", "Cutout"] {
            var x = image
            try applyOperation(try OperationRegistry.standard.operation(named: name), magnitude: 0, to: &x, fill: fill)
            XCTAssertEqual(x, image, name)
        }
        var b = image
        applyOperation(BrightnessOperation(), OperationArguments(parameter: 1.0), to: &b, fill: fill)
        XCTAssertEqual(b, image, "enhance factor 1 is the identity")
    }

    func testQuarterTurnsAreExactTransposes() throws {
        let image = testImage(width: 7, height: 7)
        var r = image
        applyOperation(RotateOperation(), OperationArguments(parameter: 90), to: &r, fill: fill)
        // Counter-clockwise: the top-right pixel moves to the top-left.
        for c in 0..<3 { XCTAssertEqual(r[0, 0, c], image[6, 0, c]) }
        applyOperation(RotateOperation(), OperationArguments(parameter: -90), to: &r, fill: fill)
        XCTAssertEqual(r, image)
    }

    func testPythonRoundingHelpers() {
        XCTAssertEqual(pythonModulo(-27, 360), 333)
        XCTAssertEqual(pythonModulo(27, 360), 27)
        XCTAssertEqual(pythonRound15(0.1234567890123456789), 0.123456789012346)
        XCTAssertEqual(pythonRound15(-0.5), -0.5)
        XCTAssertEqual(pbaIntParameter(9, 256), 230)
        XCTAssertEqual(pbaIntParameter(3, 4), 1)
        XCTAssertEqual(pbaEnhanceFactor(9), 9.0 * 1.8 / 10.0 + 0.1)
    }

    func testShiftMatchesANaiveReference() throws {
        for channels in [1, 3] {
            let image = testImage(width: 7, height: 5, channels: channels)
            let scratch = AugmentScratch(for: image.shape)
            let context = OperationContext(fill: fill, scratch: scratch)
            for dy in -6...6 { for dx in -8...8 { for mirror in [false, true] {
                var fast = image
                fast.withView { shiftImage($0, dx: dx, dy: dy, mirror: mirror, context: context) }
                var naive = Image(shape: image.shape)
                for y in 0..<5 { for x in 0..<7 { for c in 0..<channels {
                    let sx = x + dx, sy = y + dy
                    let v = (0..<7).contains(sx) && (0..<5).contains(sy) ? image[sx, sy, c] : fill.values[c]
                    naive[mirror ? 6 - x : x, y, c] = v
                } } }
                XCTAssertEqual(fast, naive, "dx \(dx) dy \(dy) mirror \(mirror) channels \(channels)")
            } } }
        }
    }

    func testBlendTablesAndTheirArithmeticFallbackAgree() {
        let tables = BlendTables(capacity: 1)
        var rng = SeededGenerator(seed: 4)
        let n = 4096
        let degenerate = UnsafeMutablePointer<UInt8>.allocate(capacity: n)
        let image = UnsafeMutablePointer<UInt8>.allocate(capacity: n)
        defer { degenerate.deallocate(); image.deallocate() }
        for alpha: Float in [0.1, 1.72, 0.37, -0.5, 2.5] {
            var expected: [UInt8] = []
            for i in 0..<n {
                degenerate[i] = UInt8(rng.nextInt(below: 256)); image[i] = UInt8(rng.nextInt(below: 256))
                expected.append(pilBlend(degenerate[i], image[i], alpha))
            }
            blendInPlace(degenerate: degenerate, image: image, count: n, alpha: alpha, tables: tables)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: image, count: n)), expected, "alpha \(alpha)")
        }
        XCTAssertNotNil(tables.table(alpha: 0.1))
        XCTAssertNil(tables.table(alpha: 1.72), "full: later factors take the arithmetic path")
        // PIL's clipping: extrapolation beyond 0...255 clips, truncation otherwise.
        XCTAssertEqual(pilBlend(10, 250, 2), 255); XCTAssertEqual(pilBlend(250, 10, 2), 0)
        XCTAssertEqual(pilBlend(0, 99, 0.5), 49)
    }
}
