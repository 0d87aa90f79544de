/// Reader for the CIFAR-10 and CIFAR-100 "binary version" files.
///
/// Each record is the label byte(s) followed by a 32×32×3 image stored channel-major (1024 red,
/// 1024 green, 1024 blue bytes). We convert every image to H×W×C on load, because the rest of pba
/// (augmentation, batching) works channels-last.
public enum CIFARLoader {
    /// Which variant: they differ in label bytes per record, file names and class count.
    public enum Variant: Sendable, Equatable {
        case cifar10
        case cifar100

        /// Bytes before the pixels: CIFAR-10 has one label; CIFAR-100 has coarse then fine.
        var labelBytes: Int { self == .cifar10 ? 1 : 2 }
        /// Offset of the label we use (CIFAR-100: the fine label).
        var labelOffset: Int { self == .cifar10 ? 0 : 1 }
        var classCount: Int { self == .cifar10 ? 10 : 100 }
        var recordBytes: Int { labelBytes + CIFARLoader.imageBytes }
        var trainFiles: [String] {
            self == .cifar10 ? (1...5).map { "data_batch_\($0).bin" } : ["train.bin"]
        }
        var testFiles: [String] { self == .cifar10 ? ["test_batch.bin"] : ["test.bin"] }
        /// The optional file of class names, one per line, shipped with the binary version.
        var classNamesFile: String { self == .cifar10 ? "batches.meta.txt" : "fine_label_names.txt" }
        var name: String { self == .cifar10 ? "cifar10" : "cifar100" }
    }

    static let side = 32
    static let imageBytes = 32 * 32 * 3

    /// Loads the standard directory layout: CIFAR-10 `data_batch_1…5.bin` + `test_batch.bin`,
    /// CIFAR-100 `train.bin` + `test.bin`; class names from the meta text file when present.
    public static func load(directory: String, variant: Variant) throws(DatasetError) -> (train: Dataset, test: Dataset) {
        guard directoryExists(directory) else { throw .missingFile(path: directory) }
        let names = try readClassNames(path: joinPath(directory, variant.classNamesFile), classCount: variant.classCount)
        let train = try load(files: variant.trainFiles.map { joinPath(directory, $0) }, variant: variant,
                             name: "\(variant.name)/train", classNames: names)
        let test = try load(files: variant.testFiles.map { joinPath(directory, $0) }, variant: variant,
                            name: "\(variant.name)/test", classNames: names)
        return (train, test)
    }

    /// Loads and concatenates the records of `files`.
    public static func load(files: [String], variant: Variant, name: String, classNames: [String] = []) throws(DatasetError) -> Dataset {
        var images: [UInt8] = []
        var labels: [Int32] = []
        for path in files {
            let bytes: [UInt8]
            do { bytes = try ReadableFile(path: path).readAll() } catch { throw mapFileAccess(error) }
            try decode(bytes, path: path, variant: variant, images: &images, labels: &labels)
        }
        return try Dataset(name: name, height: side, width: side, channels: 3, classCount: variant.classCount,
                           images: images, labels: labels, classNames: classNames)
    }

    /// Appends the records in `bytes` (the contents of `path`), converting CHW to HWC.
    static func decode(_ bytes: [UInt8], path: String, variant: Variant,
                       images: inout [UInt8], labels: inout [Int32]) throws(DatasetError) {
        let record = variant.recordBytes
        guard !bytes.isEmpty, bytes.count % record == 0 else {
            throw .wrongRecordSize(path: path, fileBytes: bytes.count, recordBytes: record)
        }
        let n = bytes.count / record
        let plane = side * side
        for r in 0..<n {
            let label = Int(bytes[r * record + variant.labelOffset])
            if label >= variant.classCount {
                throw .labelOutOfRange(path: path, index: r, label: label, classCount: variant.classCount)
            }
            labels.append(Int32(label))
        }
        let start = images.count
        images.append(contentsOf: repeatElement(0, count: n * imageBytes))
        bytes.withUnsafeBufferPointer { src in
            images.withUnsafeMutableBufferPointer { dst in
                for r in 0..<n {
                    let from = r &* record &+ variant.labelBytes
                    let to = start &+ r &* imageBytes
                    for p in 0..<plane {
                        dst[to &+ p &* 3] = src[from &+ p]
                        dst[to &+ p &* 3 &+ 1] = src[from &+ plane &+ p]
                        dst[to &+ p &* 3 &+ 2] = src[from &+ 2 &* plane &+ p]
                    }
                }
            }
        }
    }

    /// Class names from a one-name-per-line file, or none if the file is absent. A present file
    /// with the wrong number of names is an error rather than silently ignored: it usually means
    /// the directory mixes CIFAR-10 and CIFAR-100 files.
    static func readClassNames(path: String, classCount: Int) throws(DatasetError) -> [String] {
        guard fileExists(path) else { return [] }
        let bytes: [UInt8]
        do { bytes = try ReadableFile(path: path).readAll() } catch { throw mapFileAccess(error) }
        let names = String(decoding: bytes, as: UTF8.self)
            .split(whereSeparator: \.isNewline)
            .map { $0.trimmingWhitespace() }
            .filter { !$0.isEmpty }
        guard names.count == classCount else {
            throw .shapeMismatch(path: path, detail: "\(names.count) class names, expected \(classCount)")
        }
        return names
    }
}

extension Substring {
    /// The text without leading and trailing spaces and tabs.
    func trimmingWhitespace() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
