/// Which Wide-ResNet a model is: depth, widening factor, form, input and classes.
public struct ModelSpec: Codable, Hashable, Sendable, CustomStringConvertible {
    public enum Form: String, Codable, Sendable, CaseIterable {
        /// PBA's / AutoAugment's `wrn.py`: parameter-free pool-and-pad shortcuts, plus residual
        /// adds around each group and from the stem to the end.
        case pba
        /// Zagoruyko & Komodakis's WRN: 1×1 projection shortcuts, no group-level adds.
        case zagoruyko
    }

    public var depth: Int
    public var widen: Int
    public var form: Form
    public var height: Int
    public var width: Int
    public var channels: Int
    public var classes: Int

    public init(depth: Int, widen: Int, form: Form = .pba, height: Int = 32, width: Int = 32, channels: Int = 3, classes: Int = 10) throws(ModelSpecError) {
        guard depth >= 10, (depth - 4) % 6 == 0 else { throw .badDepth(depth) }
        guard widen >= 1, widen <= 64 else { throw .badWiden(widen) }
        guard height >= 4, width >= 4, height <= 4096, width <= 4096 else { throw .badInput("\(height)×\(width)") }
        guard [1, 3].contains(channels) || (channels > 0 && channels <= 64) else { throw .badInput("\(channels) channels") }
        guard classes >= 2 else { throw .badClasses(classes) }
        self.depth = depth; self.widen = widen; self.form = form
        self.height = height; self.width = width; self.channels = channels; self.classes = classes
    }

    /// Parses "wrn-40-2" (optionally with a form suffix, "wrn-40-2-zagoruyko").
    public static func parse(_ text: String, form: Form? = nil) throws(ModelSpecError) -> (depth: Int, widen: Int, form: Form) {
        let parts = text.lowercased().split(separator: "-").map(String.init)
        guard parts.count >= 3, parts.count <= 4, parts[0] == "wrn", let d = Int(parts[1]), let k = Int(parts[2]) else {
            throw .badName(text)
        }
        var f = form ?? .pba
        if parts.count == 4 {
            guard let named = Form(rawValue: parts[3]) else { throw .badName(text) }
            f = named
        }
        return (d, k, f)
    }

    public var blocksPerGroup: Int { (depth - 4) / 6 }
    public var stemChannels: Int { form == .pba ? min(16 * widen, 16) : 16 }
    public var groupWidths: [Int] { [16 * widen, 32 * widen, 64 * widen] }
    public var name: String { "wrn-\(depth)-\(widen)" + (form == .pba ? "" : "-\(form.rawValue)") }
    public var description: String { "\(name) (\(form.rawValue) form, input \(height)×\(width)×\(channels), \(classes) classes)" }
}

public enum ModelSpecError: Error, CustomStringConvertible, Equatable {
    case badName(String), badDepth(Int), badWiden(Int), badInput(String), badClasses(Int)
    public var description: String {
        switch self {
        case let .badName(s): return "model '\(s)' is not of the form wrn-DEPTH-WIDEN[-pba|-zagoruyko], e.g. wrn-40-2"
        case let .badDepth(d): return "WRN depth \(d) is invalid: depth must be 6n+4 with n ≥ 1 (10, 16, 22, 28, 40, ...)"
        case let .badWiden(k): return "WRN widening factor \(k) is invalid: must be 1...64"
        case let .badInput(s): return "model input \(s) is not supported"
        case let .badClasses(c): return "model needs at least 2 classes, got \(c)"
        }
    }
}
