import Config
import Foundation
import Testing
@testable import Experiments
import Models
import Training

/// Each spec key is written twice: as a schema `Field` (type, default, doc) and as a Codable
/// field of the struct the layers read. This ties the two lists: every section, resolved from
/// samples that set every optional part, is decoded, re-encoded and compared key by key with
/// the resolved value. A schema key without a struct field, a struct field without a schema
/// key, or a key spelled differently in the two fails here.
struct ConfigFieldsTests {
    static let samples: [[String: ConfigValue]] = [
        ["model": ["attention": ["kind": "gqa", "heads": 4, "n_kv_heads": 2, "head_dim": 8]],
         "data": ["kind": "markov_mixture", "seed": 3, "markov_mixture": ["sources": 2]],
         "train": [:], "log": ["tensors": ["steps": [0], "attention_layers": [1]]]],
        ["model": ["attention": ["kind": "mla", "kv_rank": 8, "kv_norm": false, "q_rank": 4, "d_nope": 4, "d_rope": 2, "d_v": 4],
                   "ffn": ["kind": "moe", "moe": ["capacity_factor": 1.25, "router": ["groups": 2],
                                                   "balance": ["aux": "batch", "aux_scope": "group", "aux_group": 2]]]],
         "data": ["kind": "mqar", "mqar": ["pairs": 4]],
         "train": ["schedule": ["kind": "wsd"], "qk_clip": ["tau": 100]], "log": [:]],
        ["model": ["mtp": ["depth": 2, "weight": 0.1]], "data": ["kind": "text", "text": ["path": "corpus", "exclude": [".dat"], "split": "documents",
                                                                     "separator": "%", "split_seed": 2]],
         "train": ["optimizer": ["kind": "muon", "momentum": 0.9, "nesterov": false, "ns_steps": 4]], "log": [:]],
        ["model": [:], "data": ["kind": "tokens", "tokens": ["train": "t.bin", "val": "v.bin", "format": "llmc", "vocab": 300,
                                                                 "tokenizer": "tokenizer.json"]], "train": [:], "log": [:]],
    ]

    nonisolated(unsafe) static let sections: [(key: String, schema: Section, roundTrip: @Sendable (ConfigValue) throws -> ConfigValue)] = [
        ("model", ModelConfig.schema, { try reencode(ModelConfig.self, $0) }),
        ("data", DataConfig.schema, { try reencode(DataConfig.self, $0) }),
        ("train", TrainConfig.schema, { try reencode(TrainConfig.self, $0) }),
        ("log", LogConfig.schema, { try reencode(LogConfig.self, $0) }),
    ]

    static func reencode<T: Codable>(_ type: T.Type, _ value: ConfigValue) throws -> ConfigValue {
        let decoded = try ConfigDecoding.decode(T.self, from: value)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try ConfigValue.parse(String(decoding: try encoder.encode(decoded), as: UTF8.self))
    }

    /// Leaf key paths with their values; null and absent are the same (Codable omits nil).
    static func leaves(_ value: ConfigValue, _ path: String = "") -> [String: ConfigValue] {
        guard case .map(let map) = value else { return value == .null ? [:] : [path: value] }
        var result: [String: ConfigValue] = [:]
        for (key, inner) in map { result.merge(leaves(inner, path.isEmpty ? key : "\(path).\(key)")) { a, _ in a } }
        if map.isEmpty, !path.isEmpty { result[path] = value }
        return result
    }

    /// Every key path the schema declares (sections recursed, optional ones too).
    static func schemaPaths(_ section: Section, _ path: String = "") -> [String] {
        section.fields.flatMap { field -> [String] in
            let fieldPath = path.isEmpty ? field.key : "\(path).\(field.key)"
            var type = field.type
            if case .optional(let inner) = type { type = inner }
            if case .section(let inner) = type { return schemaPaths(inner, fieldPath) }
            return [fieldPath]
        }
    }

    @Test(arguments: 0..<4) func codableFieldsAndSchemaAgree(_ sectionIndex: Int) throws {
        let (key, schema, roundTrip) = Self.sections[sectionIndex]
        var seen = Set<String>()
        for sample in Self.samples {
            var resolver = Resolver(file: "sample")
            let resolved = resolver.resolve(sample[key], against: schema, at: key)
            #expect(resolver.problems.isEmpty, "\(resolver.problems)")
            let expected = Self.leaves(resolved), actual = Self.leaves(try roundTrip(resolved))
            for path in Set(expected.keys).union(actual.keys).sorted() {
                #expect(expected[path] == actual[path],
                        "\(key).\(path): schema gives \(expected[path]?.description ?? "nothing"), the Codable struct \(actual[path]?.description ?? "nothing")")
            }
            seen.formUnion(expected.keys)
        }
        // The samples exercise every key the schema declares, so none escapes the comparison.
        let missing = Set(Self.schemaPaths(schema)).subtracting(seen)
        #expect(missing.isEmpty, "\(key): keys no sample sets: \(missing.sorted())")
    }

    /// The defaults of a data source left null come from its schema.
    @Test func dataSourceDefaultsComeFromTheSchema() throws {
        let markov = try Self.reencode(MarkovMixtureConfig.self, Resolver.defaults(of: MarkovMixtureConfig.schema))
        #expect(try Self.reencode(MarkovMixtureConfig.self, markov) == markov)
        #expect(MarkovMixtureConfig.defaults == (try ConfigDecoding.decode(MarkovMixtureConfig.self, from: Resolver.defaults(of: MarkovMixtureConfig.schema))))
        #expect(MQARConfig.defaults == (try ConfigDecoding.decode(MQARConfig.self, from: Resolver.defaults(of: MQARConfig.schema))))
        #expect(MQARConfig.defaults.pairs == Resolver.defaults(of: MQARConfig.schema)["pairs"]?.intValue)
    }
}
