/// A labelled image data set held as raw bytes, as augmentation wants it.
///
/// Images stay `UInt8` in N×H×W×C order (channels last within each image): the augmentation
/// operations work on pixels, and normalisation to float happens only when a batch is formed,
/// using `channelStatistics()`. The initializer checks every invariant (byte count, label range),
/// so a `Dataset` value that exists is always consistent and later code never re-validates it.
public struct Dataset: Sendable {
    /// A human-readable name, e.g. "cifar10/train"; it appears in error messages and logs.
    public let name: String
    public let height: Int
    public let width: Int
    public let channels: Int
    /// Labels lie in `0..<classCount`.
    public let classCount: Int
    /// Class names when the source provides them (`classNames.count == classCount`), else empty.
    public let classNames: [String]
    /// Pixels, N×H×W×C (HWC within each image).
    public let images: [UInt8]
    /// One label per image, in `0..<classCount`.
    public let labels: [Int32]

    /// Number of images.
    public var count: Int { labels.count }
    /// Bytes per image: H·W·C.
    public var imageByteCount: Int { height * width * channels }

    /// Creates a data set, checking that the pixel count matches the labels and the shape, and
    /// that every label is in range. `name` is used in the errors.
    public init(
        name: String, height: Int, width: Int, channels: Int, classCount: Int,
        images: [UInt8], labels: [Int32], classNames: [String] = []
    ) throws(DatasetError) {
        guard height > 0, width > 0, channels > 0 else {
            throw .shapeMismatch(path: name, detail: "image shape \(height)×\(width)×\(channels) has an empty dimension")
        }
        guard classCount > 0 else {
            throw .shapeMismatch(path: name, detail: "class count \(classCount) must be positive")
        }
        let (perImage, o1) = height.multipliedReportingOverflow(by: width)
        let (perImageC, o2) = perImage.multipliedReportingOverflow(by: channels)
        let (total, o3) = perImageC.multipliedReportingOverflow(by: labels.count)
        guard !o1, !o2, !o3, total == images.count else {
            throw .shapeMismatch(
                path: name,
                detail: "\(labels.count) labels of \(height)×\(width)×\(channels) images need \(labels.count)·\(perImageC) pixel bytes, found \(images.count)")
        }
        guard classNames.isEmpty || classNames.count == classCount else {
            throw .shapeMismatch(path: name, detail: "\(classNames.count) class names for \(classCount) classes")
        }
        for (i, label) in labels.enumerated() where label < 0 || Int(label) >= classCount {
            throw .labelOutOfRange(path: name, index: i, label: Int(label), classCount: classCount)
        }
        self.name = name
        self.height = height
        self.width = width
        self.channels = channels
        self.classCount = classCount
        self.classNames = classNames
        self.images = images
        self.labels = labels
    }

    /// Creates a data set without re-checking; only for values derived from a checked one.
    private init(unchecked source: Dataset, name: String, images: [UInt8], labels: [Int32]) {
        self.name = name
        self.height = source.height
        self.width = source.width
        self.channels = source.channels
        self.classCount = source.classCount
        self.classNames = source.classNames
        self.images = images
        self.labels = labels
    }

    /// The images at `indices`, in that order (repeats allowed). Indices come from our own code
    /// (splits, shuffles), so one out of range is a programmer error and traps.
    public func subset(_ indices: [Int], name: String? = nil) -> Dataset {
        let stride = imageByteCount
        var newImages = [UInt8](repeating: 0, count: indices.count * stride)
        var newLabels = [Int32](repeating: 0, count: indices.count)
        images.withUnsafeBufferPointer { src in
            newImages.withUnsafeMutableBufferPointer { dst in
                for (k, i) in indices.enumerated() {
                    precondition(i >= 0 && i < labels.count, "subset index \(i) outside 0..<\(labels.count)")
                    newLabels[k] = labels[i]
                    guard stride > 0, let from = src.baseAddress, let to = dst.baseAddress else { continue }
                    (to + k &* stride).update(from: from + i &* stride, count: stride)
                }
            }
        }
        return Dataset(unchecked: self, name: name ?? self.name, images: newImages, labels: newLabels)
    }

    /// Image `index` as a slice of `images` (H×W×C bytes).
    public func image(_ index: Int) -> ArraySlice<UInt8> {
        images[(index * imageByteCount)..<((index + 1) * imageByteCount)]
    }

    /// Per-channel mean and (population) standard deviation of `pixel / 255`, the constants a
    /// batch is normalised with.
    ///
    /// Sums are accumulated exactly in integers (a UInt64 cannot overflow below ~2.8e14 pixels)
    /// and only the final division is in Double, so the result does not depend on summation order.
    /// An empty data set yields mean 0 and std 1 per channel, which leaves pixels unscaled.
    public func channelStatistics() -> (mean: [Float], std: [Float]) {
        let c = channels
        var sum = [UInt64](repeating: 0, count: c)
        var sumSquares = [UInt64](repeating: 0, count: c)
        images.withUnsafeBufferPointer { px in
            sum.withUnsafeMutableBufferPointer { s in
                sumSquares.withUnsafeMutableBufferPointer { q in
                    var i = 0
                    let n = px.count
                    while i < n {
                        for k in 0..<c {
                            let v = UInt64(px[i &+ k])
                            s[k] &+= v
                            q[k] &+= v &* v
                        }
                        i &+= c
                    }
                }
            }
        }
        let pixelsPerChannel = Double(count * height * width)
        guard pixelsPerChannel > 0 else {
            return ([Float](repeating: 0, count: c), [Float](repeating: 1, count: c))
        }
        var mean = [Float](repeating: 0, count: c)
        var std = [Float](repeating: 0, count: c)
        for k in 0..<c {
            let m = Double(sum[k]) / pixelsPerChannel
            let variance = max(0, Double(sumSquares[k]) / pixelsPerChannel - m * m)
            mean[k] = Float(m / 255)
            std[k] = Float(variance.squareRoot() / 255)
        }
        return (mean, std)
    }
}
