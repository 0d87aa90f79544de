import XCTest
@testable import Wire

final class RoutingNameTests: XCTestCase {
    func testTextIdsAreTheirOwnName() {
        XCTAssertEqual(RoutingName.name(of: Array("local-42-0".utf8)), "local-42-0")
        XCTAssertEqual(RoutingName.id(of: "local-42-0"), Array("local-42-0".utf8))
    }

    func testZeroMQGeneratedIdsAreNamedInHexAndMapBack() {
        // ZeroMQ's generated routing id: a zero byte and a 32-bit counter; 0x8b alone is not UTF-8.
        let generated: [UInt8] = [0x00, 0x6b, 0x8b, 0x45, 0x67]
        XCTAssertEqual(RoutingName.name(of: generated), "bytes:006b8b4567")
        XCTAssertEqual(RoutingName.id(of: "bytes:006b8b4567"), generated)
    }

    func testATextIdThatLooksLikeTheHexFormStaysDistinct() {
        let sly = Array("bytes:00".utf8)
        let name = RoutingName.name(of: sly)
        XCTAssertNotEqual(name, "bytes:00")
        XCTAssertEqual(RoutingName.id(of: name), sly)
        XCTAssertNotEqual(RoutingName.id(of: RoutingName.name(of: [0x00])), sly)
    }

    func testRoundTripOverManyIds() {
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 2, 5, 17, 255] {
            for _ in 0..<50 {
                let id = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                XCTAssertEqual(RoutingName.id(of: RoutingName.name(of: id)), id)
            }
        }
    }
}
