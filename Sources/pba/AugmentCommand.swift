import ArgumentParser
import Foundation
import Augment
import Tensor

/// `pba augment`: apply one operation deterministically (for pixel comparison with PIL) or a
/// policy/baseline (to look at it) to CIFAR-binary records.
struct AugmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augment",
        abstract: "Apply one augmentation operation, a policy or a baseline to CIFAR-binary images.",
        discussion: """
        Single operation (deterministic, for comparison with PIL pixel by pixel):
          pba augment --op Rotate --magnitude 7 --sign -1 --in data_batch_1.bin --out rotated.bin
        Every record is transformed and its label bytes are kept. Magnitudes use PBA's scale \
        (0...10, PARAMETER_MAX 10); --center X,Y places Cutout (default: the image centre).
        Policy or baseline (seeded; one generator per record, so the output depends only on \
        --seed and the record's index):
          pba augment --baseline trivialaugment --in test_batch.bin --preview grid.png
          pba augment --policy policy.json --in test_batch.bin --out augmented.bin
        A policy file is {"operations": [...], "policy": [4·n integers]} or a bare list of 60 \
        integers (PBA's hp_policy). Baselines: \(Baseline.names.joined(separator: ", ")), \
        randaugment(N,M).
        Uncovered pixels get --fill (default: the input's per-channel mean, rounded).
        """)

    @Option(help: "One operation to apply to every record: \(OperationSet.pba.names.joined(separator: ", ")).")
    var op: String?

    @Option(help: "Magnitude 0...10 for --op.")
    var magnitude: Int?

    @Option(parsing: .unconditional, help: "Sign +1 or -1 for --op (signed operations: rotations, translations, shears).")
    var sign: String = "+1"

    @Option(help: "Cutout centre X,Y for --op Cutout (default: the image centre).")
    var center: String?

    @Option(help: "A policy JSON file to apply (followed by the base augmentation).")
    var policy: String?

    @Option(help: "A baseline to apply: \(Baseline.names.joined(separator: ", ")), randaugment(N,M).")
    var baseline: String?

    @Option(name: .customLong("in"), help: "Input CIFAR-binary file.")
    var input: String

    @Option(name: .customLong("out"), help: "Output CIFAR-binary file (same records, transformed).")
    var output: String?

    @Option(help: "Write a PNG grid of originals and augmented versions here (policy or baseline).")
    var preview: String?

    @Option(help: "Preview rows: the first N records.")
    var samples: Int = 8

    @Option(help: "Preview augmented versions per record.")
    var columns: Int = 7

    @Option(help: "Preview enlargement factor.")
    var scale: Int = 3

    @Option(help: "Label bytes per record: 1 (CIFAR-10) or 2 (CIFAR-100).")
    var labelBytes: Int = 1

    @Option(help: "Fill colour R,G,B for uncovered pixels (default: the input's per-channel mean).")
    var fill: String?

    @OptionGroup var base: BaseAugmentationOptions

    @Option(help: "Seed for policy and baseline draws.")
    var seed: UInt64 = 0

    func validate() throws {
        let modes = [op != nil, policy != nil, baseline != nil].filter { $0 }.count
        guard modes == 1 else { throw ValidationError("give exactly one of --op, --policy, --baseline") }
        if op != nil {
            guard let m = magnitude else { throw ValidationError("--op needs --magnitude") }
            guard operationMagnitudeRange.contains(m) else { throw ValidationError("--magnitude \(m) is outside 0...10") }
            guard output != nil else { throw ValidationError("--op needs --out") }
            guard preview == nil else { throw ValidationError("--preview needs --policy or --baseline, not --op") }
            guard parsedSign != nil else { throw ValidationError("--sign '\(sign)' must be +1 or -1") }
        } else {
            guard output != nil || preview != nil else { throw ValidationError("give --out, --preview or both") }
            guard center == nil else { throw ValidationError("--center applies to --op Cutout only") }
        }
        guard labelBytes == 1 || labelBytes == 2 else { throw ValidationError("--label-bytes \(labelBytes) must be 1 or 2") }
        guard (1...256).contains(samples) else { throw ValidationError("--samples \(samples) must be 1...256") }
        guard (1...32).contains(columns) else { throw ValidationError("--columns \(columns) must be 1...32") }
        guard (1...16).contains(scale) else { throw ValidationError("--scale \(scale) must be 1...16") }
    }

    private var parsedSign: Int? {
        switch sign { case "+1", "1": return 1; case "-1": return -1; default: return nil }
    }

    func run() async throws {
        var records = try CIFARRecords(path: input, labelBytes: labelBytes)
        let fillColor = try fill.map(parseFill) ?? records.meanFill()
        if let name = op {
            let operation = try OperationRegistry.standard.operation(named: name)
            let c = try center.map(parseCenter)
            try records.transformEach { image in
                try applyOperation(operation, magnitude: magnitude ?? 0, sign: parsedSign ?? 1, center: c,
                                   to: &image, fill: fillColor)
            }
            try records.write(to: output ?? "")
            print("\(name) m=\(magnitude ?? 0) sign=\(parsedSign ?? 1): \(records.count) records → \(output ?? "")")
            return
        }
        let base = self.base.value
        let augmentation: Augmentation
        let label: String
        if let path = policy {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw ValidationError("cannot read policy file \(path): \(error.localizedDescription)")
            }
            do { augmentation = Augmentation(policy: try ResolvedPolicy(try Policy(json: data)), base: base) } catch {
                throw ValidationError("\(path): \(error)")
            }
            label = path
        } else {
            let b = try Baseline(name: baseline ?? "")
            augmentation = Augmentation(baseline: b, base: base)
            label = b.name
        }
        let augmenter = try Augmenter(augmentation, shape: CIFARRecords.shape, fill: fillColor)
        if let path = preview {
            let n = min(samples, records.count)
            var rows: [[Image]] = []
            for i in 0..<n {
                let original = records.image(i)
                var row = [original]
                for k in 0..<columns {
                    var x = original
                    var rng = SeededGenerator(seed: seed, stream: [UInt64(k), UInt64(i)])
                    try augmenter.augment(&x, using: &rng)
                    row.append(x)
                }
                rows.append(row)
            }
            let png = try pngData(try previewGrid(rows: rows, scale: scale))
            do { try Data(png).write(to: URL(fileURLWithPath: path)) } catch {
                throw ValidationError("cannot write \(path): \(error.localizedDescription)")
            }
            print("\(label): preview of \(n) records × \(columns) draws → \(path)")
        }
        if let path = output {
            var index = 0
            try records.transformEach { image in
                var rng = SeededGenerator(seed: seed, stream: [0, UInt64(index)])
                try augmenter.augment(&image, using: &rng)
                index += 1
            }
            try records.write(to: path)
            print("\(label): \(records.count) records → \(path)")
        }
    }

    private func parseFill(_ s: String) throws -> FillColor {
        let parts = s.split(separator: ",").map { UInt8($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3 || parts.count == 1, parts.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--fill '\(s)' must be R,G,B with values 0...255")
        }
        return try FillColor(parts.map { $0! })
    }

    private func parseCenter(_ s: String) throws -> PixelPoint {
        let parts = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let x = parts[0], let y = parts[1] else {
            throw ValidationError("--center '\(s)' must be X,Y")
        }
        return PixelPoint(x: x, y: y)
    }
}

/// CIFAR-binary records kept raw (label bytes untouched), with images converted between the
/// file's channel-major layout and the HWC layout operations work on. Engine's CIFARLoader keeps
/// only one label per record; `pba augment` must write records back exactly, labels included.
struct CIFARRecords {
    // 32×32×3 is a valid shape.
    static let shape = try! ImageShape(width: 32, height: 32, channels: 3)
    let labelBytes: Int
    var bytes: [UInt8]
    var recordBytes: Int { labelBytes + Self.shape.count }
    var count: Int { bytes.count / recordBytes }

    init(path: String, labelBytes: Int) throws {
        self.labelBytes = labelBytes
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read \(path)")
        }
        bytes = [UInt8](data)
        let record = labelBytes + Self.shape.count
        guard !bytes.isEmpty, bytes.count % record == 0 else {
            throw ValidationError("\(path): \(bytes.count) bytes is not a whole number of \(record)-byte CIFAR records (--label-bytes \(labelBytes))")
        }
    }

    /// Record `i`'s image in HWC.
    func image(_ i: Int) -> Image {
        var image = Image(shape: Self.shape)
        let base = i * recordBytes + labelBytes
        for c in 0..<3 { for p in 0..<1024 { image.pixels[p * 3 + c] = bytes[base + c * 1024 + p] } }
        return image
    }

    mutating func setImage(_ i: Int, _ image: Image) {
        let base = i * recordBytes + labelBytes
        for c in 0..<3 { for p in 0..<1024 { bytes[base + c * 1024 + p] = image.pixels[p * 3 + c] } }
    }

    mutating func transformEach(_ body: (inout Image) throws -> Void) throws {
        for i in 0..<count {
            var x = image(i)
            try body(&x)
            setImage(i, x)
        }
    }

    /// The rounded per-channel mean of all records: PBA's fill for uncovered pixels.
    func meanFill() throws -> FillColor {
        var sums = [Int](repeating: 0, count: 3)
        for i in 0..<count {
            let base = i * recordBytes + labelBytes
            for c in 0..<3 { for p in 0..<1024 { sums[c] += Int(bytes[base + c * 1024 + p]) } }
        }
        let n = Double(count * 1024)
        return try FillColor(sums.map { UInt8((Double($0) / n).rounded()) })
    }

    func write(to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw ValidationError("cannot write \(path)")
        }
    }
}
