// Muon (MODEL.md "Muon") on hand-made parameter sets: which parameters it takes, its state, the
// orthogonalised update's size and direction, its arithmetic against a Double re-computation,
// and the config's validation. tools/reference checks it on whole models (parity cells).
import Config
import Foundation
import Models
import Tensor
import Testing
@testable import Training

@Suite struct MuonTests {
    /// A wide and a tall matrix (Muon), a router and a norm (AdamW).
    static func parameters(seed: UInt64 = 7) -> ParameterSet {
        let declarations = [
            ParameterDeclaration(name: "wide.weight", shape: [3, 5], role: .attentionIn),
            ParameterDeclaration(name: "tall.weight", shape: [6, 4], role: .ffnOut),
            ParameterDeclaration(name: "x.gate.weight", shape: [2, 4], role: .router),
            ParameterDeclaration(name: "n.weight", shape: [4], role: .norm),
        ]
        var tensors: [String: Tensor] = [:]
        for (index, d) in declarations.enumerated() {
            tensors[d.name] = Tensor.normal(d.shape, std: 0.5, seed: seed, stream: UInt64(index)).requiringGrad()
        }
        return ParameterSet(declarations: declarations, tensors: tensors)
    }

    /// Gives every parameter the gradient `c` (a fixed pattern) through a backward pass.
    static func setGradients(_ params: ParameterSet) {
        var loss = Tensor(0)
        for name in params.trainedNames {
            let p = params[name]
            let c = Tensor(shape: p.shape) { i in Float((i * 7) % 11) / 11 - 0.45 }
            loss = loss + (p * c).sum()
        }
        loss.backward()
    }

    static func config(_ extra: [String: ConfigValue] = [:]) throws -> OptimizerConfig {
        var given: [String: ConfigValue] = ["kind": "muon", "lr": 0.02, "weight_decay": 0.1, "clip": 0]
        for (k, v) in extra { given[k] = v }
        var resolver = Resolver()
        let resolved = resolver.resolve(.map(["optimizer": .map(given)]), against: TrainConfig.schema, at: "train")
        #expect(resolver.problems.isEmpty, "\(resolver.problems)")
        guard case .map(let train) = resolved, let optimizer = train["optimizer"] else { throw ConfigProblem(path: "train", "no optimizer") }
        return try ConfigDecoding.decode(OptimizerConfig.self, from: optimizer)
    }

    @Test func takesTheMatricesButRoutersAndKeepsOneMomentum() throws {
        let params = Self.parameters()
        let optimizer = Optimizer(config: try Self.config(), params: params)
        #expect(optimizer.muonNames == ["wide.weight", "tall.weight"])
        #expect(optimizer.v["wide.weight"] == nil && optimizer.v["tall.weight"] == nil)
        #expect(optimizer.v["x.gate.weight"] != nil && optimizer.v["n.weight"] != nil)
        #expect(Set(optimizer.m.keys) == Set(params.trainedNames))
        let adam = Optimizer(config: try Self.config(["kind": "adamw"]), params: params)
        #expect(adam.muonNames.isEmpty && adam.v.count == 4)
    }

    /// The step equals MODEL.md's formulas recomputed in Double (within float32 rounding), for
    /// both Nesterov forms, a wide and a tall matrix, over two steps (the momentum carries).
    @Test(arguments: [true, false]) func matchesTheFormulasInDouble(nesterov: Bool) throws {
        let config = try Self.config(["nesterov": .bool(nesterov), "momentum": 0.9])
        let params = Self.parameters()
        var optimizer = Optimizer(config: config, params: params)
        var expected: [String: [Double]] = [:], momentum: [String: [Double]] = [:]
        for name in optimizer.muonNames { expected[name] = params[name].scalars.map(Double.init) }
        for _ in 0..<2 {
            Self.setGradients(params)
            for name in optimizer.muonNames {
                let shape = params[name].shape
                let grad: [Float] = params[name].withGradBuffer { Array($0!) }
                let g: [Double] = grad.map { Double($0) }
                var m = momentum[name] ?? Array(repeating: 0, count: g.count)
                var u = m
                for i in m.indices {
                    m[i] = 0.9 * m[i] + g[i]
                    u[i] = nesterov ? g[i] + 0.9 * m[i] : m[i]
                }
                momentum[name] = m
                let x = Self.newtonSchulz(u, rows: shape[0], cols: shape[1], steps: 5)
                let scale: Double = 0.02 * 0.2 * Double(max(shape[0], shape[1])).squareRoot()
                var w: [Double] = expected[name]!
                for i in w.indices { w[i] = w[i] * (1 - 0.02 * 0.1) - scale * x[i] }
                expected[name] = w
            }
            optimizer.step(params, lr: 0.02)
            for name in params.trainedNames { params[name].zeroGrad() }
        }
        for name in optimizer.muonNames {
            let got = params[name].scalars
            let worst = zip(got, expected[name]!).map { abs(Double($0) - $1) }.max()!
            #expect(worst < 2e-5, "\(name): max |Δ| \(worst)")
        }
    }

    /// Newton–Schulz in Double as MODEL.md writes it (the transpose included).
    static func newtonSchulz(_ u: [Double], rows: Int, cols: Int, steps: Int) -> [Double] {
        let norm = u.reduce(0) { $0 + $1 * $1 }.squareRoot() + 1e-7
        let t = rows > cols
        let (r, c) = t ? (cols, rows) : (rows, cols)
        var x = [Double](repeating: 0, count: r * c)
        for i in 0..<rows { for j in 0..<cols { x[t ? j * rows + i : i * cols + j] = u[i * cols + j] / norm } }
        func mul(_ a: [Double], _ b: [Double], _ n: Int, _ k: Int, _ m: Int, transB: Bool = false) -> [Double] {
            var out = [Double](repeating: 0, count: n * m)
            for i in 0..<n { for j in 0..<m { for l in 0..<k { out[i * m + j] += a[i * k + l] * (transB ? b[j * k + l] : b[l * m + j]) } } }
            return out
        }
        for _ in 0..<steps {
            let a = mul(x, x, r, c, r, transB: true)
            let aa = mul(a, a, r, r, r)
            let b = zip(a, aa).map { -4.7750 * $0 + 2.0315 * $1 }
            let bx = mul(b, x, r, r, c)
            x = zip(x, bx).map { 3.4445 * $0 + $1 }
        }
        var out = [Double](repeating: 0, count: rows * cols)
        for i in 0..<rows { for j in 0..<cols { out[i * cols + j] = x[t ? j * rows + i : i * cols + j] } }
        return out
    }

    /// The update is close to orthogonal: X·Xᵀ of the wide matrix is near the identity (the
    /// quintic's singular values land in about [0.7, 1.2]), whatever the gradient's scale.
    @Test func updateIsNearlyOrthogonal() {
        for scale in [1e-3, 1.0, 1e3] {
            var u = [Double](repeating: 0, count: 15)
            for i in 0..<15 {
                let base: Double = Double((i * 5) % 7) - 3
                u[i] = scale * (base + 0.1 * Double(i))
            }
            let x = Self.newtonSchulz(u, rows: 3, cols: 5, steps: 5)
            for i in 0..<3 {
                var diagonal = 0.0
                for j in 0..<5 { diagonal += x[i * 5 + j] * x[i * 5 + j] }
                #expect(diagonal > 0.45 && diagonal < 1.5, "scale \(scale): ‖row \(i)‖² = \(diagonal)")
            }
        }
    }

    @Test func muonSettingsNeedMuon() throws {
        var train = try TrainConfigFixture.decode()
        train.optimizer.momentum = 0.9
        #expect(train.problems().map(\.path) == ["train.optimizer.momentum"])
        train.optimizer.kind = .muon
        #expect(train.problems().isEmpty)
        train.optimizer.momentum = 1
        #expect(train.problems().map(\.path) == ["train.optimizer.momentum"])
    }
}

enum TrainConfigFixture {
    static func decode() throws -> TrainConfig {
        try ConfigDecoding.decode(TrainConfig.self, from: Resolver.defaults(of: TrainConfig.schema))
    }
}
