/// Everything that can be wrong with a data set on disk or a data-set request.
///
/// Each case names the file (or the string) at fault and what was expected, so that a user who
/// points `--data` at the wrong directory, or whose download was cut short, can fix it without
/// reading our code. Loaders never trap on input: every inconsistency becomes one of these.
public enum DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file does not exist.
    case missingFile(path: String)
    /// The file exists but could not be opened or read (permissions, a directory, an I/O error).
    case unreadable(path: String, reason: String)
    /// The file ends before the data its header (or the format) promises.
    case truncated(path: String, expectedBytes: Int, foundBytes: Int)
    /// The file continues after the data its header promises.
    case trailingBytes(path: String, expectedBytes: Int, foundBytes: Int)
    /// The file does not start with the format's magic number.
    case wrongMagic(path: String, expected: String, found: String)
    /// A fixed-record file (CIFAR) whose size is not a positive multiple of the record size.
    case wrongRecordSize(path: String, fileBytes: Int, recordBytes: Int)
    /// A label outside `0..<classCount`.
    case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)
    /// Images and labels (or train and test) disagree on count or image shape.
    case shapeMismatch(path: String, detail: String)
    /// A gzip stream that zlib could not decode.
    case corruptCompression(path: String, reason: String)
    /// A header that does not follow its format (IDX dimensions, NumPy header dictionary, ...).
    case malformedHeader(path: String, reason: String)
    /// A well-formed file in a variant we do not read (NumPy dtype, Fortran order, rank ...).
    case unsupportedFormat(path: String, reason: String)
    /// A `--data` string that is not one of the accepted forms.
    case invalidSource(text: String, reason: String)
    /// A train/validation split that the data set cannot provide.
    case invalidSplit(reason: String)

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "\(path): file not found"
        case .unreadable(let path, let reason):
            return "\(path): cannot read: \(reason)"
        case .truncated(let path, let expected, let found):
            return "\(path): truncated: expected \(expected) bytes, found \(found)"
        case .trailingBytes(let path, let expected, let found):
            return "\(path): unexpected trailing data: expected \(expected) bytes, found \(found)"
        case .wrongMagic(let path, let expected, let found):
            return "\(path): wrong magic number: expected \(expected), found \(found)"
        case .wrongRecordSize(let path, let fileBytes, let recordBytes):
            return "\(path): file size \(fileBytes) bytes is not a positive multiple of the record size \(recordBytes)"
        case .labelOutOfRange(let path, let index, let label, let classCount):
            return "\(path): label \(label) of record \(index) is outside 0..<\(classCount)"
        case .shapeMismatch(let path, let detail):
            return "\(path): shape mismatch: \(detail)"
        case .corruptCompression(let path, let reason):
            return "\(path): corrupt gzip data: \(reason)"
        case .malformedHeader(let path, let reason):
            return "\(path): malformed header: \(reason)"
        case .unsupportedFormat(let path, let reason):
            return "\(path): unsupported format: \(reason)"
        case .invalidSource(let text, let reason):
            return "invalid data source '\(text)': \(reason)"
        case .invalidSplit(let reason):
            return "invalid train/validation split: \(reason)"
        }
    }
}
