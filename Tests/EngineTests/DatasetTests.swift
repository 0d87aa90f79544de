import CZlib
import Foundation
import Tensor
import XCTest

@testable import Engine

/// The shared data directory: `$PBA_SHARED_DATA`, else the first `shared/data` found walking up
/// from this file (the worktrees sit beside `shared/`).
func sharedDataDirectory() -> String? {
    if let env = ProcessInfo.processInfo.environment["PBA_SHARED_DATA"], !env.isEmpty { return env }
    var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while url.path != "/" {
        let candidate = url.appendingPathComponent("shared/data")
        if directoryExists(candidate.path) { return candidate.path }
        url.deleteLastPathComponent()
    }
    return nil
}

/// A fresh empty directory, removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("pba-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Asserts that `body` throws a `DatasetError` for which `matches` holds, and returns it.
@discardableResult
func assertDatasetError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line,
                        _ matches: (DatasetError) -> Bool) -> DatasetError? {
    do {
        try body()
        XCTFail("expected a DatasetError, nothing was thrown", file: file, line: line)
    } catch let error as DatasetError {
        XCTAssertTrue(matches(error), "unexpected error: \(error)", file: file, line: line)
        return error
    } catch {
        XCTFail("expected a DatasetError, got \(error)", file: file, line: line)
    }
    return nil
}

final class DatasetTests: XCTestCase {
    // MARK: CIFAR

    func cifar10Mini() throws -> String {
        guard let shared = sharedDataDirectory(), directoryExists(shared + "/cifar10-mini") else {
            throw XCTSkip("shared/data/cifar10-mini not found (set PBA_SHARED_DATA)")
        }
        return shared + "/cifar10-mini"
    }

    func testCIFAR10MiniCountsShapesAndLabels() throws {
        let (train, test) = try DataSource(parsing: "cifar10:" + cifar10Mini()).load()
        XCTAssertEqual(train.count, 5 * 1017)
        XCTAssertEqual(test.count, 1017)
        for set in [train, test] {
            XCTAssertEqual([set.height, set.width, set.channels, set.classCount], [32, 32, 3, 10])
            XCTAssertEqual(set.images.count, set.count * 3072)
            XCTAssertTrue(set.labels.allSatisfy { (0..<10).contains($0) })
            XCTAssertEqual(Set(set.labels).count, 10, "every class should occur in \(set.name)")
        }
        XCTAssertEqual(train.classNames.first, "airplane")
        XCTAssertEqual(train.classNames.last, "truck")
        let stats = train.channelStatistics()
        // Natural images: channel means well inside (0.3, 0.6), stds around 0.2–0.3 (CIFAR-10's
        // full-set values are 0.49/0.48/0.45 and 0.25/0.24/0.26).
        for k in 0..<3 {
            XCTAssertTrue((0.3...0.6).contains(stats.mean[k]), "mean \(stats.mean)")
            XCTAssertTrue((0.15...0.35).contains(stats.std[k]), "std \(stats.std)")
        }
    }

    func testCIFARRecordsAreConvertedFromCHWToHWC() throws {
        let directory = try cifar10Mini()
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/data_batch_2.bin")))
        let (train, _) = try CIFARLoader.load(directory: directory, variant: .cifar10)
        for record in [0, 7, 1016] {
            let base = record * 3073
            let index = 1017 + record  // data_batch_2 follows the 1017 records of data_batch_1
            XCTAssertEqual(Int(train.labels[index]), Int(raw[base]))
            let image = Array(train.image(index))
            for y in 0..<32 {
                for x in 0..<32 {
                    for c in 0..<3 {
                        let expected = raw[base + 1 + c * 1024 + y * 32 + x]
                        if image[(y * 32 + x) * 3 + c] != expected {
                            return XCTFail("record \(record) pixel (\(y),\(x)) channel \(c)")
                        }
                    }
                }
            }
        }
    }

    /// CIFAR records whose pixel value encodes (record, channel, position) so conversions can be checked.
    func syntheticCIFARRecord(label: UInt8, coarse: UInt8? = nil, seed: Int) -> [UInt8] {
        var record: [UInt8] = coarse.map { [$0, label] } ?? [label]
        for c in 0..<3 { for p in 0..<1024 { record.append(UInt8(truncatingIfNeeded: seed &* 31 &+ c &* 7 &+ p)) } }
        return record
    }

    func testCIFAR100UsesFineLabels() throws {
        let dir = try makeTemporaryDirectory(self)
        try writeFile(dir + "/train.bin", syntheticCIFARRecord(label: 99, coarse: 3, seed: 1) + syntheticCIFARRecord(label: 42, coarse: 19, seed: 2))
        try writeFile(dir + "/test.bin", syntheticCIFARRecord(label: 0, coarse: 0, seed: 3))
        let (train, test) = try DataSource(parsing: "cifar100:" + dir).load()
        XCTAssertEqual(train.labels, [99, 42])
        XCTAssertEqual(test.labels, [0])
        XCTAssertEqual(train.classCount, 100)
        // Pixel (y=1, x=2), channel 2 of record 2: 2*31 + 2*7 + 34.
        XCTAssertEqual(train.image(1)[train.image(1).startIndex + (1 * 32 + 2) * 3 + 2], UInt8(2 * 31 + 14 + 34))
    }

    func testCIFARErrorsNameTheFile() throws {
        let dir = try makeTemporaryDirectory(self)
        let good = syntheticCIFARRecord(label: 1, seed: 0)
        for i in 1...5 { try writeFile(dir + "/data_batch_\(i).bin", good + good) }
        try writeFile(dir + "/test_batch.bin", good)
        XCTAssertEqual(try CIFARLoader.load(directory: dir, variant: .cifar10).train.count, 10)

        // Truncated: one record minus a byte.
        try writeFile(dir + "/data_batch_3.bin", good + good.dropLast())
        assertDatasetError({ _ = try CIFARLoader.load(directory: dir, variant: .cifar10) }) {
            $0 == .wrongRecordSize(path: dir + "/data_batch_3.bin", fileBytes: 2 * 3073 - 1, recordBytes: 3073)
        }
        // Empty file.
        try writeFile(dir + "/data_batch_3.bin", [])
        assertDatasetError({ _ = try CIFARLoader.load(directory: dir, variant: .cifar10) }) {
            $0 == .wrongRecordSize(path: dir + "/data_batch_3.bin", fileBytes: 0, recordBytes: 3073)
        }
        // CIFAR-100 records (3074 bytes) in a CIFAR-10 directory: wrong record size.
        try writeFile(dir + "/data_batch_3.bin", syntheticCIFARRecord(label: 1, coarse: 1, seed: 0))
        assertDatasetError({ _ = try CIFARLoader.load(directory: dir, variant: .cifar10) }) {
            if case .wrongRecordSize(_, 3074, 3073) = $0 { return true } else { return false }
        }
        // Label out of range in the second record.
        try writeFile(dir + "/data_batch_3.bin", good + syntheticCIFARRecord(label: 10, seed: 0))
        assertDatasetError({ _ = try CIFARLoader.load(directory: dir, variant: .cifar10) }) {
            $0 == .labelOutOfRange(path: dir + "/data_batch_3.bin", index: 1, label: 10, classCount: 10)
        }
        // Missing batch file.
        try FileManager.default.removeItem(atPath: dir + "/data_batch_3.bin")
        let error = assertDatasetError({ _ = try CIFARLoader.load(directory: dir, variant: .cifar10) }) {
            $0 == .missingFile(path: dir + "/data_batch_3.bin")
        }
        XCTAssertTrue(error?.description.contains("data_batch_3.bin: file not found") ?? false)
        // Missing directory.
        assertDatasetError({ _ = try DataSource(parsing: "cifar10:" + dir + "/nope").load() }) {
            $0 == .missingFile(path: dir + "/nope")
        }
        // A class-names file with the wrong number of names.
        try writeFile(dir + "/data_batch_3.bin", good)
        try writeFile(dir + "/batches.meta.txt", Array("a\nb\n".utf8))
        assertDatasetError({ _ = try CIFARLoader.load(directory: dir, variant: .cifar10) }) {
            if case .shapeMismatch(let path, _) = $0 { return path == dir + "/batches.meta.txt" } else { return false }
        }
    }

    // MARK: IDX / Fashion-MNIST

    func testFashionMNISTFromTheDebianPackage() throws {
        let directory = DataSource.packagedFashionMNISTDirectory
        guard fileExists(directory + "/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("dataset-fashion-mnist is not installed")
        }
        let (train, test) = try DataSource(parsing: "fashion-mnist", fashionMNISTDirectory: directory).load()
        XCTAssertEqual(train.count, 60_000)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual([train.height, train.width, train.channels, train.classCount], [28, 28, 1, 10])
        XCTAssertEqual(test.images.count, 10_000 * 784)
        // Fashion-MNIST is balanced: 6 000 training and 1 000 test images per class.
        var perClass = [Int](repeating: 0, count: 10)
        for l in train.labels { perClass[Int(l)] += 1 }
        XCTAssertEqual(perClass, [Int](repeating: 6000, count: 10))
        // Its well-known normalisation constants.
        let stats = train.channelStatistics()
        XCTAssertEqual(stats.mean[0], 0.2860, accuracy: 1e-3)
        XCTAssertEqual(stats.std[0], 0.3530, accuracy: 1e-3)
    }

    func idxBytes(magic: UInt32, dimensions: [UInt32], values: [UInt8]) -> [UInt8] {
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 255), UInt8((v >> 8) & 255), UInt8(v & 255)] }
        return be(magic) + dimensions.flatMap(be) + values
    }

    func writeGzip(_ path: String, _ bytes: [UInt8]) throws {
        guard let gz = gzopen(path, "wb") else { throw XCTSkip("gzopen failed") }
        let n = bytes.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32($0.count)) }
        XCTAssertEqual(Int(n), bytes.count)
        XCTAssertEqual(gzclose(gz), Z_OK)
    }

    func testIDXPlainAndGzipAndErrors() throws {
        let dir = try makeTemporaryDirectory(self)
        let pixels = (0..<(3 * 4 * 5)).map { UInt8($0) }
        let images = idxBytes(magic: 0x803, dimensions: [3, 4, 5], values: pixels)
        let labels = idxBytes(magic: 0x801, dimensions: [3], values: [9, 0, 4])
        // Training files gzip-compressed, test files plain: both must load.
        try writeGzip(dir + "/train-images-idx3-ubyte.gz", images)
        try writeGzip(dir + "/train-labels-idx1-ubyte.gz", labels)
        try writeFile(dir + "/t10k-images-idx3-ubyte", images)
        try writeFile(dir + "/t10k-labels-idx1-ubyte", labels)
        let (train, test) = try DataSource(parsing: "fashion-mnist:" + dir).load()
        for set in [train, test] {
            XCTAssertEqual([set.count, set.height, set.width, set.channels], [3, 4, 5, 1])
            XCTAssertEqual(set.images, pixels)
            XCTAssertEqual(set.labels, [9, 0, 4])
        }

        let imagesPath = dir + "/t10k-images-idx3-ubyte"
        let labelsPath = dir + "/t10k-labels-idx1-ubyte"
        func load() throws { _ = try IDXLoader.load(images: imagesPath, labels: labelsPath, name: "t", classCount: 10) }

        try writeFile(imagesPath, Array(images.dropLast(7)))
        assertDatasetError(load) { $0 == .truncated(path: imagesPath, expectedBytes: 16 + 60, foundBytes: 16 + 53) }
        try writeFile(imagesPath, Array(images.prefix(10)))
        assertDatasetError(load) { $0 == .truncated(path: imagesPath, expectedBytes: 16, foundBytes: 10) }
        try writeFile(imagesPath, images + [1])
        assertDatasetError(load) { $0 == .trailingBytes(path: imagesPath, expectedBytes: 76, foundBytes: 77) }
        try writeFile(imagesPath, labels)  // a labels file where images are expected
        assertDatasetError(load) {
            if case .wrongMagic(imagesPath, _, "0x00000801") = $0 { return true } else { return false }
        }
        try writeFile(imagesPath, idxBytes(magic: 0x803, dimensions: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], values: []))
        assertDatasetError(load) { if case .malformedHeader(imagesPath, _) = $0 { return true } else { return false } }
        try writeFile(imagesPath, idxBytes(magic: 0x803, dimensions: [2, 4, 5], values: Array(pixels.prefix(40))))
        assertDatasetError(load) { if case .shapeMismatch(labelsPath, _) = $0 { return true } else { return false } }
        try writeFile(imagesPath, images)
        try writeFile(labelsPath, idxBytes(magic: 0x801, dimensions: [3], values: [9, 10, 4]))
        assertDatasetError(load) { $0 == .labelOutOfRange(path: labelsPath, index: 1, label: 10, classCount: 10) }

        // A gzip stream cut in half, and one whose deflate data is garbage.
        let gzPath = dir + "/train-images-idx3-ubyte.gz"
        let compressed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: gzPath)))
        try writeFile(gzPath, Array(compressed.prefix(compressed.count / 2)))
        assertDatasetError({ _ = try IDXLoader.loadFashionMNIST(directory: dir) }) {
            if case .corruptCompression(gzPath, _) = $0 { return true }
            if case .truncated(gzPath, _, _) = $0 { return true }
            return false
        }
        var garbled = compressed
        for i in 10..<min(garbled.count, 30) { garbled[i] ^= 0xA5 }
        try writeFile(gzPath, garbled)
        assertDatasetError({ _ = try IDXLoader.loadFashionMNIST(directory: dir) }) {
            if case .corruptCompression(gzPath, _) = $0 { return true } else { return false }
        }
        try FileManager.default.removeItem(atPath: gzPath)
        assertDatasetError({ _ = try IDXLoader.loadFashionMNIST(directory: dir) }) { $0 == .missingFile(path: gzPath) }
    }

    // MARK: NumPy

    /// A minimal `.npy` writer, as NumPy lays files out: magic, version, little-endian header
    /// length, the dict padded with spaces and a newline to a multiple of 64, then the data.
    func npyBytes(descr: String, shape: [Int], data: [UInt8], version: UInt8 = 1, fortran: Bool = false,
                  header: String? = nil) -> [UInt8] {
        let shapeText = "(" + shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? ",)" : ")")
        var dict = header ?? "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shapeText), }"
        let prefix = version == 1 ? 10 : 12
        while (prefix + dict.utf8.count + 1) % 64 != 0 { dict += " " }
        dict += "\n"
        let n = dict.utf8.count
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
        out += version == 1 ? [UInt8(n & 255), UInt8(n >> 8)] : [UInt8(n & 255), UInt8((n >> 8) & 255), UInt8((n >> 16) & 255), UInt8(n >> 24)]
        return out + Array(dict.utf8) + data
    }

    func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    }

    func testNPYRoundTrip() throws {
        let dir = try makeTemporaryDirectory(self)
        var rng = SeededGenerator(seed: 5)
        let trainPixels = (0..<(6 * 4 * 3 * 2)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let testPixels = (0..<(2 * 4 * 3 * 2)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        try writeFile(dir + "/train_images.npy", npyBytes(descr: "|u1", shape: [6, 4, 3, 2], data: trainPixels))
        try writeFile(dir + "/train_labels.npy", npyBytes(descr: "<i8", shape: [6], data: littleEndian([Int64(0), 1, 2, 6, 1, 0])))
        try writeFile(dir + "/test_images.npy", npyBytes(descr: "|u1", shape: [2, 4, 3, 2], data: testPixels, version: 2))
        try writeFile(dir + "/test_labels.npy", npyBytes(descr: ">u2", shape: [2, 1], data: [0, 3, 0, 5]))
        let (train, test) = try DataSource(parsing: "npy:" + dir).load()
        XCTAssertEqual([train.count, train.height, train.width, train.channels], [6, 4, 3, 2])
        XCTAssertEqual(train.images, trainPixels)
        XCTAssertEqual(train.labels, [0, 1, 2, 6, 1, 0])
        XCTAssertEqual(test.images, testPixels)
        XCTAssertEqual(test.labels, [3, 5])
        XCTAssertEqual(train.classCount, 7)
        XCTAssertEqual(test.classCount, 7)

        // N×H×W images mean one channel; every integer label dtype is accepted.
        try writeFile(dir + "/train_images.npy", npyBytes(descr: "|u1", shape: [6, 4, 6], data: trainPixels))
        try writeFile(dir + "/test_images.npy", npyBytes(descr: "|u1", shape: [2, 4, 6], data: testPixels))
        for (descr, bytes) in [("|u1", [UInt8]([1, 2, 3, 4, 5, 0])), ("<i4", littleEndian([Int32(1), 2, 3, 4, 5, 0])),
                               ("<u8", littleEndian([UInt64(1), 2, 3, 4, 5, 0])), ("<i2", littleEndian([Int16(1), 2, 3, 4, 5, 0])),
                               ("i1", [1, 2, 3, 4, 5, 0])] {
            try writeFile(dir + "/train_labels.npy", npyBytes(descr: descr, shape: [6], data: bytes))
            let loaded = try NPYLoader.load(directory: dir)
            XCTAssertEqual(loaded.train.labels, [1, 2, 3, 4, 5, 0], descr)
            XCTAssertEqual(loaded.train.channels, 1)
        }

        // A class-names file fixes the class count.
        try writeFile(dir + "/class_names.txt", Array((0..<12).map { "c\($0)\n" }.joined().utf8))
        XCTAssertEqual(try NPYLoader.load(directory: dir).train.classNames.count, 12)
        XCTAssertEqual(try NPYLoader.load(directory: dir).test.classCount, 12)
    }

    func testNPYErrors() throws {
        let dir = try makeTemporaryDirectory(self)
        let pixels = [UInt8](repeating: 7, count: 3 * 2 * 2)
        try writeFile(dir + "/train_images.npy", npyBytes(descr: "|u1", shape: [3, 2, 2], data: pixels))
        try writeFile(dir + "/train_labels.npy", npyBytes(descr: "|u1", shape: [3], data: [0, 1, 2]))
        try writeFile(dir + "/test_images.npy", npyBytes(descr: "|u1", shape: [3, 2, 2], data: pixels))
        try writeFile(dir + "/test_labels.npy", npyBytes(descr: "|u1", shape: [3], data: [0, 1, 2]))
        XCTAssertEqual(try NPYLoader.load(directory: dir).train.count, 3)

        let images = dir + "/test_images.npy", labels = dir + "/test_labels.npy"
        func load() throws { _ = try NPYLoader.load(directory: dir) }
        func isCase(_ e: DatasetError, _ path: String, _ kind: String) -> Bool {
            switch e {
            case .unsupportedFormat(let p, _): return p == path && kind == "unsupported"
            case .malformedHeader(let p, _): return p == path && kind == "malformed"
            case .shapeMismatch(let p, _): return p == path && kind == "shape"
            case .wrongMagic(let p, _, _): return p == path && kind == "magic"
            default: return false
            }
        }
        let cases: [(String, [UInt8], String)] = [
            (images, npyBytes(descr: "<f4", shape: [3, 2, 2], data: pixels), "unsupported"),
            (images, npyBytes(descr: "|u1", shape: [3, 2, 2], data: pixels, fortran: true), "unsupported"),
            (images, npyBytes(descr: "|u1", shape: [3, 2, 2], data: pixels, version: 3), "unsupported"),
            (images, npyBytes(descr: "|u1", shape: [12], data: pixels), "unsupported"),
            (images, npyBytes(descr: "|u1", shape: [3, 1, 2, 2], data: pixels), "shape"),  // train is 2×2×1
            (images, npyBytes(descr: "", shape: [], data: pixels, header: "{'descr': '|u1', 'shape': (3, 2, 2), }"), "malformed"),
            (images, npyBytes(descr: "", shape: [], data: pixels, header: "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 2, 2), 'x': 1}"), "malformed"),
            (images, npyBytes(descr: "", shape: [], data: pixels, header: "{'descr': '|u1' 'fortran_order': False}"), "malformed"),
            (images, npyBytes(descr: "", shape: [], data: pixels, header: "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (3,)}"), "unsupported"),
            (images, npyBytes(descr: "", shape: [], data: pixels, header: "garbage"), "malformed"),
            (images, Array("PK\u{3}\u{4} not numpy at all".utf8), "magic"),
            (labels, npyBytes(descr: "|u1", shape: [2], data: [0, 1]), "shape"),
            (labels, npyBytes(descr: "|u1", shape: [3, 2], data: [0, 1, 2, 0, 1, 2]), "unsupported"),
        ]
        for (i, (path, bytes, kind)) in cases.enumerated() {
            try writeFile(path, bytes)
            assertDatasetError(load) { isCase($0, path, kind) || { print("case \(i): \($0)"); return false }($0) }
            try writeFile(images, npyBytes(descr: "|u1", shape: [3, 2, 2], data: pixels))
            try writeFile(labels, npyBytes(descr: "|u1", shape: [3], data: [0, 1, 2]))
        }

        let good = npyBytes(descr: "|u1", shape: [3, 2, 2], data: pixels)
        try writeFile(images, Array(good.dropLast(5)))
        assertDatasetError(load) { $0 == .truncated(path: images, expectedBytes: good.count, foundBytes: good.count - 5) }
        try writeFile(images, Array(good.prefix(40)))
        assertDatasetError(load) { $0 == .truncated(path: images, expectedBytes: good.count - pixels.count, foundBytes: 40) }
        try writeFile(images, good + [0])
        assertDatasetError(load) { $0 == .trailingBytes(path: images, expectedBytes: good.count, foundBytes: good.count + 1) }
        try writeFile(images, good)
        try writeFile(labels, npyBytes(descr: "<i4", shape: [3], data: littleEndian([Int32(0), -1, 2])))
        assertDatasetError(load) { $0 == .labelOutOfRange(path: labels, index: 1, label: -1, classCount: NPYLoader.maxClassCount) }
        try FileManager.default.removeItem(atPath: labels)
        assertDatasetError(load) { $0 == .missingFile(path: labels) }
    }

    // MARK: Data source strings

    func testDataSourceParsing() throws {
        XCTAssertEqual(try DataSource(parsing: "fashion-mnist", fashionMNISTDirectory: "/fm"), .fashionMNIST(directory: "/fm"))
        XCTAssertEqual(try DataSource(parsing: "fashion-mnist:/x"), .fashionMNIST(directory: "/x"))
        XCTAssertEqual(try DataSource(parsing: "cifar10:/a/b"), .cifar10(directory: "/a/b"))
        XCTAssertEqual(try DataSource(parsing: "cifar100:rel/dir"), .cifar100(directory: "rel/dir"))
        XCTAssertEqual(try DataSource(parsing: "npy:/d:with:colons"), .npy(directory: "/d:with:colons"))
        for source in [DataSource.cifar10(directory: "/a"), .npy(directory: "/b"), .fashionMNIST(directory: "/c")] {
            XCTAssertEqual(try DataSource(parsing: source.description), source)
        }
        for bad in ["mnist", "cifar10", "cifar10:", "svhn:/x", "", "Fashion-MNIST"] {
            let error = assertDatasetError({ _ = try DataSource(parsing: bad) }) {
                if case .invalidSource(bad, _) = $0 { return true } else { return false }
            }
            XCTAssertTrue(error?.description.contains("'\(bad)'") ?? false)
        }
    }

    // MARK: Dataset value

    func tinyDataset(count: Int) throws -> Dataset {
        try Dataset(name: "tiny", height: 2, width: 1, channels: 3, classCount: 5,
                    images: (0..<(count * 6)).map { UInt8(truncatingIfNeeded: $0) },
                    labels: (0..<count).map { Int32($0 % 5) })
    }

    func testDatasetValidatesAndSubsets() throws {
        let d = try tinyDataset(count: 4)
        let s = d.subset([3, 1, 1])
        XCTAssertEqual(s.labels, [3, 1, 1])
        XCTAssertEqual(s.images, [18, 19, 20, 21, 22, 23, 6, 7, 8, 9, 10, 11, 6, 7, 8, 9, 10, 11])
        XCTAssertEqual(d.subset([]).count, 0)
        assertDatasetError({ _ = try Dataset(name: "x", height: 2, width: 2, channels: 1, classCount: 2, images: [1, 2, 3], labels: [0]) }) {
            if case .shapeMismatch("x", _) = $0 { return true } else { return false }
        }
        assertDatasetError({ _ = try Dataset(name: "x", height: 1, width: 1, channels: 1, classCount: 2, images: [1, 2], labels: [0, 2]) }) {
            $0 == .labelOutOfRange(path: "x", index: 1, label: 2, classCount: 2)
        }
    }

    func testChannelStatisticsAreExact() throws {
        // Channel 0 takes 0 and 255 (mean 0.5, std 0.5); channel 1 is constant 51 (0.2, 0).
        let d = try Dataset(name: "s", height: 1, width: 2, channels: 2, classCount: 1,
                            images: [0, 51, 255, 51, 255, 51, 0, 51], labels: [0, 0])
        let stats = d.channelStatistics()
        XCTAssertEqual(stats.mean, [0.5, 0.2])
        XCTAssertEqual(stats.std, [0.5, 0])
    }

    // MARK: Split

    func testSplitIsSeededDisjointAndFaithful() throws {
        let d = try tinyDataset(count: 100)
        let a = try DataSplit(d, trainSize: 40, validationSize: 25, seed: 7)
        let b = try DataSplit(d, trainSize: 40, validationSize: 25, seed: 7)
        let c = try DataSplit(d, trainSize: 40, validationSize: 25, seed: 8)
        XCTAssertEqual(a.trainIndices, b.trainIndices)
        XCTAssertEqual(a.validationIndices, b.validationIndices)
        XCTAssertEqual(a.train.images, b.train.images)
        XCTAssertNotEqual(a.trainIndices, c.trainIndices)
        XCTAssertEqual(a.train.count, 40)
        XCTAssertEqual(a.validation.count, 25)
        XCTAssertTrue(Set(a.trainIndices).isDisjoint(with: a.validationIndices))
        XCTAssertEqual(Set(a.trainIndices + a.validationIndices).count, 65)
        XCTAssertNotEqual(a.trainIndices, Array(a.trainIndices).sorted(), "a split should be shuffled")
        for (k, i) in a.validationIndices.enumerated() {
            XCTAssertEqual(a.validation.labels[k], d.labels[i])
            XCTAssertEqual(Array(a.validation.image(k)), Array(d.image(i)))
        }
        // The whole set may be used; one more image is an error naming the sizes.
        XCTAssertEqual(try DataSplit(d, trainSize: 60, validationSize: 40, seed: 1).validation.count, 40)
        let error = assertDatasetError({ _ = try DataSplit(d, trainSize: 60, validationSize: 41, seed: 1) }) {
            if case .invalidSplit = $0 { return true } else { return false }
        }
        XCTAssertTrue(error?.description.contains("exceed the 100 images") ?? false)
        assertDatasetError({ _ = try DataSplit(d, trainSize: 0, validationSize: 1, seed: 1) }) {
            if case .invalidSplit = $0 { return true } else { return false }
        }
        assertDatasetError({ _ = try DataSplit(d, trainSize: 5, validationSize: -1, seed: 1) }) {
            if case .invalidSplit = $0 { return true } else { return false }
        }
        assertDatasetError({ _ = try DataSplit(d, trainSize: Int.max, validationSize: 5, seed: 1) }) {
            if case .invalidSplit = $0 { return true } else { return false }
        }
    }

    func testSplitOfRealCIFARIsDeterministic() throws {
        let (train, _) = try CIFARLoader.load(directory: cifar10Mini(), variant: .cifar10)
        let a = try DataSplit(train, trainSize: 4000, validationSize: 1000, seed: 0)
        let b = try DataSplit(train, trainSize: 4000, validationSize: 1000, seed: 0)
        XCTAssertEqual(a.train.images, b.train.images)
        XCTAssertEqual(a.validation.labels, b.validation.labels)
        XCTAssertTrue(Set(a.trainIndices).isDisjoint(with: a.validationIndices))
    }
}
