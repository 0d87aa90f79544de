import Foundation
import XCTest
@testable import Augment

final class PolicyFileTests: XCTestCase {
    func parse(_ s: String) throws -> Policy { try Policy(json: Data(s.utf8)) }

    func message(_ s: String) -> String {
        do { _ = try parse(s); return "accepted" } catch { return "\(error)" }
    }

    func testBareListAndObjectForms() throws {
        let ints = (0..<60).map { $0 % 2 == 0 ? ($0 / 2) % 11 : ($0 / 2) % 10 }
        let bare = try parse("[" + ints.map(String.init).joined(separator: ",") + "]")
        XCTAssertEqual(bare.values, ints)
        XCTAssertEqual(bare.operations, .pba)
        let object = try Policy(json: bare.jsonData())
        XCTAssertEqual(object, bare)
        let two = try parse(#"{"operations": ["Rotate", "Invert"], "policy": [1,2,3,4,5,6,7,8]}"#)
        XCTAssertEqual(two.operations.names, ["Rotate", "Invert"])
    }

    func testBadFilesAreRejectedNamingTheField() {
        let zeros59 = "[" + Array(repeating: "0", count: 59).joined(separator: ",") + "]"
        XCTAssertEqual(message(zeros59), "policy file field 'policy': policy has 59 integers, expected 60 (4 per operation)")
        var v = Array(repeating: "0", count: 60)
        v[33] = "10"
        XCTAssertEqual(message("[" + v.joined(separator: ",") + "]"),
                       "policy file field 'policy': policy integer 33 (TranslateX.pair2.magnitude) is 10, allowed 0...9")
        v[33] = "0"; v[4] = "-1"
        XCTAssertEqual(message("[" + v.joined(separator: ",") + "]"),
                       "policy file field 'policy': policy integer 4 (TranslateY.pair1.probability) is -1, allowed 0...10")
        v[4] = "2.5"
        XCTAssertEqual(message("[" + v.joined(separator: ",") + "]"),
                       "policy file field 'policy[4]': expected an integer, got 2.5")
        v[4] = "true"
        XCTAssertTrue(message("[" + v.joined(separator: ",") + "]").hasPrefix("policy file field 'policy[4]': expected an integer"))
        XCTAssertTrue(message(#"{"operations": ["Rotate", "Wobble"], "policy": [0,0,0,0,0,0,0,0]}"#)
            .hasPrefix("policy file field 'operations[1]': unknown operation 'Wobble'"))
        XCTAssertEqual(message(#"{"operations": ["Rotate", "Rotate"], "policy": [0,0,0,0,0,0,0,0]}"#),
                       "policy file field 'operations[1]': 'Rotate' appears twice")
        XCTAssertEqual(message(#"{"policy": [0], "extra": 1}"#),
                       "policy file has an unknown field 'extra' (expected 'operations', 'policy')")
        XCTAssertEqual(message(#"{"operations": ["Rotate"]}"#), "policy file field 'policy': is missing")
        XCTAssertTrue(message("[1, 2").hasPrefix("policy file is not valid JSON"))
        XCTAssertEqual(message("3"), "policy file field '(top level)': expected an object or a list of integers")
    }
}
