import Dispatch

/// Wall time per layer and pass, summed over the steps a model trains while it is attached
/// (`WideResNet.profile`): what `pba bench engine --layers` prints. Detached (nil) it costs one
/// nil check per layer call.
public final class LayerProfile {
    public enum Pass: String, Codable, Sendable { case forward, backward, update }

    /// One layer's totals. `kind` groups layers of the same route for the summary
    /// ("conv3x3 winograd", "conv3x3/2 im2col", "bn+relu", …).
    public struct Entry: Codable, Sendable {
        public var layer: String
        public var kind: String
        public var shape: String
        public var forward: Double = 0
        public var backward: Double = 0
        public var update: Double = 0
        public var total: Double { forward + backward + update }
    }

    public private(set) var entries: [Entry] = []
    private var index: [String: Int] = [:]
    /// Steps the totals cover (counted by the trainer).
    public internal(set) var steps = 0

    public init() {}

    func add(_ layer: String, kind: String, shape: @autoclosure () -> String, _ pass: Pass, seconds: Double) {
        let i: Int
        if let j = index[layer] {
            i = j
        } else {
            i = entries.count
            index[layer] = i
            entries.append(Entry(layer: layer, kind: kind, shape: shape()))
        }
        switch pass {
        case .forward: entries[i].forward += seconds
        case .backward: entries[i].backward += seconds
        case .update: entries[i].update += seconds
        }
    }
}

@inline(__always) @discardableResult
func profiled<T>(_ profile: LayerProfile?, _ layer: @autoclosure () -> String, kind: @autoclosure () -> String,
                 shape: @autoclosure () -> String = "", _ pass: LayerProfile.Pass, _ body: () -> T) -> T {
    guard let profile else { return body() }
    let start = DispatchTime.now().uptimeNanoseconds
    let result = body()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    profile.add(layer(), kind: kind(), shape: shape(), pass, seconds: seconds)
    return result
}

extension Conv2D {
    /// The route this convolution takes, for profiles.
    var routeName: String {
        let base = kernel == 1 ? "conv1x1" : "conv\(kernel)x\(kernel)"
        let s = stride == 1 ? "" : "/\(stride)"
        let how = kernel == 1 ? "gemm" : usesDirect ? "direct" : (algorithm == .winograd && isWinogradEligible ? "winograd" : "im2col")
        return "\(base)\(s) \(how)"
    }

    func shapeName(_ input: [Int]) -> String {
        input.count == 4 ? "\(input[1])×\(input[2]) \(inChannels)→\(outChannels)" : ""
    }
}
