import Foundation
import Engine

/// Checkpoint bytes as content-addressed files (`<sha256>.ckpt`) in a directory next to the
/// database. Files rather than BLOBs: an 18 MB state written into SQLite's WAL is written a second
/// time when the WAL is checkpointed into the database, while a file is written once (measured by
/// `pba bench store`). A file is written and fsynced before the transaction that references it;
/// files no row references (after a crash between the two, or after garbage collection) are swept.
public struct CheckpointFiles: Sendable {
    public let directory: String

    public init(directory: String) throws(StoreError) {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .io(path: directory, reason: "cannot create checkpoint directory: \(error.localizedDescription)")
        }
    }

    /// A directory that may or may not exist, never created (a read-only store).
    init(existingDirectory directory: String) {
        self.directory = directory
    }

    public func path(for sha256: String) -> String { directory + "/" + sha256 + ".ckpt" }

    /// Writes bytes (if not already present) durably and returns their SHA-256 (hex). A caller
    /// that already verified the bytes against a digest (the wire codec does) passes it, so the
    /// 18 MB are not hashed twice.
    @discardableResult
    public func write(_ bytes: [UInt8], verifiedSHA256: String? = nil) throws(StoreError) -> String {
        let sha = verifiedSHA256 ?? SHA256.hex(SHA256.hash(bytes))
        let final = path(for: sha)
        if FileManager.default.fileExists(atPath: final) { return sha }
        let temporary = final + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw .io(path: temporary, reason: String(cString: strerror(errno))) }
        var written = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                if n <= 0 { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        let reason = String(cString: strerror(errno))
        close(fd)
        guard ok else { unlink(temporary); throw .io(path: temporary, reason: reason) }
        guard rename(temporary, final) == 0 else {
            let r = String(cString: strerror(errno))
            unlink(temporary)
            throw .io(path: final, reason: r)
        }
        let dfd = open(directory, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
        return sha
    }

    /// Reads a checkpoint and verifies its SHA-256; a mismatch is an error, never returned bytes.
    public func read(sha256: String) throws(StoreError) -> [UInt8] {
        let p = path(for: sha256)
        guard let data = FileManager.default.contents(atPath: p) else { throw .missingCheckpoint(path: p) }
        let bytes = [UInt8](data)
        let actual = SHA256.hex(SHA256.hash(bytes))
        guard actual == sha256 else { throw .checksumMismatch(path: p, expected: sha256, found: actual) }
        return bytes
    }

    /// Deletes every file whose hash is not in `keep`. Returns how many were removed.
    @discardableResult
    public func sweep(keeping keep: Set<String>) -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return 0 }
        var removed = 0
        for name in names where name.hasSuffix(".ckpt") || name.contains(".ckpt.tmp-") {
            let sha = String(name.prefix(while: { $0 != "." }))
            if name.contains(".tmp-") || !keep.contains(sha) {
                if unlink(directory + "/" + name) == 0 { removed += 1 }
            }
        }
        return removed
    }

    /// Bytes used by checkpoint files.
    public func diskUsage() -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return 0 }
        return names.reduce(0) { total, name in
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)
            return total + ((attributes?[.size] as? Int) ?? 0)
        }
    }
}

public enum StoreError: Error, CustomStringConvertible, Equatable {
    case io(path: String, reason: String)
    case missingCheckpoint(path: String)
    case checksumMismatch(path: String, expected: String, found: String)
    case unknownRun(String)
    case database(String)
    case corruptRow(table: String, detail: String)

    public var description: String {
        switch self {
        case let .io(p, r): return "\(p): \(r)"
        case let .missingCheckpoint(p): return "checkpoint file \(p) is missing"
        case let .checksumMismatch(p, e, f): return "checkpoint file \(p) is corrupt: SHA-256 \(f), expected \(e); it will not be used"
        case let .unknownRun(id): return "no run '\(id)' in the database"
        case let .database(m): return "database error: \(m)"
        case let .corruptRow(t, d): return "table \(t): \(d)"
        }
    }
}
