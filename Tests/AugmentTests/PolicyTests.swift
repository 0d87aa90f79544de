import XCTest
@testable import Augment

final class PolicyTests: XCTestCase {
    func testValidationNamesTheField() {
        var v = [Int](repeating: 0, count: 60)
        v[3] = 10 // op 1 (TranslateX), first pair, magnitude
        XCTAssertThrowsError(try Policy(values: v)) { e in
            XCTAssertEqual("\(e)", "policy integer 3 (TranslateX.pair1.magnitude) is 10, allowed 0...9")
        }
        XCTAssertThrowsError(try Policy(values: [1, 2, 3]))
    }

    func testTuplesFollowHpPolicyLayout() throws {
        var v = [Int](repeating: 0, count: 60)
        v[30] = 7; v[31] = 4   // second pair of op 0 (Rotate)
        let p = try Policy(values: v)
        let t = p.tuples[15]
        XCTAssertEqual(t.operation, 0); XCTAssertEqual(t.probability, 7); XCTAssertEqual(t.magnitude, 4)
    }
}
