#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a run's images come from, as given on the command line (`--data`).
///
/// Forms: `fashion-mnist` (the Debian package's files, or `$PBA_FASHION_MNIST_DIR`),
/// `fashion-mnist:DIR`, `cifar10:DIR`, `cifar100:DIR`, `npy:DIR`. The value is what gets
/// recorded with a run, so `description` gives back the parseable string.
public enum DataSource: Sendable, Equatable, CustomStringConvertible {
    case fashionMNIST(directory: String)
    case cifar10(directory: String)
    case cifar100(directory: String)
    case npy(directory: String)

    /// Where the `dataset-fashion-mnist` Debian package puts its files.
    public static let packagedFashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"
    /// Overrides the default Fashion-MNIST directory (tests, machines without the package).
    public static let fashionMNISTEnvironmentVariable = "PBA_FASHION_MNIST_DIR"

    /// The directory a bare `fashion-mnist` means: `$PBA_FASHION_MNIST_DIR` if set and non-empty,
    /// else the Debian package's location.
    public static func defaultFashionMNISTDirectory() -> String {
        if let value = getenv(fashionMNISTEnvironmentVariable) {
            let s = String(cString: value)
            if !s.isEmpty { return s }
        }
        return packagedFashionMNISTDirectory
    }

    /// Parses a `--data` string. `fashionMNISTDirectory` is what a bare `fashion-mnist` resolves to
    /// (a parameter so tests need not touch the process environment).
    public init(parsing text: String,
                fashionMNISTDirectory: String = DataSource.defaultFashionMNISTDirectory()) throws(DatasetError) {
        let forms = "expected fashion-mnist, fashion-mnist:DIR, cifar10:DIR, cifar100:DIR or npy:DIR"
        if text == "fashion-mnist" {
            self = .fashionMNIST(directory: fashionMNISTDirectory)
            return
        }
        guard let colon = text.firstIndex(of: ":") else {
            throw .invalidSource(text: text, reason: "unknown data set; " + forms)
        }
        let kind = String(text[..<colon])
        let path = String(text[text.index(after: colon)...])
        guard !path.isEmpty else {
            throw .invalidSource(text: text, reason: "no directory after '\(kind):'")
        }
        switch kind {
        case "fashion-mnist": self = .fashionMNIST(directory: path)
        case "cifar10": self = .cifar10(directory: path)
        case "cifar100": self = .cifar100(directory: path)
        case "npy": self = .npy(directory: path)
        default: throw .invalidSource(text: text, reason: "unknown data set '\(kind)'; " + forms)
        }
    }

    public var description: String {
        switch self {
        case .fashionMNIST(let d): return "fashion-mnist:" + d
        case .cifar10(let d): return "cifar10:" + d
        case .cifar100(let d): return "cifar100:" + d
        case .npy(let d): return "npy:" + d
        }
    }

    /// Reads the training and test sets. They always share image shape and class count.
    public func load() throws(DatasetError) -> (train: Dataset, test: Dataset) {
        switch self {
        case .fashionMNIST(let d): return try IDXLoader.loadFashionMNIST(directory: d)
        case .cifar10(let d): return try CIFARLoader.load(directory: d, variant: .cifar10)
        case .cifar100(let d): return try CIFARLoader.load(directory: d, variant: .cifar100)
        case .npy(let d): return try NPYLoader.load(directory: d)
        }
    }
}
