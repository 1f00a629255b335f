// The parameters of a decoder: named exactly as MODEL.md, kept in the fixed order of
// `ModelConfig.parameterDeclarations`, initialised from a counter-based RNG keyed by (seed, purpose,
// parameter index) so any parameter can be regenerated alone and thread count never matters.
import Tensor

/// Streams of the counter-based RNG: stream = purpose << 32 | index. Every random draw of the
/// harness names its purpose here, so no two uses can share numbers.
public enum RNGPurpose: UInt64, Sendable {
    case parameterInit = 1
    case dataTables = 2
    case dataSequences = 3
    case sampling = 4
    case dataValidation = 5
    /// Which documents a text corpus holds out (data.text.split: documents).
    case dataSplit = 6

    public func stream(_ index: Int) -> UInt64 { rawValue << 32 | UInt64(index) }
}

/// Trainable parameters (leaves requiring grad) and the balancing-bias buffers.
public struct ParameterSet {
    /// The model's declarations, in enumeration order (gate.bias buffers included).
    public let declarations: [ParameterDeclaration]
    /// Names in enumeration order (MODEL.md's names, gate.bias buffers included).
    public let names: [String]
    /// Names of the trained parameters (every role but buffer), in order.
    public let trainedNames: [String]
    /// Name → tensor. Trained parameters require grad; gate.bias buffers do not.
    public private(set) var tensors: [String: Tensor]
    private let roles: [String: ParameterRole]

    public init(declarations: [ParameterDeclaration], tensors: [String: Tensor]) {
        precondition(Set(declarations.map(\.name)) == Set(tensors.keys), "ParameterSet: declarations and tensors differ")
        self.declarations = declarations
        self.names = declarations.map(\.name)
        self.trainedNames = declarations.filter(\.role.isTrained).map(\.name)
        self.roles = Dictionary(uniqueKeysWithValues: declarations.map { ($0.name, $0.role) })
        self.tensors = tensors
    }

    public subscript(name: String) -> Tensor {
        guard let tensor = tensors[name] else { fatalError("no parameter named '\(name)'") }
        return tensor
    }

    /// The role `name` was declared with.
    public func role(_ name: String) -> ParameterRole {
        guard let role = roles[name] else { fatalError("no parameter named '\(name)'") }
        return role
    }

    /// The balancing-bias buffer of MoE layer `layer`, if it has one.
    public func biasName(layer: Int) -> String? {
        declarations.first { $0.role == .buffer && $0.layer == layer }?.name
    }

    /// Replaces a tensor's values (same shape), keeping its role (leaf or buffer).
    public mutating func setValues(_ name: String, _ values: [Float]) {
        let old = self[name]
        precondition(values.count == old.count, "setValues: \(name) has \(old.count) elements, got \(values.count)")
        let fresh = Tensor(shape: old.shape, scalars: values)
        tensors[name] = role(name).isTrained ? fresh.requiringGrad() : fresh
    }

    /// Initial parameters for `config` and `seed`, by role: weight matrices N(0, std) (output
    /// projections std/sqrt(2L) when init.scaled_output), norm weights 1, buffers 0. The draw of
    /// the i-th declaration uses RNG stream (parameterInit, i).
    public static func initial(_ config: ModelConfig, seed: Int) -> ParameterSet {
        let declarations = config.parameterDeclarations
        var tensors: [String: Tensor] = [:]
        let std = Float(config.initialization.std)
        let outputStd = config.initialization.scaledOutput ? std / Float(2 * config.nLayers).squareRoot() : std
        for (index, declaration) in declarations.enumerated() {
            let (name, shape, role) = (declaration.name, declaration.shape, declaration.role)
            switch role {
            case .buffer:
                tensors[name] = Tensor.zeros(shape)
            case .norm:
                tensors[name] = Tensor.ones(shape, requiresGrad: true)
            case .embedding, .head, .attentionIn, .attentionOut, .ffnIn, .ffnOut, .router, .mtpProjection:
                tensors[name] = Tensor.normal(shape, std: role.isOutputProjection ? outputStd : std, seed: UInt64(seed),
                                              stream: RNGPurpose.parameterInit.stream(index), requiresGrad: true)
            }
        }
        return ParameterSet(declarations: declarations, tensors: tensors)
    }

    /// A model of the right shapes whose values only need to be spread, not drawn: norms 1,
    /// buffers 0, every other weight uniform-looking in ±√3·std from a multiplicative hash of
    /// its index (no logarithms or cosines). For the memory estimate's dry steps, whose result
    /// depends on tensor sizes (and on routing spreading tokens over experts), not on values.
    public static func placeholder(_ config: ModelConfig) -> ParameterSet {
        let declarations = config.parameterDeclarations
        var tensors: [String: Tensor] = [:]
        let width = Float(config.initialization.std) * Float(3).squareRoot()
        for (index, declaration) in declarations.enumerated() {
            switch declaration.role {
            case .buffer:
                tensors[declaration.name] = Tensor.zeros(declaration.shape)
            case .norm:
                tensors[declaration.name] = Tensor.ones(declaration.shape, requiresGrad: true)
            default:
                tensors[declaration.name] = Tensor(shape: declaration.shape, requiresGrad: true) { i in
                    let h = UInt32(truncatingIfNeeded: (UInt64(i) &+ UInt64(index) &* 0x9E37_79B9) &* 0x9E37_79B1) >> 8
                    return (Float(h) * 0x1p-24 * 2 - 1) * width
                }
            }
        }
        return ParameterSet(declarations: declarations, tensors: tensors)
    }
}
