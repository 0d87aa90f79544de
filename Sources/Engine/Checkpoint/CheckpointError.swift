/// Everything that can be wrong when saving or loading a checkpoint.
///
/// A checkpoint that cannot be trusted must stop a run with a message that says which file and
/// what is wrong with it — never a trap, and never weights silently loaded from damaged bytes.
/// `path` is the file, or "<memory>" for bytes decoded in memory.
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    case missingFile(path: String)
    case unreadable(path: String, reason: String)
    case unwritable(path: String, reason: String)
    /// The file ends before the length its header declares (or before a header could be read).
    case truncated(path: String, expectedBytes: Int, foundBytes: Int)
    /// The file is longer than its header declares.
    case trailingBytes(path: String, expectedBytes: Int, foundBytes: Int)
    /// The file does not start with `PBACKPT\0`.
    case notACheckpoint(path: String)
    case unsupportedVersion(path: String, found: UInt32, supported: UInt32)
    /// A SHA-256 did not match: `region` is "header" (header and table of contents) or "file".
    case checksumMismatch(path: String, region: String, expected: String, found: String)
    /// The header or table of contents is internally inconsistent (lengths, offsets, names).
    case malformedHeader(path: String, reason: String)
    case malformedMetadata(path: String, reason: String)
    /// A `CheckpointFile` value that could not be stored faithfully (duplicate or empty section
    /// names, metadata that is not UTF-8).
    case invalidContents(reason: String)
    case missingSection(name: String, available: [String])

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "\(path): checkpoint not found"
        case .unreadable(let path, let reason):
            return "\(path): cannot read checkpoint: \(reason)"
        case .unwritable(let path, let reason):
            return "\(path): cannot write checkpoint: \(reason)"
        case .truncated(let path, let expected, let found):
            return "\(path): checkpoint truncated: expected \(expected) bytes, found \(found)"
        case .trailingBytes(let path, let expected, let found):
            return "\(path): checkpoint has trailing data: expected \(expected) bytes, found \(found)"
        case .notACheckpoint(let path):
            return "\(path): not a pba checkpoint (wrong magic bytes)"
        case .unsupportedVersion(let path, let found, let supported):
            return "\(path): unsupported checkpoint format version \(found) (this build reads version \(supported))"
        case .checksumMismatch(let path, let region, let expected, let found):
            return "\(path): checkpoint corrupt: \(region) SHA-256 mismatch (stored \(expected), computed \(found))"
        case .malformedHeader(let path, let reason):
            return "\(path): malformed checkpoint header: \(reason)"
        case .malformedMetadata(let path, let reason):
            return "\(path): malformed checkpoint metadata: \(reason)"
        case .invalidContents(let reason):
            return "invalid checkpoint contents: \(reason)"
        case .missingSection(let name, let available):
            return "checkpoint has no section '\(name)' (it has: \(available.joined(separator: ", ")))"
        }
    }
}
