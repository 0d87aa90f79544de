import Foundation
import Tensor
import XCTest

@testable import Engine

final class CheckpointFileTests: XCTestCase {
    func sample(seed: UInt64 = 1, floats: Int = 1000) throws -> CheckpointFile {
        var rng = SeededGenerator(seed: seed)
        let weights = (0..<floats).map { _ in Float(rng.nextGaussian()) }
        let special: [Float] = [.nan, -.nan, .infinity, -.infinity, -0.0, 0, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
                                Float(bitPattern: 0x7FC0_1234)]
        return try CheckpointFile(
            metadata: #"{"architecture":"wrn-16-1","epoch":3,"rng":[1,2,3,4],"note":"ä"}"#,
            sections: [
                .init(name: "parameters", values: weights),
                .init(name: "bn.running_mean", values: special),
                .init(name: "empty", values: []),
                .init(name: "momentum/ünïcode", values: [1, 2, 3]),
            ])
    }

    func assertCheckpointError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line,
                               _ matches: (CheckpointError) -> Bool) {
        do {
            try body()
            XCTFail("expected a CheckpointError, nothing was thrown", file: file, line: line)
        } catch let error as CheckpointError {
            XCTAssertTrue(matches(error), "unexpected error: \(error)", file: file, line: line)
        } catch {
            XCTFail("expected a CheckpointError, got \(error)", file: file, line: line)
        }
    }

    // MARK: Round trips

    func testInMemoryRoundTripIsBitExact() throws {
        let original = try sample()
        let bytes = original.encoded()
        XCTAssertEqual(bytes.count, original.encodedByteCount)
        let decoded = try CheckpointFile(decoding: bytes)
        XCTAssertEqual(decoded, original)
        XCTAssertEqual(decoded.metadata, original.metadata)
        let nan = try decoded.section(named: "bn.running_mean")
        XCTAssertEqual(nan.map(\.bitPattern), try original.section(named: "bn.running_mean").map(\.bitPattern))
        XCTAssertEqual(try decoded.section(named: "empty"), [])
        // Bit-pattern equality: -0 and +0 differ, a different NaN payload differs.
        XCTAssertNotEqual(CheckpointFile.Section(name: "a", values: [0]), CheckpointFile.Section(name: "a", values: [-0.0]))
        XCTAssertEqual(CheckpointFile.Section(name: "a", values: [.nan]), CheckpointFile.Section(name: "a", values: [.nan]))
        // Encoding is deterministic.
        XCTAssertEqual(try sample().encoded(), bytes)
        // No sections, empty metadata.
        let minimal = try CheckpointFile(metadata: [], sections: [])
        XCTAssertEqual(try CheckpointFile(decoding: minimal.encoded()), minimal)
    }

    /// The layout documented on `CheckpointFile`, checked byte by byte so a reader in another
    /// language can rely on it.
    func testLayoutMatchesTheDocumentation() throws {
        let file = try CheckpointFile(metadata: "{}", sections: [.init(name: "w", values: [1.5, -2])])
        let b = file.encoded()
        XCTAssertEqual(Array(b[0..<8]), Array("PBACKPT\0".utf8))
        XCTAssertEqual(b.loadLittleEndian(UInt32.self, at: 8), 1)
        let h = Int(b.loadLittleEndian(UInt32.self, at: 12))
        XCTAssertEqual(h, 32 + 4 + 1 + 16)
        XCTAssertEqual(b.loadLittleEndian(UInt64.self, at: 16), 2)
        XCTAssertEqual(b.loadLittleEndian(UInt32.self, at: 24), 1)
        XCTAssertEqual(b.loadLittleEndian(UInt32.self, at: 32), 1)
        XCTAssertEqual(b[36], UInt8(ascii: "w"))
        XCTAssertEqual(b.loadLittleEndian(UInt64.self, at: 37), 2)
        let offset = Int(b.loadLittleEndian(UInt64.self, at: 45))
        XCTAssertEqual(offset % 4, 0)
        XCTAssertEqual(Array(b[h..<(h + 32)]), SHA256.hash(Array(b[0..<h])))
        XCTAssertEqual(Array(b[(h + 32)..<(h + 34)]), Array("{}".utf8))
        XCTAssertEqual(b.loadLittleEndian(UInt32.self, at: offset), Float(1.5).bitPattern)
        XCTAssertEqual(b.loadLittleEndian(UInt32.self, at: offset + 4), Float(-2).bitPattern)
        XCTAssertEqual(b.count, offset + 8 + 32)
        XCTAssertEqual(Array(b.suffix(32)), SHA256.hash(Array(b.dropLast(32))))
    }

    func testFileRoundTripIsAtomicAndLeavesNoTemporaries() throws {
        let dir = try makeTemporaryDirectory(self)
        let path = dir + "/state.pba-ckpt"
        let first = try sample(seed: 1)
        try first.write(to: path)
        XCTAssertEqual(try CheckpointFile.read(from: path), first)
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), first.encoded())
        // Overwriting replaces the file whole.
        let second = try sample(seed: 2, floats: 10)
        try second.write(to: path)
        XCTAssertEqual(try CheckpointFile.read(from: path), second)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["state.pba-ckpt"])
        // A relative path (no directory part) writes its temporary file in the current directory.
        XCTAssertEqual(CheckpointFile.directory(of: "state.pba-ckpt"), ".")
        XCTAssertEqual(CheckpointFile.directory(of: "/state"), "/")
        XCTAssertEqual(CheckpointFile.directory(of: "runs/a/state"), "runs/a")
        XCTAssertEqual(CheckpointFile.baseName(of: "runs/a/state"), "state")
    }

    /// A WRN-40-2-sized state (≈ 2.2 M parameters, plus momentum: ~18 MB).
    func testLargeStateRoundTripsThroughAFile() throws {
        let dir = try makeTemporaryDirectory(self)
        var rng = SeededGenerator(seed: 9)
        let parameters = (0..<2_250_000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        let momentum = (0..<2_250_000).map { Float($0) * 1e-3 }
        let state = try CheckpointFile(metadata: "{}", sections: [.init(name: "parameters", values: parameters),
                                                                   .init(name: "momentum", values: momentum)])
        try state.write(to: dir + "/big")
        let start = Date()
        let loaded = try CheckpointFile.read(from: dir + "/big")
        print("read an \(state.encodedByteCount / 1_000_000) MB checkpoint in \(Date().timeIntervalSince(start)) s")
        XCTAssertEqual(loaded, state)
    }

    func testSectionLookup() throws {
        let file = try sample()
        XCTAssertEqual(try file.section(named: "momentum/ünïcode"), [1, 2, 3])
        assertCheckpointError({ _ = try file.section(named: "velocity") }) {
            guard case .missingSection("velocity", let available) = $0 else { return false }
            return available == ["parameters", "bn.running_mean", "empty", "momentum/ünïcode"]
                && $0.description.contains("'velocity'")
        }
    }

    func testInvalidContentsAreRejectedWhenBuilt() {
        assertCheckpointError({ _ = try CheckpointFile(metadata: "", sections: [.init(name: "a", values: []), .init(name: "a", values: [1])]) }) {
            if case .invalidContents = $0 { return true } else { return false }
        }
        assertCheckpointError({ _ = try CheckpointFile(metadata: "", sections: [.init(name: "", values: [])]) }) {
            if case .invalidContents = $0 { return true } else { return false }
        }
        assertCheckpointError({ _ = try CheckpointFile(metadata: [0xff, 0xfe], sections: []) }) {
            if case .invalidContents = $0 { return true } else { return false }
        }
        assertCheckpointError({ _ = try CheckpointFile(metadata: "", sections: [.init(name: String(repeating: "x", count: 1025), values: [])]) }) {
            if case .invalidContents = $0 { return true } else { return false }
        }
    }

    // MARK: Damage

    func testTruncationAtEverySixteenthIsReportedWithBothSizes() throws {
        let dir = try makeTemporaryDirectory(self)
        let bytes = try sample(floats: 4000).encoded()
        let headerEnd = Int(bytes.loadLittleEndian(UInt32.self, at: 12)) + 64
        for k in 0..<16 {
            let cut = bytes.count * k / 16
            let path = dir + "/cut\(k)"
            try writeFile(path, Array(bytes.prefix(cut)))
            assertCheckpointError({ _ = try CheckpointFile.read(from: path) }) {
                guard case .truncated(path, let expected, cut) = $0 else { return false }
                // Once the header is intact the full expected size is known.
                return cut >= headerEnd ? expected == bytes.count : expected > cut
            }
            assertCheckpointError({ _ = try CheckpointFile(decoding: Array(bytes.prefix(cut))) }) {
                if case .truncated = $0 { return true } else { return false }
            }
        }
        assertCheckpointError({ _ = try CheckpointFile(decoding: Array(bytes.dropLast())) }) {
            $0 == .truncated(path: "<memory>", expectedBytes: bytes.count, foundBytes: bytes.count - 1)
        }
        assertCheckpointError({ _ = try CheckpointFile(decoding: bytes + [0]) }) {
            $0 == .trailingBytes(path: "<memory>", expectedBytes: bytes.count, foundBytes: bytes.count + 1)
        }
    }

    func testFlippedBytesAreChecksumMismatches() throws {
        let bytes = try sample().encoded()
        let headerEnd = Int(bytes.loadLittleEndian(UInt32.self, at: 12))
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<300 {
            var damaged = bytes
            // Past magic, version and header length: those have their own errors, tested below.
            let i = 16 + rng.nextInt(below: bytes.count - 16)
            damaged[i] ^= UInt8(1 + rng.nextInt(below: 255))
            assertCheckpointError({ _ = try CheckpointFile(decoding: damaged) }) {
                guard case .checksumMismatch(_, let region, _, _) = $0 else { return false }
                return region == (i < headerEnd + 32 ? "header" : "file")
            }
        }
    }

    func testWrongMagicVersionAndHeaderLength() throws {
        let bytes = try sample().encoded()
        var magic = bytes
        magic[6] = UInt8(ascii: "X")
        assertCheckpointError({ _ = try CheckpointFile(decoding: magic) }) { $0 == .notACheckpoint(path: "<memory>") }
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + [UInt8](repeating: 0, count: 100)
        assertCheckpointError({ _ = try CheckpointFile(decoding: png) }) { $0 == .notACheckpoint(path: "<memory>") }
        assertCheckpointError({ _ = try CheckpointFile(decoding: Array("hello".utf8)) }) { $0 == .notACheckpoint(path: "<memory>") }
        assertCheckpointError({ _ = try CheckpointFile(decoding: Array("PBAC".utf8)) }) {
            if case .truncated = $0 { return true } else { return false }
        }
        for version: UInt32 in [0, 2, 0x0100_0000] {
            var v = bytes
            withUnsafeBytes(of: version.littleEndian) { for i in 0..<4 { v[8 + i] = $0[i] } }
            assertCheckpointError({ _ = try CheckpointFile(decoding: v) }) {
                $0 == .unsupportedVersion(path: "<memory>", found: version, supported: 1)
                    && $0.description.contains("version \(version)")
            }
        }
        var h = bytes
        h[12] = 3  // header length 3 (< 32)
        h[13] = 0
        assertCheckpointError({ _ = try CheckpointFile(decoding: h) }) {
            if case .malformedHeader = $0 { return true } else { return false }
        }
        h = bytes
        h[15] = 0x7f  // header length ≈ 2 GB
        assertCheckpointError({ _ = try CheckpointFile(decoding: h) }) {
            if case .malformedHeader = $0 { return true } else { return false }
        }
    }

    func testMissingUnreadableAndUnwritablePaths() throws {
        let dir = try makeTemporaryDirectory(self)
        assertCheckpointError({ _ = try CheckpointFile.read(from: dir + "/none") }) { $0 == .missingFile(path: dir + "/none") }
        assertCheckpointError({ _ = try CheckpointFile.read(from: dir) }) {
            if case .unreadable(dir, _) = $0 { return true } else { return false }
        }
        assertCheckpointError({ try self.sample().write(to: dir + "/no/such/dir/x") }) {
            if case .unwritable = $0 { return true } else { return false }
        }
    }

    // MARK: Crafted files (valid header digest, inconsistent contents)

    /// Builds a file with the given header fields and correct digests, so that only the
    /// inconsistency under test can be reported.
    func crafted(metadata: [UInt8] = Array("{}".utf8), entries: [(name: [UInt8], count: UInt64, offset: UInt64?)],
                 bodyFloats: Int, reserved: UInt32 = 0, sectionCount: UInt32? = nil, padding: UInt8 = 0) -> [UInt8] {
        var header = CheckpointFile.magic
        let h = 32 + entries.reduce(0) { $0 + 20 + $1.name.count }
        header.appendLittleEndian(UInt32(1))
        header.appendLittleEndian(UInt32(h))
        header.appendLittleEndian(UInt64(metadata.count))
        header.appendLittleEndian(sectionCount ?? UInt32(entries.count))
        header.appendLittleEndian(reserved)
        let metadataEnd = h + 32 + metadata.count
        let dataStart = (metadataEnd + 3) / 4 * 4
        var offset = UInt64(dataStart)
        for e in entries {
            header.appendLittleEndian(UInt32(e.name.count))
            header += e.name
            header.appendLittleEndian(e.count)
            header.appendLittleEndian(e.offset ?? offset)
            offset &+= e.count &* 4
        }
        var file = header + SHA256.hash(header) + metadata + [UInt8](repeating: padding, count: dataStart - metadataEnd)
        file += [UInt8](repeating: 0x3f, count: 4 * bodyFloats)
        return file + SHA256.hash(file)
    }

    func testCraftedInconsistenciesAreNamed() {
        let good = crafted(entries: [(Array("a".utf8), 2, nil), (Array("b".utf8), 1, nil)], bodyFloats: 3)
        XCTAssertEqual(try CheckpointFile(decoding: good).sections.map(\.name), ["a", "b"])
        func malformed(_ bytes: [UInt8], _ fragment: String, line: UInt = #line) {
            assertCheckpointError({ _ = try CheckpointFile(decoding: bytes) }, line: line) {
                if case .malformedHeader(_, let reason) = $0 { return reason.contains(fragment) } else { return false }
            }
        }
        malformed(crafted(entries: [(Array("a".utf8), 2, 999), (Array("b".utf8), 1, nil)], bodyFloats: 3), "offset")
        malformed(crafted(entries: [(Array("a".utf8), 2, nil), (Array("a".utf8), 1, nil)], bodyFloats: 3), "twice")
        malformed(crafted(entries: [(Array("".utf8), 2, nil)], bodyFloats: 2), "name of 0 bytes")
        malformed(crafted(entries: [([0xff, 0xfe], 2, nil)], bodyFloats: 2), "not UTF-8")
        malformed(crafted(entries: [(Array("a".utf8), 2, nil)], bodyFloats: 2, reserved: 7), "reserved")
        malformed(crafted(entries: [(Array("a".utf8), 2, nil)], bodyFloats: 2, sectionCount: 5), "cannot fit")
        malformed(crafted(entries: [(Array("abc".utf8), 2, nil)], bodyFloats: 2, sectionCount: 0), "table of contents is 32 bytes")
        malformed(crafted(metadata: [1, 2], entries: [(Array("a".utf8), 2, nil)], bodyFloats: 2, padding: 9), "padding")
        assertCheckpointError({ _ = try CheckpointFile(decoding: self.crafted(metadata: [0xc3], entries: [], bodyFloats: 0)) }) {
            if case .malformedMetadata = $0 { return true } else { return false }
        }
        // Counts that claim more data than the file holds: truncation with the claimed size.
        let huge = crafted(entries: [(Array("a".utf8), UInt64.max / 2, nil)], bodyFloats: 2)
        assertCheckpointError({ _ = try CheckpointFile(decoding: huge) }) {
            if case .truncated(_, let expected, huge.count) = $0 { return expected > huge.count } else { return false }
        }
        let more = crafted(entries: [(Array("a".utf8), 3, nil)], bodyFloats: 2)
        assertCheckpointError({ _ = try CheckpointFile(decoding: more) }) {
            if case .truncated(_, let expected, more.count) = $0 { return expected == more.count + 4 } else { return false }
        }
        let fewer = crafted(entries: [(Array("a".utf8), 1, nil)], bodyFloats: 2)
        assertCheckpointError({ _ = try CheckpointFile(decoding: fewer) }) {
            if case .trailingBytes(_, let expected, fewer.count) = $0 { return expected == fewer.count - 4 } else { return false }
        }
    }

    // MARK: Fuzz

    /// Arbitrary input must throw a `CheckpointError` or decode to exactly the original: never a
    /// trap, never a different value.
    func testFuzzRandomBytesAndMutationsNeverTrap() throws {
        let original = try sample(floats: 50)
        let valid = original.encoded()
        var rng = SeededGenerator(seed: 2024)
        func check(_ bytes: [UInt8]) {
            do {
                let decoded = try CheckpointFile(decoding: bytes)
                XCTAssertEqual(decoded, original, "a mutated file decoded to a different value")
            } catch {
                // Typed throws: the compiler guarantees any error here is a CheckpointError.
            }
        }
        func randomBytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }

        for trial in 0..<2000 {
            var bytes = randomBytes(rng.nextInt(below: 400))
            switch trial % 4 {
            case 1:  // a real magic and version, random rest
                bytes = CheckpointFile.magic + [1, 0, 0, 0] + bytes
            case 2:  // plus a plausible header length
                bytes = CheckpointFile.magic + [1, 0, 0, 0] + [UInt8(32 + rng.nextInt(below: 100)), 0, 0, 0] + bytes
            case 3:  // a random header with a *valid* header digest, so the TOC parser sees garbage
                let h = 32 + rng.nextInt(below: 120)
                var header = CheckpointFile.magic + [1, 0, 0, 0]
                header.appendLittleEndian(UInt32(h))
                header.appendLittleEndian(UInt64(rng.nextInt(below: 64)))
                header.appendLittleEndian(UInt32(rng.nextInt(below: 6)))
                header.appendLittleEndian(UInt32(0))
                var toc = randomBytes(h - 32)
                // Small name lengths and counts, so parsing gets past the first entry often.
                for i in stride(from: 0, to: toc.count, by: 7) { toc[i] = UInt8(rng.nextInt(below: 4)) }
                header += toc
                bytes = header + SHA256.hash(header) + bytes
            default:
                break
            }
            check(bytes)
        }

        for _ in 0..<2000 {
            var bytes = valid
            for _ in 0..<(1 + rng.nextInt(below: 3)) {
                switch rng.nextInt(below: 6) {
                case 0: // flip
                    let i = rng.nextInt(below: bytes.count)
                    bytes[i] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
                case 1: // truncate
                    bytes = Array(bytes.prefix(rng.nextInt(below: bytes.count + 1)))
                case 2: // extend
                    bytes += randomBytes(1 + rng.nextInt(below: 20))
                case 3: // delete a range
                    guard !bytes.isEmpty else { break }
                    let i = rng.nextInt(below: bytes.count)
                    bytes.removeSubrange(i..<min(bytes.count, i + 1 + rng.nextInt(below: 16)))
                case 4: // insert
                    bytes.insert(contentsOf: randomBytes(1 + rng.nextInt(below: 16)), at: rng.nextInt(below: bytes.count + 1))
                default: // no-op: the original must still decode
                    break
                }
                if bytes.isEmpty { break }
            }
            check(bytes)
        }
    }
}
