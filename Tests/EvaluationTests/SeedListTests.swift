import XCTest
@testable import Evaluation

final class SeedListTests: XCTestCase {
    func testCountsRangesAndLists() throws {
        XCTAssertEqual(try SeedList.parse("3"), [1, 2, 3])
        XCTAssertEqual(try SeedList.parse("101-105"), [101, 102, 103, 104, 105])
        XCTAssertEqual(try SeedList.parse("7,9,11"), [7, 9, 11])
        XCTAssertEqual(try SeedList.parse("1-3, 10"), [1, 2, 3, 10])
    }

    func testBadSeedsNameWhatIsWrong() {
        func reason(_ text: String) -> String {
            do { _ = try SeedList.parse(text); return "accepted" } catch { return error.reason }
        }
        XCTAssertTrue(reason("").contains("empty"))
        XCTAssertTrue(reason("five").contains("'five'"))
        XCTAssertTrue(reason("101").contains("1...100"))
        XCTAssertTrue(reason("0").contains("1...100"), "a count of 0 is refused, not an empty list")
        XCTAssertTrue(reason("5-3").contains("backwards"))
        XCTAssertTrue(reason("1,,2").contains("empty item"))
        XCTAssertTrue(reason("1-2-3").contains("'1-2-3'"))
        XCTAssertTrue(reason("3,3").contains("twice"))
        XCTAssertTrue(reason("-4").contains("'-4'"))
        XCTAssertTrue(reason("1-1000").contains("more than 100"))
    }
}
