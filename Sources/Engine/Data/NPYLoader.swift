/// Reader for a user's own data as NumPy `.npy` files.
///
/// A directory holds `train_images.npy`, `train_labels.npy`, `test_images.npy`,
/// `test_labels.npy`, and optionally `class_names.txt` (one name per line, which also fixes the
/// class count; without it the class count is the largest label + 1 over train and test).
/// Images must be `uint8`, N×H×W×C or N×H×W (one channel), C order; labels any integer dtype,
/// shape (N,) or (N, 1). Anything else is rejected with a message saying what was found, because
/// silently reinterpreting, say, float images would train on garbage.
public enum NPYLoader {
    /// Upper bound on labels when no class-names file fixes the class count; a larger label
    /// almost certainly means the labels file holds something else (pixel values, ids).
    public static let maxClassCount = 65_536

    public static func load(directory: String) throws(DatasetError) -> (train: Dataset, test: Dataset) {
        guard directoryExists(directory) else { throw .missingFile(path: directory) }
        let namesPath = joinPath(directory, "class_names.txt")
        var classNames: [String] = []
        if fileExists(namesPath) {
            let bytes: [UInt8]
            do { bytes = try ReadableFile(path: namesPath).readAll() } catch { throw mapFileAccess(error) }
            classNames = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
            guard !classNames.isEmpty else {
                throw .shapeMismatch(path: namesPath, detail: "no class names")
            }
        }
        let limit = classNames.isEmpty ? maxClassCount : classNames.count
        let trainImages = try readArray(path: joinPath(directory, "train_images.npy"))
        let trainLabels = try readArray(path: joinPath(directory, "train_labels.npy"))
        let testImages = try readArray(path: joinPath(directory, "test_images.npy"))
        let testLabels = try readArray(path: joinPath(directory, "test_labels.npy"))
        let train = try imagesAndLabels(trainImages, trainLabels, limit: limit)
        let test = try imagesAndLabels(testImages, testLabels, limit: limit)
        guard train.shape == test.shape else {
            throw .shapeMismatch(path: testImages.path,
                                 detail: "test images are \(test.shape.map(String.init).joined(separator: "×")), train images \(train.shape.map(String.init).joined(separator: "×"))")
        }
        let classCount = classNames.isEmpty
            ? Int(max(train.labels.max() ?? 0, test.labels.max() ?? 0)) + 1
            : classNames.count
        let (h, w, c) = (train.shape[0], train.shape[1], train.shape[2])
        return (
            try Dataset(name: "npy/train", height: h, width: w, channels: c, classCount: classCount,
                        images: trainImages.data, labels: train.labels, classNames: classNames),
            try Dataset(name: "npy/test", height: h, width: w, channels: c, classCount: classCount,
                        images: testImages.data, labels: test.labels, classNames: classNames)
        )
    }

    /// Checks an image array and a label array against each other; returns H, W, C and the labels.
    static func imagesAndLabels(_ images: NPYArray, _ labels: NPYArray, limit: Int) throws(DatasetError) -> (shape: [Int], labels: [Int32]) {
        guard images.dtype == NPYArray.DType(kind: .unsigned, size: 1, bigEndian: false) ||
              images.dtype == NPYArray.DType(kind: .unsigned, size: 1, bigEndian: true) else {
            throw .unsupportedFormat(path: images.path, reason: "images must be uint8 ('|u1'), found '\(images.descr)'")
        }
        let hwc: [Int]
        switch images.shape.count {
        case 3: hwc = [images.shape[1], images.shape[2], 1]
        case 4: hwc = Array(images.shape[1...])
        default:
            throw .unsupportedFormat(path: images.path, reason: "images must be N×H×W×C or N×H×W, found shape \(images.shapeText)")
        }
        guard !hwc.contains(0) else {
            throw .shapeMismatch(path: images.path, detail: "image shape \(images.shapeText) has an empty dimension")
        }
        guard labels.shape.count == 1 || (labels.shape.count == 2 && labels.shape[1] == 1) else {
            throw .unsupportedFormat(path: labels.path, reason: "labels must have shape (N,) or (N, 1), found \(labels.shapeText)")
        }
        guard labels.shape[0] == images.shape[0] else {
            throw .shapeMismatch(path: labels.path, detail: "\(labels.shape[0]) labels for \(images.shape[0]) images in \(images.path)")
        }
        let values = try labels.integers()
        var result = [Int32](repeating: 0, count: values.count)
        for (i, v) in values.enumerated() {
            guard v >= 0, v < Int64(limit) else {
                throw .labelOutOfRange(path: labels.path, index: i, label: Int(v), classCount: limit)
            }
            result[i] = Int32(v)
        }
        return (hwc, result)
    }

    /// Reads and parses one `.npy` file.
    static func readArray(path: String) throws(DatasetError) -> NPYArray {
        let bytes: [UInt8]
        do { bytes = try ReadableFile(path: path).readAll() } catch { throw mapFileAccess(error) }
        return try NPYArray(bytes: bytes, path: path)
    }
}

/// One parsed `.npy` array: its header fields and raw data bytes.
struct NPYArray {
    struct DType: Equatable {
        enum Kind: Equatable { case signed, unsigned }
        var kind: Kind
        var size: Int
        var bigEndian: Bool
    }

    let path: String
    /// The descr string as written in the header (for messages).
    let descr: String
    let dtype: DType
    let shape: [Int]
    /// The element bytes, exactly `shape.product * dtype.size` of them.
    let data: [UInt8]

    var shapeText: String { "(" + shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? ",)" : ")") }

    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    init(bytes: [UInt8], path: String) throws(DatasetError) {
        self.path = path
        guard bytes.count >= 10 else {
            if bytes.elementsEqual(Self.magic.prefix(bytes.count)) {
                throw .truncated(path: path, expectedBytes: 10, foundBytes: bytes.count)
            }
            throw .wrongMagic(path: path, expected: "\\x93NUMPY", found: Self.printable(bytes.prefix(6)))
        }
        guard bytes[0..<6].elementsEqual(Self.magic) else {
            throw .wrongMagic(path: path, expected: "\\x93NUMPY", found: Self.printable(bytes.prefix(6)))
        }
        let major = bytes[6], minor = bytes[7]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2:
            guard bytes.count >= 12 else { throw .truncated(path: path, expectedBytes: 12, foundBytes: bytes.count) }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw .unsupportedFormat(path: path, reason: "NPY format version \(major).\(minor); only 1.0 and 2.0 are read")
        }
        let dataStart = headerStart + headerLength
        guard bytes.count >= dataStart else {
            throw .truncated(path: path, expectedBytes: dataStart, foundBytes: bytes.count)
        }
        guard let header = String(validating: bytes[headerStart..<dataStart], as: Unicode.ASCII.self) else {
            throw .malformedHeader(path: path, reason: "header is not ASCII")
        }
        var parser = PythonLiteralParser(text: Array(header.utf8), path: path)
        let dict = try parser.parseHeaderDictionary()

        guard case .string(let descr)? = dict["descr"] else {
            throw .malformedHeader(path: path, reason: "no string 'descr' in header \(header.trimmedForMessage)")
        }
        guard case .bool(let fortran)? = dict["fortran_order"] else {
            throw .malformedHeader(path: path, reason: "no boolean 'fortran_order' in header \(header.trimmedForMessage)")
        }
        guard case .tuple(let shape)? = dict["shape"] else {
            throw .malformedHeader(path: path, reason: "no tuple 'shape' in header \(header.trimmedForMessage)")
        }
        if let extra = dict.keys.first(where: { !["descr", "fortran_order", "shape"].contains($0) }) {
            throw .malformedHeader(path: path, reason: "unexpected key '\(extra)' in header")
        }
        guard !fortran else {
            throw .unsupportedFormat(path: path, reason: "fortran_order is True; save with np.ascontiguousarray")
        }
        guard let dtype = Self.parseDType(descr) else {
            throw .unsupportedFormat(path: path, reason: "dtype '\(descr)' is not an integer type (u1 u2 u4 u8 i1 i2 i4 i8)")
        }
        guard !shape.isEmpty else {
            throw .unsupportedFormat(path: path, reason: "a scalar (shape ()) is not a data array")
        }
        var elements = 1
        for n in shape {
            let (p, overflow) = elements.multipliedReportingOverflow(by: n)
            guard !overflow, p <= (1 << 40) else {
                throw .malformedHeader(path: path, reason: "shape \(shape) is implausibly large")
            }
            elements = p
        }
        let expected = dataStart + elements * dtype.size
        if bytes.count < expected { throw .truncated(path: path, expectedBytes: expected, foundBytes: bytes.count) }
        if bytes.count > expected { throw .trailingBytes(path: path, expectedBytes: expected, foundBytes: bytes.count) }
        self.descr = descr
        self.dtype = dtype
        self.shape = shape
        var data = bytes
        data.removeFirst(dataStart)
        self.data = data
    }

    /// `<i4`, `|u1`, `>u2`, `=i8`, `u1` ...; nil for anything but the eight integer types.
    static func parseDType(_ descr: String) -> DType? {
        var chars = Array(descr)
        var bigEndian = false
        if let first = chars.first, "<>|=".contains(first) {
            bigEndian = first == ">"
            chars.removeFirst()
        }
        guard chars.count == 2, let size = Int(String(chars[1])), [1, 2, 4, 8].contains(size) else { return nil }
        switch chars[0] {
        case "u": return DType(kind: .unsigned, size: size, bigEndian: bigEndian)
        case "i": return DType(kind: .signed, size: size, bigEndian: bigEndian)
        default: return nil
        }
    }

    /// The elements as Int64. A uint64 above Int64.max cannot be a label; it is reported as an
    /// error rather than wrapped to a negative number.
    func integers() throws(DatasetError) -> [Int64] {
        let n = data.count / dtype.size
        var out = [Int64](repeating: 0, count: n)
        for i in 0..<n {
            var raw: UInt64 = 0
            for b in 0..<dtype.size {
                let byte = UInt64(data[i * dtype.size + (dtype.bigEndian ? dtype.size - 1 - b : b)])
                raw |= byte << (8 * UInt64(b))
            }
            switch dtype.kind {
            case .unsigned:
                guard raw <= UInt64(Int64.max) else {
                    throw .labelOutOfRange(path: path, index: i, label: Int.max, classCount: NPYLoader.maxClassCount)
                }
                out[i] = Int64(raw)
            case .signed:
                let shift = UInt64(64 - 8 * dtype.size)
                out[i] = Int64(bitPattern: raw << shift) >> Int64(shift)
            }
        }
        return out
    }

    static func printable(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { $0 >= 0x20 && $0 < 0x7f ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
    }
}

extension String {
    /// The header text without trailing padding, for error messages.
    var trimmedForMessage: String {
        var s = Substring(self)
        while let l = s.last, l == " " || l == "\n" { s = s.dropLast() }
        return String(s)
    }
}

/// A value in an `.npy` header dictionary: the header is a Python literal, and these are the
/// only value kinds NumPy writes there for plain (non-structured) arrays.
enum PythonLiteral: Equatable {
    case string(String)
    case bool(Bool)
    case tuple([Int])
}

/// Recursive-descent parser for the `.npy` header: `{'descr': '<u1', 'fortran_order': False,
/// 'shape': (3, 28, 28), }` with any spacing, either quote style, optional trailing commas.
struct PythonLiteralParser {
    let text: [UInt8]
    let path: String
    var position = 0

    init(text: [UInt8], path: String) {
        self.text = text
        self.path = path
    }

    mutating func parseHeaderDictionary() throws(DatasetError) -> [String: PythonLiteral] {
        try expect(UInt8(ascii: "{"))
        var result: [String: PythonLiteral] = [:]
        while true {
            skipSpace()
            if peek() == UInt8(ascii: "}") { position += 1; break }
            guard case .string(let key) = try parseValue() else { throw failure("a dictionary key must be a string") }
            try expect(UInt8(ascii: ":"))
            let value = try parseValue()
            if result[key] != nil { throw failure("key '\(key)' appears twice") }
            result[key] = value
            skipSpace()
            if peek() == UInt8(ascii: ",") { position += 1; continue }
            try expect(UInt8(ascii: "}"))
            break
        }
        skipSpace()
        guard position == text.count else { throw failure("unexpected text after the dictionary") }
        return result
    }

    mutating func parseValue() throws(DatasetError) -> PythonLiteral {
        skipSpace()
        guard let c = peek() else { throw failure("unexpected end of header") }
        switch c {
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            position += 1
            let start = position
            while let d = peek(), d != c {
                if d == UInt8(ascii: "\\") { throw failure("escapes in strings are not supported") }
                position += 1
            }
            guard peek() == c else { throw failure("unterminated string") }
            let s = String(decoding: text[start..<position], as: UTF8.self)
            position += 1
            return .string(s)
        case UInt8(ascii: "("):
            position += 1
            var items: [Int] = []
            while true {
                skipSpace()
                if peek() == UInt8(ascii: ")") { position += 1; break }
                items.append(try parseInteger())
                skipSpace()
                if peek() == UInt8(ascii: ",") { position += 1; continue }
                try expect(UInt8(ascii: ")"))
                break
            }
            return .tuple(items)
        case UInt8(ascii: "["):
            throw DatasetError.unsupportedFormat(path: path, reason: "structured dtypes (a descr list) are not supported")
        default:
            if matchWord("True") { return .bool(true) }
            if matchWord("False") { return .bool(false) }
            throw failure("unexpected character '\(String(UnicodeScalar(c)))' at offset \(position)")
        }
    }

    mutating func parseInteger() throws(DatasetError) -> Int {
        var value = 0
        var digits = 0
        while let d = peek(), d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(d - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw failure("dimension too large") }
            value = a
            digits += 1
            position += 1
        }
        guard digits > 0 else { throw failure("expected a non-negative integer at offset \(position)") }
        if peek() == UInt8(ascii: "L") { position += 1 }  // Python 2 long suffix, written by old NumPy.
        return value
    }

    mutating func matchWord(_ word: String) -> Bool {
        let w = Array(word.utf8)
        guard position + w.count <= text.count, text[position..<(position + w.count)].elementsEqual(w) else { return false }
        position += w.count
        return true
    }

    mutating func expect(_ c: UInt8) throws(DatasetError) {
        skipSpace()
        guard peek() == c else { throw failure("expected '\(String(UnicodeScalar(c)))' at offset \(position)") }
        position += 1
    }

    mutating func skipSpace() {
        while let c = peek(), c == UInt8(ascii: " ") || c == UInt8(ascii: "\n") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") {
            position += 1
        }
    }

    func peek() -> UInt8? { position < text.count ? text[position] : nil }

    func failure(_ reason: String) -> DatasetError {
        .malformedHeader(path: path, reason: reason + " in '" + String(decoding: text, as: UTF8.self).trimmedForMessage + "'")
    }
}
