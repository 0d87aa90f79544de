import Tensor
import XCTest

@testable import Engine

final class SHA256Tests: XCTestCase {
    func hex(_ text: String) -> String { SHA256.hex(SHA256.hash(Array(text.utf8))) }

    /// FIPS 180-4 / NIST CAVS example messages.
    func testNISTVectors() {
        XCTAssertEqual(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
                       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    func testOneMillionAs() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        XCTAssertEqual(SHA256.hex(SHA256.hash(message)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // The same message fed one byte at a time exercises the partial-block path throughout.
        var h = SHA256()
        let a: [UInt8] = [UInt8(ascii: "a")]
        for _ in 0..<1_000_000 { h.update(a) }
        XCTAssertEqual(h.finalizeHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Lengths around the padding boundaries (55/56 bytes: whether the length fits in the last
    /// block), digests from Python's hashlib over bytes `i % 251`.
    func testPaddingBoundaries() {
        let expected: [Int: String] = [
            1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            55: "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59",
            56: "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562",
            57: "2fe741af801cc238602ac0ec6a7b0c3a8a87c7fc7d7f02a3fe03d1c12eac4d8f",
            63: "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488",
            64: "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108",
            65: "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781",
            119: "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6",
            120: "f52b23db1fbb6ded89ef42a23ce0c8922c45f25c50b568a93bf1c075420bbb7c",
            127: "92ca0fa6651ee2f97b884b7246a562fa71250fedefe5ebf270d31c546bfea976",
            128: "471fb943aa23c511f6f72f8d1652d9c880cfa392ad80503120547703e56a2be5",
            1000: "4e4c294b331f7a2099a379bec34b9f9fc03dc46ab465d998f4d683da53487e6d",
        ]
        for (n, digest) in expected {
            XCTAssertEqual(SHA256.hex(SHA256.hash((0..<n).map { UInt8($0 % 251) })), digest, "length \(n)")
        }
    }

    func testIncrementalEqualsOneShotOnRandomSplits() {
        var rng = SeededGenerator(seed: 42)
        for trial in 0..<200 {
            let n = rng.nextInt(below: 700)
            let message = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let oneShot = SHA256.hash(message)
            var h = SHA256()
            var start = 0
            while start < n {
                let end = min(n, start + rng.nextInt(below: 150))
                message.withUnsafeBytes { h.update(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
                // finalize() must not disturb the running state.
                if trial % 3 == 0 { _ = h.finalize() }
                start = end
            }
            XCTAssertEqual(h.finalize(), oneShot, "trial \(trial), length \(n)")
        }
    }

    func testDifferentMessagesDiffer() {
        var message = [UInt8](repeating: 0, count: 300)
        let base = SHA256.hash(message)
        message[299] = 1
        XCTAssertNotEqual(SHA256.hash(message), base)
        XCTAssertEqual(SHA256.hex([0x00, 0x0f, 0xa0, 0xff]), "000fa0ff")
    }
}
