import Foundation
import XCTest
@testable import Augment

/// Every operation against Pillow's recorded output (Fixtures/pillow_ops.json, made by
/// Fixtures/make_fixtures.py with the pinned Pillow; see Fixtures/README.md).
final class PillowFixtureTests: XCTestCase {
    struct FixtureImage: Decodable {
        let name: String
        let width: Int, height: Int, channels: Int
        let fill: [UInt8]
        let pixels: String
        let center: [Int]
    }
    struct FixtureCase: Decodable {
        let image: String
        let op: String
        let magnitude: Int?
        let sign: Int?
        let parameter: Double?
        let output: String
    }
    struct Fixtures: Decodable {
        let pillow: String
        let images: [FixtureImage]
        let cases: [FixtureCase]
    }

    /// Enhance operations blend in single precision; we allow PIL's ±1 grey level there.
    static let enhanceOperations: Set<String> = ["Brightness", "Color", "Contrast", "Sharpness"]

    func loadFixtures() throws -> Fixtures {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/pillow_ops.json")
        return try JSONDecoder().decode(Fixtures.self, from: Data(contentsOf: url))
    }

    func testEveryOperationMatchesPillow() throws {
        let fixtures = try loadFixtures()
        XCTAssertEqual(fixtures.pillow, "12.3.0")
        var images: [String: (Image, FillColor, PixelPoint)] = [:]
        for f in fixtures.images {
            let shape = try ImageShape(width: f.width, height: f.height, channels: f.channels)
            let pixels = [UInt8](try XCTUnwrap(Data(base64Encoded: f.pixels)))
            images[f.name] = (try Image(shape: shape, pixels: pixels), try FillColor(f.fill),
                              PixelPoint(x: f.center[0], y: f.center[1]))
        }
        let registry = OperationRegistry.standard
        var checked = 0, exactEnhance = 0, enhance = 0
        var seenOps = Set<String>()
        for c in fixtures.cases {
            let (input, fill, center) = try XCTUnwrap(images[c.image])
            let op = try registry.operation(named: c.op)
            var image = input
            if let m = c.magnitude {
                try applyOperation(op, magnitude: m, sign: c.sign ?? 1, center: center, to: &image, fill: fill)
            } else {
                let p = try XCTUnwrap(c.parameter)
                applyOperation(op, OperationArguments(parameter: p, center: center), to: &image, fill: fill)
            }
            let expected = [UInt8](try XCTUnwrap(Data(base64Encoded: c.output)))
            XCTAssertEqual(expected.count, image.pixels.count)
            let what = "\(c.op) on \(c.image) " + (c.magnitude.map { "m=\($0) sign=\(c.sign ?? 1)" } ?? "p=\(c.parameter!)")
            let tolerance = Self.enhanceOperations.contains(c.op) ? 1 : 0
            var worst = 0, firstBad = -1
            for i in 0..<expected.count {
                let d = abs(Int(expected[i]) - Int(image.pixels[i]))
                if d > worst { worst = d }
                if d > tolerance && firstBad < 0 { firstBad = i }
            }
            if firstBad >= 0 {
                XCTFail("\(what): byte \(firstBad) is \(image.pixels[firstBad]), Pillow \(expected[firstBad]) (worst difference \(worst))")
            }
            if tolerance > 0 {
                enhance += 1
                if worst == 0 { exactEnhance += 1 }
            }
            seenOps.insert(c.op)
            checked += 1
        }
        XCTAssertEqual(seenOps, Set(OperationSet.pba.names), "fixtures cover every operation")
        XCTAssertGreaterThan(checked, 400)
        print("checked \(checked) Pillow cases; enhance cases exact: \(exactEnhance)/\(enhance)")
    }
}
