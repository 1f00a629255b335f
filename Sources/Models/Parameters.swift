// The parameters of a decoder: named exactly as MODEL.md, kept in the fixed order of
// `ModelConfig.parameterShapes`, initialised from a counter-based RNG keyed by (seed, purpose,
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

    public func stream(_ index: Int) -> UInt64 { rawValue << 32 | UInt64(index) }
}

/// Trainable parameters (leaves requiring grad) and the balancing-bias buffers.
public struct ParameterSet {
    /// Names in enumeration order (MODEL.md's names, gate.bias buffers included).
    public let names: [String]
    /// Name → tensor. Trained parameters require grad; gate.bias buffers do not.
    public private(set) var tensors: [String: Tensor]

    public init(names: [String], tensors: [String: Tensor]) {
        precondition(Set(names) == Set(tensors.keys), "ParameterSet: names and tensors differ")
        self.names = names
        self.tensors = tensors
    }

    public subscript(name: String) -> Tensor {
        guard let tensor = tensors[name] else { fatalError("no parameter named '\(name)'") }
        return tensor
    }

    /// True for gate.bias: a buffer moved by loss-free balancing, never by gradients.
    public static func isBuffer(_ name: String) -> Bool { name.hasSuffix(".gate.bias") }

    /// Weight decay applies to 2-D weights only (MODEL.md).
    public static func isDecayed(_ name: String, shape: [Int]) -> Bool { shape.count == 2 && !isBuffer(name) }

    /// Names of the trained parameters, in order.
    public var trainedNames: [String] { names.filter { !Self.isBuffer($0) } }

    /// Replaces a tensor's values (same shape), keeping its role (leaf or buffer).
    public mutating func setValues(_ name: String, _ values: [Float]) {
        let old = self[name]
        precondition(values.count == old.count, "setValues: \(name) has \(old.count) elements, got \(values.count)")
        let fresh = Tensor(shape: old.shape, scalars: values)
        tensors[name] = Self.isBuffer(name) ? fresh : fresh.requiringGrad()
    }

    /// Initial parameters for `config` and `seed`: weight matrices N(0, std) (output
    /// projections std/sqrt(2L) when init.scaled_output), norm weights 1, gate.bias 0.
    public static func initial(_ config: ModelConfig, seed: Int) -> ParameterSet {
        var names: [String] = []
        var tensors: [String: Tensor] = [:]
        let std = Float(config.initialization.std)
        let outputStd = config.initialization.scaledOutput ? std / Float(2 * config.nLayers).squareRoot() : std
        for (index, entry) in config.parameterShapes.enumerated() {
            let (name, shape) = entry
            names.append(name)
            if isBuffer(name) {
                tensors[name] = Tensor.zeros(shape)
            } else if shape.count == 1 {
                tensors[name] = Tensor.ones(shape, requiresGrad: true)
            } else {
                let isOutput = name.hasSuffix(".attn.wo.weight") || name.hasSuffix(".w2.weight")
                tensors[name] = Tensor.normal(shape, std: isOutput ? outputStd : std, seed: UInt64(seed),
                                              stream: RNGPurpose.parameterInit.stream(index), requiresGrad: true)
            }
        }
        return ParameterSet(names: names, tensors: tensors)
    }
}
