import Tensor

/// A seeded split of a training set into the images a model trains on and the held-out images
/// its validation accuracy (the population's ranking signal) is measured on.
///
/// PBA searched on "reduced CIFAR-10": 4 000 training images and a disjoint validation set drawn
/// from the 50 000. We draw both from one seeded permutation of the source, so the same seed
/// always yields the same images, and the two parts never overlap. No stratification: with
/// thousands of images the class balance of a uniform draw is close enough, and one mechanism
/// is easier to reason about and to reproduce elsewhere.
public struct DataSplit: Sendable {
    public let train: Dataset
    public let validation: Dataset
    /// Positions in the source of `train`'s images, in `train`'s order.
    public let trainIndices: [Int]
    /// Positions in the source of `validation`'s images, in `validation`'s order.
    public let validationIndices: [Int]

    /// Splits `source`: a `SeededGenerator(seed:)` shuffles `0..<source.count`; the first
    /// `trainSize` positions form the training part, the next `validationSize` the validation part.
    public init(_ source: Dataset, trainSize: Int, validationSize: Int, seed: UInt64) throws(DatasetError) {
        guard trainSize > 0 else { throw .invalidSplit(reason: "training size \(trainSize) must be positive") }
        guard validationSize >= 0 else {
            throw .invalidSplit(reason: "validation size \(validationSize) must not be negative")
        }
        let (needed, overflow) = trainSize.addingReportingOverflow(validationSize)
        guard !overflow, needed <= source.count else {
            throw .invalidSplit(reason: "\(trainSize) training + \(validationSize) validation images exceed the \(source.count) images of \(source.name)")
        }
        var generator = SeededGenerator(seed: seed)
        var order = Array(0..<source.count)
        generator.shuffle(&order)
        trainIndices = Array(order[0..<trainSize])
        validationIndices = Array(order[trainSize..<needed])
        train = source.subset(trainIndices, name: source.name + "[train]")
        validation = source.subset(validationIndices, name: source.name + "[validation]")
    }
}
