/// Reader for the IDX format of MNIST and Fashion-MNIST, gzip-compressed or plain.
///
/// An IDX file is a 4-byte magic (two zero bytes, a type code, the number of dimensions), one
/// big-endian UInt32 per dimension, then the values. We read only unsigned bytes (type 0x08):
/// rank-3 image files (N×H×W, one channel) and rank-1 label files.
public enum IDXLoader {
    /// Fashion-MNIST's ten classes, in label order (from the data set's README).
    public static let fashionMNISTClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// Decompressed files larger than this are rejected rather than read into memory.
    static let sizeLimit = 1 << 32

    /// Loads `train-*` and `t10k-*` from a Fashion-MNIST (or MNIST) directory; each file may be
    /// `name.gz` or plain `name`.
    public static func loadFashionMNIST(directory: String) throws(DatasetError) -> (train: Dataset, test: Dataset) {
        guard directoryExists(directory) else { throw .missingFile(path: directory) }
        func file(_ name: String) -> String {
            let plain = joinPath(directory, name)
            return fileExists(plain + ".gz") || !fileExists(plain) ? plain + ".gz" : plain
        }
        let train = try load(images: file("train-images-idx3-ubyte"), labels: file("train-labels-idx1-ubyte"),
                             name: "fashion-mnist/train", classCount: 10, classNames: fashionMNISTClassNames)
        let test = try load(images: file("t10k-images-idx3-ubyte"), labels: file("t10k-labels-idx1-ubyte"),
                            name: "fashion-mnist/test", classCount: 10, classNames: fashionMNISTClassNames)
        return (train, test)
    }

    /// Loads one image file and its label file into a data set of H×W×1 images.
    public static func load(images imagesPath: String, labels labelsPath: String, name: String,
                            classCount: Int, classNames: [String] = []) throws(DatasetError) -> Dataset {
        let imageFile = try parse(readPossiblyCompressedFile(path: imagesPath, limit: sizeLimit),
                                  path: imagesPath, rank: 3)
        let labelFile = try parse(readPossiblyCompressedFile(path: labelsPath, limit: sizeLimit),
                                  path: labelsPath, rank: 1)
        guard imageFile.dimensions[0] == labelFile.dimensions[0] else {
            throw .shapeMismatch(path: labelsPath,
                                 detail: "\(labelFile.dimensions[0]) labels for \(imageFile.dimensions[0]) images in \(imagesPath)")
        }
        var labels = [Int32](repeating: 0, count: labelFile.values.count)
        for (i, v) in labelFile.values.enumerated() {
            if Int(v) >= classCount {
                throw .labelOutOfRange(path: labelsPath, index: i, label: Int(v), classCount: classCount)
            }
            labels[i] = Int32(v)
        }
        return try Dataset(name: name, height: imageFile.dimensions[1], width: imageFile.dimensions[2], channels: 1,
                           classCount: classCount, images: Array(imageFile.values), labels: labels,
                           classNames: classNames)
    }

    /// The dimensions and unsigned-byte values of an IDX file of the given rank.
    static func parse(_ bytes: [UInt8], path: String, rank: Int) throws(DatasetError) -> (dimensions: [Int], values: ArraySlice<UInt8>) {
        guard bytes.count >= 4 else {
            throw .truncated(path: path, expectedBytes: 4 + 4 * rank, foundBytes: bytes.count)
        }
        let expectedMagic = UInt32(0x0800) | UInt32(rank)
        let magic = readBigEndianUInt32(bytes, at: 0)
        guard magic == expectedMagic else {
            throw .wrongMagic(path: path, expected: hex32(expectedMagic) + " (IDX unsigned bytes, rank \(rank))",
                              found: hex32(magic))
        }
        let headerBytes = 4 + 4 * rank
        guard bytes.count >= headerBytes else {
            throw .truncated(path: path, expectedBytes: headerBytes, foundBytes: bytes.count)
        }
        var dimensions: [Int] = []
        var total = 1
        for d in 0..<rank {
            let n = Int(readBigEndianUInt32(bytes, at: 4 + 4 * d))
            let (product, overflow) = total.multipliedReportingOverflow(by: n)
            guard !overflow, product <= sizeLimit else {
                throw .malformedHeader(path: path, reason: "dimensions \(dimensions + [n]) are implausibly large")
            }
            dimensions.append(n)
            total = product
        }
        if rank > 1, dimensions.dropFirst().contains(0) {
            throw .malformedHeader(path: path, reason: "image dimensions \(dimensions.dropFirst().map(String.init).joined(separator: "×")) contain a zero")
        }
        let expected = headerBytes + total
        if bytes.count < expected { throw .truncated(path: path, expectedBytes: expected, foundBytes: bytes.count) }
        if bytes.count > expected { throw .trailingBytes(path: path, expectedBytes: expected, foundBytes: bytes.count) }
        return (dimensions, bytes[headerBytes...])
    }
}

/// Big-endian UInt32 at `offset`; the caller has checked the bounds.
func readBigEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}

/// `0x` and eight hex digits.
func hex32(_ v: UInt32) -> String {
    let digits = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
