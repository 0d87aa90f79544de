import Augment
import Schedule
import XCTest

final class LiteralTests: XCTestCase {
    func testParsesPythonAndJSONLiterals() throws {
        let python = try LiteralParser.parse("['a', \"it's\", 12, -3.5e2, True, None, (1, 2,), {'k': [1]}]")
        XCTAssertEqual(python.syntax, .python)
        XCTAssertEqual(python.value, .list([
            .string("a"), .string("it's"), .number("12"), .number("-3.5e2"), .boolean(true), .null,
            .list([.number("1"), .number("2")]), .dictionary([LiteralEntry(key: "k", value: .list([.number("1")]))]),
        ]))
        let json = try LiteralParser.parse(#"{"a": "\u00e9\n\"", "b": false, "c": null}"#)
        XCTAssertEqual(json.syntax, .json)
        XCTAssertEqual(json.value["a"], .string("é\n\""))
        XCTAssertNil(try LiteralParser.parse("[1, [2]]").syntax)
        let nonFinite = try LiteralParser.parse("[NaN, -Infinity, Infinity, -0.5]").value
        XCTAssertEqual(nonFinite, .list([.number("NaN"), .number("-Infinity"), .number("Infinity"), .number("-0.5")]))
        XCTAssertEqual(nonFinite.rendered(.json), "[NaN, -Infinity, Infinity, -0.5]")
    }

    func testRendersLikePythonReprAndJSONDumps() {
        let value = LiteralValue.list([.string("it's"), .string("a'b\"c"), .string("tab\there"), .string("é"),
                                       .boolean(false), .null, .dictionary([LiteralEntry(key: "k", value: .number("1"))])])
        // Python: repr(["it's", 'a\'b"c', 'tab\there', 'é', False, None, {'k': 1}])
        XCTAssertEqual(value.rendered(.python), #"["it's", 'a\'b"c', 'tab\there', 'é', False, None, {'k': 1}]"#)
        // json.dumps of the same list.
        XCTAssertEqual(value.rendered(.json), #"["it's", "a'b\"c", "tab\there", "\u00e9", false, null, {"k": 1}]"#)
        for syntax in [LiteralSyntax.python, .json] {
            XCTAssertEqual(try LiteralParser.parse(value.rendered(syntax)).value, value, "\(syntax)")
        }
    }

    func testSyntaxErrorsGiveColumn() {
        for (text, column) in [("[1, 2", 6), ("[1,, 2]", 4), ("['a]", 5), ("[1] x", 5), ("{1: 2}", 2), ("[tru]", 2)] {
            XCTAssertThrowsError(try LiteralParser.parse(text), text) { error in
                XCTAssertEqual((error as? LiteralSyntaxError)?.column, column, "\(text): \(error)")
            }
        }
    }
}

final class PolicyLogTests: XCTestCase {
    /// Segment lengths worked out by hand from the clone iterations of the published files
    /// (12, 34, 54, 74, 75, 81, 84, 111, 117, 138, 144, 153, 160, 177, 183, 195 → differences,
    /// then 200 − 195).
    let cifarLengths = [12, 22, 20, 20, 1, 6, 3, 27, 6, 21, 6, 9, 7, 17, 6, 12, 5]
    let svhnLengths = [9, 15, 6, 8, 7, 24, 6, 25, 4, 4, 39, 6, 6, 1]

    func testPublishedLogsRoundTripByteForByte() throws {
        for name in ["rcifar10_16_wrn.txt", "rsvhn_16_wrn.txt"] {
            let text = try publishedSchedule(name)
            let log = try PolicyLog(parsing: text)
            XCTAssertEqual(log.syntax, .python)
            XCTAssertEqual(log.rendered(), text, name)
            // And through JSON.
            var json = log
            json.syntax = .json
            let jsonText = json.rendered()
            XCTAssertTrue(jsonText.hasPrefix("[\""))
            let back = try PolicyLog(parsing: jsonText)
            XCTAssertEqual(back.syntax, .json)
            XCTAssertEqual(back.entries, log.entries)
            XCTAssertEqual(back.rendered(), jsonText)
        }
    }

    func testPublishedLogsBecomePBASchedules() throws {
        let cifarLog = try PolicyLog(parsing: try publishedSchedule("rcifar10_16_wrn.txt"))
        XCTAssertEqual(cifarLog.entries.count, 16)
        XCTAssertEqual(cifarLog.entries[0].targetTag, "9")
        XCTAssertEqual(cifarLog.entries[0].cloneTag, "8")
        XCTAssertEqual(cifarLog.entries[0].targetIteration, 11)
        XCTAssertEqual(cifarLog.entries[0].cloneIteration, 12)
        let cifar = try PBASchedule(lineage: cifarLog, epochs: 200)
        XCTAssertEqual(cifar.segments.map(\.epochs), cifarLengths)
        XCTAssertEqual(cifar.epochs, 200)
        XCTAssertEqual(cifar.segments[0].policy, Policy(zeroFor: .pba), "PBA starts from the zero policy")
        XCTAssertEqual(cifar.segments[1].policy, cifarLog.entries[0].newConfig.policy)
        XCTAssertEqual(cifar.segments[16].policy, cifarLog.entries[15].newConfig.policy)
        XCTAssertEqual(Array(cifar.segments[1].policy.values.prefix(6)), [0, 3, 3, 7, 1, 9])

        let svhn = try PBASchedule(lineage: try PolicyLog(parsing: try publishedSchedule("rsvhn_16_wrn.txt")), epochs: 160)
        XCTAssertEqual(svhn.segments.map(\.epochs), svhnLengths)
        XCTAssertEqual(svhn.epochs, 160)
    }

    func policy(_ v: Int) -> Policy {
        var p = Policy(zeroFor: .pba)
        p.set(0, clamping: v)
        return p
    }

    func entry(_ target: String, _ clone: String, _ cloneIteration: Int, _ from: Int, _ to: Int) -> PolicyLogEntry {
        PolicyLogEntry(targetTag: target, cloneTag: clone, targetIteration: cloneIteration, cloneIteration: cloneIteration,
                       cloneConfig: PolicyConfig(policy: policy(from)), newConfig: PolicyConfig(policy: policy(to)))
    }

    /// PBA drops leading lines up to the last break of the target → next clone chain.
    func testLeadingLinesBeforeLastChainBreakAreDropped() throws {
        let log = PolicyLog(entries: [
            entry("x", "y", 3, 9, 9),      // chain broken after this line (x ≠ q)
            entry("p", "q", 6, 9, 8),      // broken again (p ≠ s)
            entry("r", "s", 9, 1, 2),      // kept: r → r
            entry("t", "r", 12, 2, 3),
        ])
        let schedule = try PBASchedule(lineage: log, epochs: 20)
        XCTAssertEqual(schedule.segments, [
            PBAScheduleSegment(epochs: 9, policy: policy(1)),
            PBAScheduleSegment(epochs: 3, policy: policy(2)),
            PBAScheduleSegment(epochs: 8, policy: policy(3)),
        ])
    }

    func testLogDerivationErrorsNameEntryAndField() {
        XCTAssertThrowsError(try PBASchedule(lineage: PolicyLog(entries: []), epochs: 10)) {
            XCTAssertEqual($0 as? ScheduleError, .emptyLog)
        }
        let backwards = PolicyLog(entries: [entry("a", "b", 9, 0, 1), entry("c", "a", 6, 1, 2)])
        XCTAssertThrowsError(try PBASchedule(lineage: backwards, epochs: 20)) { error in
            XCTAssertEqual((error as? ScheduleError).map { "\($0)" }, "policy log entry 2, field clone_iteration: 6 is before the previous entry's 9")
        }
        XCTAssertThrowsError(try PBASchedule(lineage: PolicyLog(entries: [entry("a", "b", 30, 0, 1)]), epochs: 20)) { error in
            XCTAssertTrue("\(error)".contains("beyond the 20 epochs"), "\(error)")
        }
    }

    func testHPPolicyDictionaryKeepsOtherKeysAndOrder() throws {
        let zeros = Array(repeating: "0", count: 60).joined(separator: ", ")
        let line = #"["3", "1", 6, 6, {"lr": 0.1, "hp_policy": [\#(zeros)], "name": "x"}, {"hp_policy": [\#(zeros)]}]"# + "\n"
        let log = try PolicyLog(parsing: line)
        XCTAssertEqual(log.syntax, .json)
        guard case let .dictionary(others, position) = log.entries[0].cloneConfig.form else { return XCTFail() }
        XCTAssertEqual(others.map(\.key), ["lr", "name"])
        XCTAssertEqual(position, 1)
        XCTAssertEqual(log.entries[0].newConfig.form, .hpPolicyOnly)
        XCTAssertEqual(log.rendered(), line)
    }

    func testInvalidLinesNameLineAndField() {
        let good = "[" + Array(repeating: "0", count: 60).map { $0 }.joined(separator: ", ") + "]"
        var outOfRange = Array(repeating: "0", count: 60)
        outOfRange[17] = "10"
        let cases: [(String, String)] = [
            ("['1', '2', 3, 3, \(good), \(good)]\n['1', '2', 3]", "line 2, field line: expected 6 fields"),
            ("\n['1', 2, 3, 3, \(good), \(good)]", "line 2, field clone_tag: expected a string, found a number"),
            ("['1', '2', -3, 3, \(good), \(good)]", "line 1, field target_iteration: expected a non-negative integer"),
            ("['1', '2', 3, 3.5, \(good), \(good)]", "line 1, field clone_iteration"),
            ("['1', '2', 3, 3, [1, 2], \(good)]", "line 1, field clone_config: policy has 2 integers, expected 60"),
            ("['1', '2', 3, 3, \(good), [\(outOfRange.joined(separator: ", "))]]",
             "line 1, field new_config[17]: policy integer 17 (ShearX.pair1.magnitude) is 10, allowed 0...9"),
            ("['1', '2', 3, 3, {'lr': 1}, \(good)]", "line 1, field clone_config: the config has no 'hp_policy' key"),
            ("['1', '2', 3, 3, {'hp_policy': [1, 'a']}, \(good)]", "line 1, field clone_config.hp_policy[1]: expected an integer"),
            ("['1', '2', 3, 3, \(good), \(good)\n", "line 1, column"),
            ("{'a': 1}", "line 1, field line: expected a list of 6 fields, found a dictionary"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try PolicyLog(parsing: text)) { error in
                XCTAssertTrue("\(error)".hasPrefix(expected), "got: \(error)\nexpected prefix: \(expected)")
            }
        }
    }

    func testPBAScheduleFormRoundTrips() throws {
        let cifar = try PBASchedule(lineage: try PolicyLog(parsing: try publishedSchedule("rcifar10_16_wrn.txt")), epochs: 200)
        let text = cifar.rendered()
        XCTAssertTrue(text.hasPrefix("[[12, [0, 0, 0"))
        XCTAssertEqual(try PBASchedule(parsing: text), cifar)
        XCTAssertEqual(try PBASchedule(parsing: text).rendered(), text)
        // A synthesised lineage log parses back to the same segments, zero-length ones included.
        var withEmpty = cifar
        withEmpty.segments.insert(PBAScheduleSegment(epochs: 0, policy: policy(4)), at: 3)
        for schedule in [cifar, withEmpty] {
            let log = try schedule.lineageLog()
            XCTAssertEqual(try PBASchedule(lineage: try PolicyLog(parsing: log.rendered()), epochs: schedule.epochs), schedule)
        }
        XCTAssertThrowsError(try PBASchedule(segments: [PBAScheduleSegment(epochs: 5, policy: policy(1))]).lineageLog())
        XCTAssertThrowsError(try PBASchedule(parsing: "[[3, [1, 2]]]")) { error in
            XCTAssertTrue("\(error)".contains("schedule[0][1]"), "\(error)")
        }
        XCTAssertThrowsError(try PBASchedule(parsing: "[[3, [0]],\n [2, ")) { error in
            XCTAssertTrue("\(error)".hasPrefix("line 2, column"), "\(error)")
        }
    }

    /// PBA's stretching, worked by hand: segments of 3, 5, 2 epochs learned over 10.
    func testStretchingFollowsPBA() {
        let schedule = PBASchedule(segments: [
            PBAScheduleSegment(epochs: 3, policy: policy(1)),
            PBAScheduleSegment(epochs: 5, policy: policy(2)),
            PBAScheduleSegment(epochs: 0, policy: policy(5)),
            PBAScheduleSegment(epochs: 2, policy: policy(3)),
        ])
        func firsts(_ n: Int) -> [Int] { schedule.epochPolicies(targetEpochs: n).map { $0.values[0] } }
        XCTAssertEqual(firsts(10), [1, 1, 1, 2, 2, 2, 2, 2, 3, 3])
        // ×1.5: int(4.5) = 4, int(7.5) = 7, 0, int(3.0) = 3 → 14, one more of the last policy.
        XCTAssertEqual(firsts(15), [1, 1, 1, 1] + Array(repeating: 2, count: 7) + [3, 3, 3, 3])
        // ×0.4: int(1.2) = 1, int(2.0) = 2, 0, int(0.8) = 0 → 3, one more of the last policy.
        XCTAssertEqual(firsts(4), [1, 2, 2, 3])
        XCTAssertEqual(firsts(20), [1, 1, 1, 1, 1, 1] + Array(repeating: 2, count: 10) + [3, 3, 3, 3])
        XCTAssertEqual(firsts(0), [])
    }

    func testStretchingPublishedScheduleToOtherLengths() throws {
        let cifar = try PBASchedule(lineage: try PolicyLog(parsing: try publishedSchedule("rcifar10_16_wrn.txt")), epochs: 200)
        let last = cifar.segments.last!.policy
        for n in [200, 100, 160, 50, 333] {
            let policies = cifar.epochPolicies(targetEpochs: n)
            XCTAssertEqual(policies.count, n)
            XCTAssertEqual(policies.last, last)
            let multiplier = Double(n) / 200
            let expectedFirst = Int(12 * multiplier)
            XCTAssertEqual(policies.prefix(expectedFirst), ArraySlice(repeating: Policy(zeroFor: .pba), count: expectedFirst))
            XCTAssertNotEqual(policies[expectedFirst], Policy(zeroFor: .pba))
        }
        XCTAssertEqual(cifar.epochPolicies(targetEpochs: 200).count, 200)
    }
}
