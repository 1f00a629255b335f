// The `data`, `train` and `log` sections of a spec: Codable structs (snake_case keys) and the
// schemas that validate them and fill defaults. Key names are the interface the docs and the
// specs use: `data.kind`, `train.steps`, `train.batch_size`, `train.seq_len`,
// `train.optimizer.lr`, `train.eval_every`, `log.flush_every`, `log.checkpoint_every`.
import Config
import Models

public struct DataConfig: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case markovMixture = "markov_mixture", mqar, text, tokens
    }
    public var kind: Kind
    /// Seed of the data (sources, sequences); null = the run's seed.
    public var seed: Int?
    /// Sequences in the fixed validation set.
    public var valSequences: Int
    public var markovMixture: MarkovMixtureConfig?
    public var mqar: MQARConfig?
    public var text: TextConfig?
    public var tokens: TokensConfig?
}

public struct MarkovMixtureConfig: Codable, Sendable, Equatable {
    public var sources: Int
    public var symbols: Int
    public var alpha: Double
}

public struct MQARConfig: Codable, Sendable, Equatable {
    /// Key-value pairs shown before the queries.
    public var pairs: Int
    /// Queries of earlier keys after the pairs.
    public var queries: Int
    /// Distinct keys and distinct values (tokens: keys, then values, then a separator).
    public var keyVocab: Int
    public var valueVocab: Int
}

public struct TextConfig: Codable, Sendable, Equatable {
    /// A UTF-8 text file, or a directory whose files (sorted paths) are concatenated.
    public var path: String
    /// Fraction of the bytes, at the end, held out for validation.
    public var valFraction: Double
    /// In a directory, files whose names end with one of these are left out (e.g. ".dat").
    public var exclude: [String]
    /// "documents": a random document split; nil or "tail": the last val_fraction of the bytes.
    public var split: String?
    /// The line that ends a document (split: documents; nil = "%").
    public var separator: String?
    public var splitSeed: Int?
}

public struct TokensConfig: Codable, Sendable, Equatable {
    public enum Format: String, Codable, Sendable, CaseIterable {
        /// llm.c's header when the file starts with its magic number, else flat uint16.
        case auto
        /// nanoGPT's convention: flat little-endian uint16 (or uint32) token ids, no header.
        case uint16, uint32
        /// llm.c: 256 int32 (magic 20240520, version 1 = uint16 / 2 = uint32, token count), then the ids.
        case llmc
    }
    /// Training tokens (a .bin file).
    public var train: String
    /// Validation tokens, evaluated as consecutive windows from the start.
    public var val: String
    public var format: Format
    /// Vocabulary size of the ids; null = model.vocab. Every id must be below it.
    public var vocab: Int?
    /// A Hugging Face tokenizer.json (byte-level BPE) for `ablate generate`; null = print ids.
    public var tokenizer: String?
}

public struct TrainConfig: Codable, Sendable, Equatable {
    public var steps: Int
    public var batchSize: Int
    public var seqLen: Int
    public var microBatches: Int
    public var optimizer: OptimizerConfig
    public var schedule: ScheduleConfig
    public var evalEvery: Int
    /// Stop with status `diverged` when the loss is not finite or exceeds this.
    public var divergenceLoss: Double
    /// QK-clip (Kimi K2): off when nil.
    public var qkClip: QKClipConfig?
}

public struct QKClipConfig: Codable, Sendable, Equatable {
    /// τ: a head whose largest logit of the step exceeds it has its q/k rows rescaled (MODEL.md).
    public var tau: Double
}

public struct OptimizerConfig: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case adamw, muon }
    /// adamw, or muon (Moonlight) for the 2-D weights with AdamW for the rest; nil = adamw.
    public var kind: Kind?
    public var lr: Double
    public var betas: [Double]
    public var eps: Double
    public var weightDecay: Double
    /// Global-norm gradient clipping threshold; 0 = off.
    public var clip: Double
    /// Muon's momentum μ (nil = 0.95), Nesterov form (nil = true) and Newton–Schulz steps (nil = 5).
    public var momentum: Double?
    public var nesterov: Bool?
    public var nsSteps: Int?

    public var resolvedKind: Kind { kind ?? .adamw }
    public var muonMomentum: Double { momentum ?? 0.95 }
    public var muonNesterov: Bool { nesterov ?? true }
    public var muonNSSteps: Int { nsSteps ?? 5 }
}

public struct ScheduleConfig: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case constant, cosine, wsd }
    public var kind: Kind
    public var warmup: Int
    public var minLr: Double
    /// wsd: steps of the final linear decay.
    public var decaySteps: Int
}

public struct LogConfig: Codable, Sendable, Equatable {
    public var flushEvery: Int
    public var checkpointEvery: Int
    public var tensors: TensorLogConfig
}

public struct TensorLogConfig: Codable, Sendable, Equatable {
    /// Steps at which snapshots are taken (empty = none).
    public var steps: [Int]
    /// Layers whose attention probabilities of the probe batch are stored.
    public var attentionLayers: [Int]
    /// Heads of those layers.
    public var attentionHeads: [Int]
    /// Store router probabilities of the probe batch.
    public var router: Bool
    /// Store singular values of each MLA layer's c_kv over the probe batch.
    public var ckvSpectrum: Bool
    /// Sequences in the probe batch (taken from the validation set).
    public var probeSequences: Int
}

extension DataConfig {
    public static let schema = Section("Where the tokens come from.", [
        Field("kind", .choice(Kind.allCases.map(\.rawValue)), default: .string("markov_mixture"),
              "markov_mixture (known optimum) | mqar (associative recall) | text (bytes of files) | tokens (.bin token files)"),
        Field("seed", .optional(.int(min: 0)), "data seed; null = the run's seed"),
        Field("val_sequences", .int(min: 1), default: .int(64), "sequences in the fixed validation set"),
        Field("markov_mixture", .optional(.section(MarkovMixtureConfig.schema)), "settings of kind markov_mixture (defaults when null)"),
        Field("mqar", .optional(.section(MQARConfig.schema)), "settings of kind mqar (defaults when null)"),
        Field("text", .optional(.section(Section("Bytes (vocab 256) of a file or directory.", [
            Field.required("path", .string, "a UTF-8 text file or a directory of them (relative to the spec)"),
            Field("val_fraction", .double(min: 0, max: 0.5, minExclusive: true), default: .double(0.1),
                  "fraction held out for validation: of the bytes, at the end (split: tail), or of the documents, drawn at random (split: documents)"),
            Field("split", .optional(.choice(["tail", "documents"])),
                  "tail (null): the last val_fraction of the bytes; documents: each document (between separator lines) held out with probability val_fraction, keyed by (split_seed, document)", omittedWhenAbsent: true),
            Field("separator", .optional(.string), "split: documents: the line that ends a document (null = %, as fortune files and scripts/prepare-corpus.sh write)", omittedWhenAbsent: true),
            Field("split_seed", .optional(.int(min: 0)), "split: documents: the seed of the draw (null = 0); fixed across runs so every run sees the same split", omittedWhenAbsent: true),
            Field("exclude", .list(.string), default: .list([]),
                  "in a directory, leave out files whose names end with these suffixes (e.g. [.dat, .u8])"),
        ]))), "settings of kind text (required for it)"),
        Field("tokens", .optional(.section(TokensConfig.schema)), "settings of kind tokens (required for it)",
              omittedWhenAbsent: true),
    ])
}

extension TokensConfig {
    public static let schema = Section("Token ids from .bin files (nanoGPT or llm.c layout; docs/data.md).", [
        Field.required("train", .string, "training tokens (relative to the spec)"),
        Field.required("val", .string, "validation tokens (relative to the spec), evaluated as consecutive windows"),
        Field("format", .choice(Format.allCases.map(\.rawValue)), default: .string("auto"),
              "auto (llm.c header if present, else uint16) | uint16 | uint32 | llmc"),
        Field("vocab", .optional(.int(min: 2)), "vocabulary size of the ids (null = model.vocab)"),
        Field("tokenizer", .optional(.string), "a tokenizer.json (byte-level BPE) that `ablate generate` decodes with"),
    ])
}

extension TrainConfig {
    public static let schema = Section("Optimisation.", [
        Field("steps", .int(min: 1), default: .int(200), "optimizer steps"),
        Field("batch_size", .int(min: 1), default: .int(16), "sequences per step (all micro-batches)"),
        Field("seq_len", .int(min: 2), default: .int(64), "tokens per sequence T"),
        Field("micro_batches", .int(min: 1), default: .int(1), "gradient-accumulation micro-batches (divides batch_size)"),
        Field("optimizer", .section(Section("AdamW (PyTorch semantics), or Muon with AdamW for the parameters Muon does not take.", [
            Field("kind", .optional(.choice(OptimizerConfig.Kind.allCases.map(\.rawValue))),
                  "adamw | muon (Moonlight: orthogonalised momentum for every 2-D weight but embed, head and gate; AdamW for the rest); null = adamw",
                  omittedWhenAbsent: true),
            Field("lr", .double(min: 0, minExclusive: true), default: .double(3e-3), "peak learning rate"),
            Field("betas", .list(.double(min: 0, max: 1)), default: .list([.double(0.9), .double(0.95)]), "β1, β2"),
            Field("eps", .double(min: 0, minExclusive: true), default: .double(1e-8), "Adam epsilon"),
            Field("weight_decay", .double(min: 0), default: .double(0.1), "decoupled weight decay of 2-D weights"),
            Field("clip", .double(min: 0), default: .double(1.0), "global-norm gradient clip; 0 = off"),
            Field("momentum", .optional(.double(min: 0, max: 1)), "muon: momentum μ (null = 0.95, Moonlight)", omittedWhenAbsent: true),
            Field("nesterov", .optional(.bool), "muon: Nesterov form U = G + μ·M (null = true)", omittedWhenAbsent: true),
            Field("ns_steps", .optional(.int(min: 1)), "muon: Newton–Schulz iterations (null = 5)", omittedWhenAbsent: true),
        ])), "optimizer"),
        Field("schedule", .section(Section("Learning-rate schedule.", [
            Field("kind", .choice(ScheduleConfig.Kind.allCases.map(\.rawValue)), default: .string("cosine"),
                  "constant | cosine (warmup + cosine to min_lr) | wsd (warmup-stable-decay)"),
            Field("warmup", .int(min: 0), default: .int(10), "linear warmup steps"),
            Field("min_lr", .double(min: 0), default: .double(3e-4), "final learning rate (cosine, wsd)"),
            Field("decay_steps", .int(min: 0), default: .int(0), "wsd: steps of the final linear decay"),
        ])), "schedule"),
        Field("eval_every", .int(min: 1), default: .int(50), "evaluate on the validation set every N steps (and at the end)"),
        Field("divergence_loss", .double(min: 0, minExclusive: true), default: .double(100),
              "a training loss above this (or not finite) ends the run as diverged"),
        Field("qk_clip", .optional(.section(Section("QK-clip (Kimi K2): caps each head's largest attention logit.", [
            Field.required("tau", .double(min: 0, minExclusive: true), "τ: after each step, a head whose largest logit exceeded τ has its q/k rows scaled by τ/S (K2 uses 100)"),
        ]))), "QK-clip (Kimi K2, arXiv 2507.20534); null = off", omittedWhenAbsent: true),
    ])
}

extension LogConfig {
    public static let schema = Section("What the run file records, and how often it is made durable.", [
        Field("flush_every", .int(min: 1), default: .int(10), "flush appended metrics to disk every N steps"),
        Field("checkpoint_every", .int(min: 1), default: .int(50), "write a resumable checkpoint every N steps"),
        Field("tensors", .section(Section("Tensor snapshots of a fixed probe batch.", [
            Field("steps", .list(.int(min: 0)), default: .list([]), "steps at which snapshots are taken"),
            Field("attention_layers", .list(.int(min: 0)), default: .list([]), "layers whose attention probabilities are stored"),
            Field("attention_heads", .list(.int(min: 0)), default: .list([.int(0)]), "heads of those layers"),
            Field("router", .bool, default: .bool(true), "store router probabilities (MoE layers)"),
            Field("ckv_spectrum", .bool, default: .bool(true), "store singular values of each MLA layer's c_kv"),
            Field("probe_sequences", .int(min: 1), default: .int(4), "sequences in the probe batch"),
        ])), "tensor snapshots"),
    ])
}

extension TrainConfig {
    /// Combinations no single key shows.
    public func problems(at path: String = "train") -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if batchSize % microBatches != 0 {
            problems.append(ConfigProblem(path: "\(path).micro_batches", "must divide batch_size (\(batchSize)), got \(microBatches)"))
        }
        if optimizer.resolvedKind != .muon {
            for (key, given) in [("momentum", optimizer.momentum != nil), ("nesterov", optimizer.nesterov != nil),
                                 ("ns_steps", optimizer.nsSteps != nil)] where given {
                problems.append(ConfigProblem(path: "\(path).optimizer.\(key)", "is a Muon setting; it needs optimizer.kind: muon"))
            }
        }
        if let momentum = optimizer.momentum, momentum >= 1 {
            problems.append(ConfigProblem(path: "\(path).optimizer.momentum", "must be < 1, got \(momentum)"))
        }
        if optimizer.betas.count != 2 {
            problems.append(ConfigProblem(path: "\(path).optimizer.betas", "expected two numbers [β1, β2], got \(optimizer.betas.count)"))
        }
        if schedule.warmup > steps {
            problems.append(ConfigProblem(path: "\(path).schedule.warmup", "must be ≤ steps (\(steps)), got \(schedule.warmup)"))
        }
        if schedule.kind == .wsd, schedule.warmup + schedule.decaySteps > steps {
            problems.append(ConfigProblem(path: "\(path).schedule.decay_steps", "warmup + decay_steps must be ≤ steps (\(steps))"))
        }
        if schedule.kind != .constant, schedule.minLr > optimizer.lr {
            problems.append(ConfigProblem(path: "\(path).schedule.min_lr", "must be ≤ optimizer.lr (\(optimizer.lr))"))
        }
        return problems
    }
}

extension DataConfig {
    /// Combinations the data needs from the model and itself.
    public func problems(model: ModelConfig, at path: String = "data") -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        let given: [(String, Bool)] = [("markov_mixture", markovMixture != nil), ("mqar", mqar != nil), ("text", text != nil),
                                       ("tokens", tokens != nil)]
        for (key, present) in given where present && key != kind.rawValue {
            problems.append(ConfigProblem(path: "\(path).\(key)", "is set but data.kind is \(kind.rawValue)"))
        }
        let needed: Int
        switch kind {
        case .markovMixture: needed = (markovMixture ?? .defaults).symbols
        case .mqar:
            let m = mqar ?? .defaults
            needed = m.keyVocab + m.valueVocab + 1
        case .text:
            needed = 256
            if text == nil { problems.append(ConfigProblem(path: "\(path).text.path", "required when data.kind is text")) }
            if let text, text.split != "documents" {
                for (key, given) in [("separator", text.separator != nil), ("split_seed", text.splitSeed != nil)] where given {
                    problems.append(ConfigProblem(path: "\(path).text.\(key)", "only applies with data.text.split: documents"))
                }
            }
        case .tokens:
            needed = tokens?.vocab ?? model.vocab
            if tokens == nil { problems.append(ConfigProblem(path: "\(path).tokens.train", "required when data.kind is tokens")) }
        }
        if model.vocab < needed {
            problems.append(ConfigProblem(path: "model.vocab", "must be ≥ \(needed) for data.kind \(kind.rawValue), got \(model.vocab)"))
        }
        return problems
    }
}

extension MarkovMixtureConfig {
    public static let schema = Section("K order-1 Markov sources; each sequence from one.", [
        Field("sources", .int(min: 1), default: .int(8), "number of sources K"),
        Field("symbols", .int(min: 2), default: .int(64), "symbols per source V_s (must be ≤ model.vocab)"),
        Field("alpha", .double(min: 0, minExclusive: true), default: .double(0.1),
              "Dirichlet concentration of each transition row"),
    ])

    /// The settings of `data.markov_mixture: null`: the schema's defaults.
    public static let defaults = try! ConfigDecoding.decode(MarkovMixtureConfig.self, from: Resolver.defaults(of: schema))
}

extension MQARConfig {
    public static let schema = Section("Multi-query associative recall (Zoology).", [
        Field("pairs", .int(min: 1), default: .int(8), "key-value pairs per sequence"),
        Field("queries", .int(min: 1), default: .int(8), "queries of earlier keys"),
        Field("key_vocab", .int(min: 2), default: .int(32), "distinct keys"),
        Field("value_vocab", .int(min: 2), default: .int(32), "distinct values"),
    ])

    /// The settings of `data.mqar: null`: the schema's defaults.
    public static let defaults = try! ConfigDecoding.decode(MQARConfig.self, from: Resolver.defaults(of: schema))
}
