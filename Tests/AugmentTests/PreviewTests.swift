import CZlib
import XCTest
@testable import Augment

final class PreviewTests: XCTestCase {
    /// Reads the PNG back: signature, chunk CRCs, IHDR fields, and the inflated rows.
    func decode(_ png: [UInt8]) throws -> (width: Int, height: Int, colorType: UInt8, rows: [UInt8]) {
        XCTAssertEqual(Array(png[0..<8]), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var i = 8
        var width = 0, height = 0, colorType: UInt8 = 0
        var idat: [UInt8] = []
        var types: [String] = []
        func be(_ k: Int) -> Int { Int(png[k]) << 24 | Int(png[k + 1]) << 16 | Int(png[k + 2]) << 8 | Int(png[k + 3]) }
        while i < png.count {
            let length = be(i)
            let body = Array(png[(i + 4)..<(i + 8 + length)])
            let crc = body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
            XCTAssertEqual(Int(crc), be(i + 8 + length), "CRC")
            let type = String(decoding: body[0..<4], as: UTF8.self)
            types.append(type)
            let data = Array(body[4...])
            if type == "IHDR" {
                width = Int(data[0]) << 24 | Int(data[1]) << 16 | Int(data[2]) << 8 | Int(data[3])
                height = Int(data[4]) << 24 | Int(data[5]) << 16 | Int(data[6]) << 8 | Int(data[7])
                XCTAssertEqual(data[8], 8)
                colorType = data[9]
            }
            if type == "IDAT" { idat += data }
            i += 12 + length
        }
        XCTAssertEqual(types, ["IHDR", "IDAT", "IEND"])
        let channels = colorType == 2 ? 3 : 1
        var size = uLong(height * (1 + width * channels))
        var rows = [UInt8](repeating: 0, count: Int(size))
        XCTAssertEqual(uncompress(&rows, &size, idat, uLong(idat.count)), Z_OK)
        return (width, height, colorType, rows)
    }

    func testPNGRoundTrip() throws {
        for channels in [1, 3] {
            let image = testImage(width: 5, height: 3, channels: channels)
            let decoded = try decode(try pngData(image))
            XCTAssertEqual(decoded.width, 5); XCTAssertEqual(decoded.height, 3)
            XCTAssertEqual(decoded.colorType, channels == 3 ? 2 : 0)
            var pixels: [UInt8] = []
            for y in 0..<3 {
                let row = decoded.rows[(y * (1 + 5 * channels))..<((y + 1) * (1 + 5 * channels))]
                XCTAssertEqual(row.first, 0, "filter type None")
                pixels += row.dropFirst()
            }
            XCTAssertEqual(pixels, image.pixels)
        }
    }

    func testPreviewGridPlacesCells() throws {
        let a = testImage(width: 2, height: 2, channels: 3, seed: 1)
        let b = testImage(width: 2, height: 2, channels: 3, seed: 2)
        let grid = try previewGrid(rows: [[a, b]], scale: 2, spacing: 1, background: 7)
        // width: 1 + 2·4 + 3 (wider gap after the original) + 1; height: 1 + 4 + 1
        XCTAssertEqual(grid.width, 13); XCTAssertEqual(grid.height, 6)
        XCTAssertEqual(grid[0, 0, 0], 7)
        XCTAssertEqual(grid[1, 1, 0], a[0, 0, 0]); XCTAssertEqual(grid[4, 4, 2], a[1, 1, 2])
        XCTAssertEqual(grid[8, 1, 1], b[0, 0, 1]); XCTAssertEqual(grid[11, 4, 0], b[1, 1, 0])
        XCTAssertEqual(grid[6, 2, 0], 7)
        XCTAssertThrowsError(try previewGrid(rows: [])) { XCTAssertEqual("\($0)", "preview has no images") }
        XCTAssertThrowsError(try previewGrid(rows: [[a, testImage(width: 3, height: 2)]]))
    }

    func testBenchmarkMeasures() throws {
        let cases = try AugmentBenchmark.standardCases()
        XCTAssertEqual(cases.count, 5)
        let r = try AugmentBenchmark.measure(cases[0].0, cases[0].1, minimumSeconds: 0.01)
        XCTAssertGreaterThanOrEqual(r.images, 256)
        XCTAssertGreaterThan(r.imagesPerSecond, 0)
        let p = AugmentBenchmark.fullProbabilityPolicy()
        XCTAssertEqual(p.tuples.filter { $0.probability == 10 && $0.magnitude == 5 }.count, 30)
    }
}
