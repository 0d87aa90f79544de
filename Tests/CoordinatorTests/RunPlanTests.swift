import XCTest
@testable import Coordinator

/// The start a run gets when `--initial-policy` is not given.
final class RunPlanTests: XCTestCase {
    func testAFoundationStartsAtZeroUnlessAStartIsAskedFor() {
        var plan = RunPlan(preset: .reducedCIFAR10)
        XCTAssertEqual(plan.resolvedInitialPolicy, .mixed, "the preset's own start")
        plan.foundation = "autoaugment"
        XCTAssertEqual(plan.resolvedInitialPolicy, .zero, "random policies on a foundation are not the default")
        plan.initialPolicy = .mixed
        XCTAssertEqual(plan.resolvedInitialPolicy, .mixed, "an explicit start is kept (a config file's too)")
        var demo = RunPlan(preset: .demo)
        demo.initialPolicy = .sampled
        XCTAssertEqual(demo.resolvedInitialPolicy, .sampled)
    }
}
