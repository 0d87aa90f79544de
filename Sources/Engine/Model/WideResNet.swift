import Tensor

/// How a residual block's input reaches its sum.
enum Shortcut {
    case identity
    case poolPad(PoolPadShortcut)
    case projection(Conv2D)
}

/// A pre-activation basic block: BN-ReLU-conv3×3(stride)-BN-ReLU-conv3×3, plus a shortcut.
///
/// With `activateBeforeResidual` the first BN-ReLU is applied before the split, so the shortcut
/// sees the activated input (PBA's first block of group 1; every shape-changing block of the
/// Zagoruyko form); otherwise the shortcut sees the raw input.
final class ResidualBlock {
    let name: String
    var profile: LayerProfile?
    let activateBeforeResidual: Bool
    let bn1: BatchNorm, conv1: Conv2D, bn2: BatchNorm, conv2: Conv2D
    let shortcut: Shortcut
    /// The block's output is its second convolution's output with the shortcut added in place:
    /// no backward pass needs the convolution's output before the addition, so the block keeps
    /// one activation fewer.
    var output: Tensor { conv2.output }
    private(set) var inputGradient = Tensor(shape: [0])
    private var input: Tensor?

    /// Routes every gradient of this block's main path through two buffers, `p` and `q`, which
    /// must differ from the buffer the block's output gradient arrives in. Backward then runs
    /// conv2→p, bn2→q, conv1→p, bn1→q and writes the block's input gradient into p: each buffer
    /// is overwritten only after what it held was consumed. The shortcut's gradient keeps its
    /// own buffer, as it stays live across the main path.
    func shareGradientBuffers(p: Tensor, q: Tensor) {
        conv2.inputGradient = p
        bn2.inputGradient = q
        conv1.inputGradient = p
        bn1.inputGradient = q
        inputGradient = p
    }

    init(_ name: String, store: ParameterStore, workspace: Workspace, inChannels: Int, outChannels: Int,
         stride: Int, activateBeforeResidual: Bool, form: ModelSpec.Form, bnMomentum: Float, bnEpsilon: Float) {
        self.name = name
        self.activateBeforeResidual = activateBeforeResidual
        bn1 = BatchNorm("\(name).bn1", store: store, channels: inChannels, relu: true, momentum: bnMomentum, epsilon: bnEpsilon)
        conv1 = Conv2D("\(name).conv1", store: store, workspace: workspace, inChannels: inChannels, outChannels: outChannels, kernel: 3, stride: stride)
        bn2 = BatchNorm("\(name).bn2", store: store, channels: outChannels, relu: true, momentum: bnMomentum, epsilon: bnEpsilon)
        conv2 = Conv2D("\(name).conv2", store: store, workspace: workspace, inChannels: outChannels, outChannels: outChannels, kernel: 3, stride: 1)
        if inChannels == outChannels && stride == 1 {
            shortcut = .identity
        } else if form == .pba {
            shortcut = .poolPad(PoolPadShortcut(inChannels: inChannels, outChannels: outChannels, stride: stride))
        } else {
            shortcut = .projection(Conv2D("\(name).shortcut", store: store, workspace: workspace,
                                          inChannels: inChannels, outChannels: outChannels, kernel: 1, stride: stride))
        }
    }

    func forward(_ x: Tensor, training: Bool) -> Tensor {
        input = x
        let p = profile
        let activated = profiled(p, "\(name).bn1", kind: "bn+relu", .forward) { bn1.forward(x, training: training) }
        let shortcutInput = activateBeforeResidual ? activated : x
        let h1 = profiled(p, "\(name).conv1", kind: conv1.routeName, shape: conv1.shapeName(activated.shape), .forward) {
            conv1.forward(activated)
        }
        let a2 = profiled(p, "\(name).bn2", kind: "bn+relu", .forward) { bn2.forward(h1, training: training) }
        let h = profiled(p, "\(name).conv2", kind: conv2.routeName, shape: conv2.shapeName(a2.shape), .forward) { conv2.forward(a2) }
        let s: Tensor
        switch shortcut {
        case .identity: s = shortcutInput
        case let .poolPad(pool):
            // Pooled straight into the sum: one pass over h instead of a zeroed buffer and an add.
            profiled(p, "\(name).shortcut", kind: "pool+pad", .forward) { pool.addForward(shortcutInput, into: h) }
            return h
        case let .projection(c):
            s = profiled(p, "\(name).shortcut", kind: c.routeName, shape: c.shapeName(shortcutInput.shape), .forward) {
                c.forward(shortcutInput)
            }
        }
        profiled(p, "\(name).add", kind: "residual add", .forward) { addTensors(h, s, into: h) }
        return h
    }

    func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("ResidualBlock.backward before forward") }
        let activated = bn1.output
        let shortcutInput = activateBeforeResidual ? activated : x
        let p = profile
        let dShortcut: Tensor
        switch shortcut {
        case .identity: dShortcut = dy
        case let .poolPad(s):
            dShortcut = profiled(p, "\(name).shortcut", kind: "pool+pad", .backward) { s.backward(dy, inputShape: shortcutInput.shape) }
        case let .projection(c):
            dShortcut = profiled(p, "\(name).shortcut", kind: c.routeName, .backward) { c.backward(dy, input: shortcutInput) }
        }
        let d2 = profiled(p, "\(name).conv2", kind: conv2.routeName, .backward) { conv2.backward(dy, input: bn2.output) }
        let dh = profiled(p, "\(name).bn2", kind: "bn+relu", .backward) { bn2.backward(d2, input: conv1.output) }
        let dActivated = profiled(p, "\(name).conv1", kind: conv1.routeName, .backward) { conv1.backward(dh, input: activated) }
        if activateBeforeResidual {
            profiled(p, "\(name).add", kind: "residual add", .backward) { addTensors(dActivated, dShortcut, into: dActivated) }
            let d1 = profiled(p, "\(name).bn1", kind: "bn+relu", .backward) { bn1.backward(dActivated, input: x) }
            profiled(p, "\(name).add", kind: "residual add", .backward) { inputGradient.copy(from: d1) }
        } else {
            let d1 = profiled(p, "\(name).bn1", kind: "bn+relu", .backward) { bn1.backward(dActivated, input: x) }
            profiled(p, "\(name).add", kind: "residual add", .backward) { addTensors(d1, dShortcut, into: inputGradient) }
        }
        return inputGradient
    }
}

/// A pre-activation Wide-ResNet WRN-d-k over NHWC images, in PBA's form (default) or
/// Zagoruyko's, with all parameters in one `ParameterStore`.
///
/// PBA form (AutoAugment's `wrn.py`, which PBA's search used): conv3×3 to min(16k,16) channels;
/// three groups of (d−4)/6 blocks of widths 16k, 32k, 64k with strides 1, 2, 2; where a block
/// changes shape its shortcut is average pooling by the stride plus zero channel padding; an extra
/// residual add around each group (from the group's input, pooled and padded) and one from the
/// stem output to the end; final BN-ReLU, global average pool, linear.
/// Differences from PBA's TF model: symmetric padding of stride-2 convolutions (TF 'SAME' pads
/// bottom/right only) and PyTorch's batch-norm momentum convention (see `TrainingOptions`).
public final class WideResNet {
    public let spec: ModelSpec
    public let parameters = ParameterStore()
    let workspace = Workspace()
    let stem: Conv2D
    let groups: [[ResidualBlock]]
    let groupShortcuts: [PoolPadShortcut?]
    let stemShortcut: PoolPadShortcut?
    let finalNorm: BatchNorm
    let pool = GlobalAveragePool()
    let classifier: Linear
    public let loss = SoftmaxCrossEntropy()
    private let groupInputGradients: [Tensor]
    private let stemGradient = Tensor(shape: [0])
    private var lastInput: Tensor?
    /// Per-layer wall times of the steps trained while attached (`pba bench engine --layers`).
    public var profile: LayerProfile? {
        didSet { for block in groups.flatMap({ $0 }) { block.profile = profile } }
    }

    public init(spec: ModelSpec, seed: UInt64, bnMomentum: Float = 0.1, bnEpsilon: Float = 1e-3) {
        self.spec = spec
        let ws = workspace, store = parameters
        stem = Conv2D("stem", store: store, workspace: ws, inChannels: spec.channels, outChannels: spec.stemChannels, kernel: 3, stride: 1)
        var groups: [[ResidualBlock]] = []
        var shortcuts: [PoolPadShortcut?] = []
        var inWidth = spec.stemChannels
        for (g, width) in spec.groupWidths.enumerated() {
            let stride = g == 0 ? 1 : 2
            var blocks: [ResidualBlock] = []
            for b in 0..<spec.blocksPerGroup {
                let cin = b == 0 ? inWidth : width
                let abr = spec.form == .pba ? (g == 0 && b == 0) : (cin != width)
                blocks.append(ResidualBlock("group\(g + 1).block\(b)", store: store, workspace: ws,
                                            inChannels: cin, outChannels: width, stride: b == 0 ? stride : 1,
                                            activateBeforeResidual: abr, form: spec.form,
                                            bnMomentum: bnMomentum, bnEpsilon: bnEpsilon))
            }
            groups.append(blocks)
            if spec.form == .pba {
                shortcuts.append(PoolPadShortcut(inChannels: inWidth, outChannels: width, stride: stride))
            } else {
                shortcuts.append(nil)
            }
            inWidth = width
        }
        self.groups = groups
        groupShortcuts = shortcuts
        stemShortcut = spec.form == .pba ? PoolPadShortcut(inChannels: spec.stemChannels, outChannels: inWidth, stride: 4) : nil
        finalNorm = BatchNorm("final.bn", store: store, channels: inWidth, relu: true, momentum: bnMomentum, epsilon: bnEpsilon)
        classifier = Linear("fc", store: store, inFeatures: inWidth, outFeatures: spec.classes)
        groupInputGradients = (0..<3).map { _ in Tensor(shape: [0]) }
        // Three gradient buffers serve every block: block i uses G[i mod 3] and G[(i+2) mod 3],
        // never G[(i+1) mod 3], where block i+1's input gradient (block i's incoming) lives.
        // Without this each layer kept its own dL/dx and training memory was ~2× the activations.
        let shared = (0..<3).map { _ in Tensor(shape: [0]) }
        for (i, block) in groups.flatMap({ $0 }).enumerated() {
            block.shareGradientBuffers(p: shared[i % 3], q: shared[(i + 2) % 3])
        }
        var generator = SeededGenerator(seed: seed, stream: [0x57524E])  // "WRN": init stream
        store.finalize(generator: &generator)
    }

    public var parameterCount: Int { parameters.parameterCount }

    /// Sets the batch-norm momentum and epsilon of every batch norm.
    public func setBatchNorm(momentum: Float, epsilon: Float) {
        for bn in allBatchNorms { bn.momentum = momentum; bn.epsilon = epsilon }
    }

    var allBatchNorms: [BatchNorm] { groups.flatMap { $0.flatMap { [$0.bn1, $0.bn2] } } + [finalNorm] }

    /// x: [n, h, w, c] normalised images → logits [n, classes].
    @discardableResult
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        lastInput = x
        let p = profile
        var h = profiled(p, "stem", kind: stem.routeName, shape: stem.shapeName(x.shape), .forward) { stem.forward(x) }
        let stemOut = h
        for (g, blocks) in groups.enumerated() {
            let groupInput = h
            for block in blocks { h = block.forward(h, training: training) }
            if let s = groupShortcuts[g] {
                let top = h
                profiled(p, "group\(g + 1).shortcut", kind: "pool+pad", .forward) {
                    s.addForward(groupInput, into: top)  // in place, as in the blocks
                }
            }
        }
        if let s = stemShortcut {
            let top = h
            profiled(p, "stem.shortcut", kind: "pool+pad", .forward) { s.addForward(stemOut, into: top) }
        }
        let top = h
        let a = profiled(p, "final.bn", kind: "bn+relu", .forward) { finalNorm.forward(top, training: training) }
        return profiled(p, "pool+fc", kind: "pool+fc+loss", .forward) { classifier.forward(pool.forward(a)) }
    }

    /// Backward from d(loss)/d(logits); accumulates every parameter gradient into the store.
    public func backward(_ dLogits: Tensor) {
        guard lastInput != nil else { preconditionFailure("WideResNet.backward before forward") }
        let p = profile
        let top = groups[2].last!.output
        let dPool = profiled(p, "pool+fc", kind: "pool+fc+loss", .backward) {
            pool.backward(classifier.backward(dLogits, input: pool.output), inputShape: top.shape)
        }
        var d = profiled(p, "final.bn", kind: "bn+relu", .backward) { finalNorm.backward(dPool, input: top) }
        let dTop = d
        for g in stride(from: 2, through: 0, by: -1) {
            let dGroupOut = d
            for block in groups[g].reversed() { d = block.backward(d) }
            if let s = groupShortcuts[g] {
                let dIn = d
                profiled(p, "group\(g + 1).shortcut", kind: "pool+pad", .backward) {
                    s.addBackward(dGroupOut, adding: dIn, into: groupInputGradients[g])
                }
                d = groupInputGradients[g]
            }
        }
        if let s = stemShortcut {
            let dIn = d
            profiled(p, "stem.shortcut", kind: "pool+pad", .backward) {
                s.addBackward(dTop, adding: dIn, into: stemGradient)
            }
            d = stemGradient
        }
        let dStem = d
        profiled(p, "stem", kind: stem.routeName, .backward) { stem.backward(dStem, input: lastInput!, needInputGradient: false) }
    }
}

extension WideResNet {
    /// Sets the algorithm of every convolution (stride-2 and 1×1 ones stay im2col either way).
    public func setConvolutionAlgorithm(_ algorithm: ConvolutionAlgorithm) {
        for conv in convolutions { conv.algorithm = algorithm }
    }

    var convolutions: [Conv2D] {
        var list = [stem]
        for blocks in groups {
            for b in blocks {
                list += [b.conv1, b.conv2]
                if case let .projection(c) = b.shortcut { list.append(c) }
            }
        }
        return list
    }

    /// Multiply-add FLOPs (2 per MAC) of one training step on a batch of `n`: each convolution's
    /// forward product, its weight-gradient product and (all but the stem's) input-gradient
    /// product, plus the classifier's three. Normalisation and elementwise work is not counted.
    public func trainingFlops(batch n: Int) -> Double {
        var flops = 0.0
        var h = spec.height, w = spec.width
        var sizes: [ObjectIdentifier: (Int, Int)] = [:]
        // Output sizes follow the stride pattern; walk the convolutions in order.
        for conv in convolutions {
            if conv.stride == 2 && conv.kernel == 3 { (h, w) = conv.outputSize(h, w) }
            sizes[ObjectIdentifier(conv)] = (h, w)
        }
        for conv in convolutions {
            let (oh, ow) = sizes[ObjectIdentifier(conv)]!
            let macs = Double(n * oh * ow * conv.kernel * conv.kernel * conv.inChannels * conv.outChannels)
            flops += 2 * macs * (conv === stem ? 2 : 3)
        }
        flops += 2 * 3 * Double(n * classifier.inFeatures * classifier.outFeatures)
        return flops
    }
}
