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

/// Which presets keep a control member (the free baseline, never exploited) by default.
final class RunPlanControlTests: XCTestCase {
    func testTheCPUPresetsKeepOneControlAndThePaperNone() {
        XCTAssertEqual(RunPlan(preset: .demo).defaults.controlMembers, 1)
        XCTAssertEqual(RunPlan(preset: .reducedCIFAR10).defaults.controlMembers, 1)
        XCTAssertEqual(RunPlan(preset: .paper).defaults.controlMembers, 0, "PBA's own setup unchanged")
    }
}
