// Fuzzed spec input (issue 13, item 6; docs/reliability.md, "Bad spec input (fuzzing)"): mutated
// YAML specs and `key=value` overrides go to SpecLoader.load, the code `ablate run`, `sweep` and
// `validate` start with. No input may crash it, and every refusal must name a key or a file, on
// one line. A seeded random-mutation fuzzer (libFuzzer: see the docs for why not), bounded in
// time (ABLATE_FUZZ_SECONDS, default 60), plus a replay of the corpus and of every crash found
// (Tests/Fuzz/corpus, Tests/Fuzz/crashes).
import Config
import Foundation
import Testing
import TestSupport
@testable import Experiments

/// Where the corpus and the crash regressions live.
enum FuzzFiles {
    static let root = TestEnvironment.packageRoot.appendingPathComponent("Tests/Fuzz")

    /// (name, YAML text, overrides) of every case in a folder: `X.yaml`, with overrides in
    /// `X.overrides` (one per line) when present.
    static func cases(_ folder: String) throws -> [(name: String, yaml: String, overrides: [String])] {
        let directory = root.appendingPathComponent(folder)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }.sorted()
        return try names.map { name in
            let yaml = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            let sidecar = directory.appendingPathComponent(String(name.dropLast(5)) + ".overrides")
            let overrides = (try? String(contentsOf: sidecar, encoding: .utf8))
                .map { $0.split(separator: "\n", omittingEmptySubsequences: true).map { $0.replacingOccurrences(of: "\\n", with: "\n") } } ?? []
            return (name, yaml, overrides)
        }
    }

    static func overrideCorpus() throws -> [String] {
        try String(contentsOf: root.appendingPathComponent("corpus/overrides.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
    }
}

/// Loads one input; returns a description of what is wrong with the outcome, nil if it is fine.
/// (A crash cannot be returned: it ends the test process, which fails the run.)
func checkSpecInput(yaml: String, overrides: [String], in folder: URL, name: String = "spec.yaml") -> String? {
    let file = folder.appendingPathComponent(name).path
    do {
        try yaml.write(toFile: file, atomically: false, encoding: .utf8)
    } catch {
        return nil   // not representable as a file (cannot happen for UTF-8 text)
    }
    do {
        _ = try SpecLoader.load(file, overrides: overrides)
        return nil
    } catch {
        for problem in error.problems {
            if problem.path.isEmpty && (problem.file ?? "").isEmpty {
                return "refusal names neither a key nor a file: \(problem.message)"
            }
            if problem.description.contains("\n") {
                return "refusal is not one line: \(problem.description)"
            }
        }
        if error.problems.isEmpty { return "refused without a problem" }
        return nil
    }
}

/// Mutations: text-level on the YAML, structure-level through overrides of known keys.
struct SpecMutator {
    var rng: SplitMix64
    let corpus: [String]
    let overrides: [String]
    let keys: [String]

    static let tokens = [
        ":", ": ", "- ", "-", "{", "}", "[", "]", ",", "&a ", "*a", "<<: *a", "!!binary ", "!!str ", "!!int ", "!!float ",
        "? ", "|", ">", "\"", "'", "#", "\t", "\n", "\n  ", "~", "null", "true", "yes", "0x7fffffffffffffff",
        "9223372036854775807", "-9223372036854775808", "99999999999999999999999", "1e308", "-1e308", "1e-320",
        ".nan", ".inf", "-.inf", "0", "-1", "1.5", "0o17", "extends: [x.yaml]", "extends: ''", "\u{0}", "\u{FEFF}",
        "é", "💥", "%YAML 1.2\n---\n", "---\n", "...\n",
    ]
    static let values = [
        "0", "-1", "1", "2", "3", "7", "1000000", "16777216", "16777217", "33554432", "2147483648", "4294967296", "4611686018427387904",
        "9223372036854775807", "-9223372036854775808", "99999999999999999999", "1e308", "-1e308", "1e-320",
        ".nan", ".inf", "-.inf", "0.5", "1.0", "true", "null", "~", "''", "x", "mla", "moe", "dense", "mqar", "text",
        "[]", "[0]", "[1, 2]", "[[1]]", "{}", "{a: 1}", "[9223372036854775807]", "{grid: {seed: [1, 2]}}",
        "{cells: [{}]}", "{zip: {a: [1], b: [1, 2]}}", "/nonexistent", "../x", "&a [*a]",
    ]

    mutating func int(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(rng.next() % UInt64(bound)) }
    mutating func pick<T>(_ list: [T]) -> T { list[int(list.count)] }

    mutating func mutateText(_ text: String) -> String {
        var chars = Array(text.unicodeScalars)
        for _ in 0..<(1 + int(4)) {
            let at = int(chars.count + 1)
            switch int(7) {
            case 0 where !chars.isEmpty:   // delete a span
                let end = min(chars.count, at + 1 + int(20))
                if at < end { chars.removeSubrange(at..<end) }
            case 1:   // insert a token
                chars.insert(contentsOf: Self.tokens[int(Self.tokens.count)].unicodeScalars, at: at)
            case 2 where !chars.isEmpty:   // replace a character
                let index = min(at, chars.count - 1)
                chars[index] = pick(Array(":-{}[], \n\t#&*!|>'\"0123456789aze.~".unicodeScalars))
            case 3 where !chars.isEmpty:   // duplicate a span
                let end = min(chars.count, at + 1 + int(60))
                if at < end { chars.insert(contentsOf: chars[at..<end], at: at) }
            case 4:   // splice a line from another corpus spec
                let lines = pick(corpus).split(separator: "\n")
                if let line = lines.isEmpty ? nil : lines[int(lines.count)] {
                    chars.insert(contentsOf: (String(line) + "\n").unicodeScalars, at: at)
                }
            case 5:   // replace a number-looking word with an interesting value
                chars.insert(contentsOf: Self.values[int(Self.values.count)].unicodeScalars, at: at)
            default:   // change indentation of a line
                if let newline = chars[min(at, chars.count)...].firstIndex(of: "\n") {
                    if int(2) == 0 { chars.insert(" ", at: newline + 1) }
                    else if newline + 1 < chars.count, chars[newline + 1] == " " { chars.remove(at: newline + 1) }
                }
            }
        }
        return String(String.UnicodeScalarView(chars))
    }

    mutating func override() -> String {
        switch int(4) {
        case 0: return pick(overrides)
        case 1: return mutateText(pick(overrides))
        case 2: return pick(keys) + "=" + pick(Self.values)
        default:
            let key = pick(keys).split(separator: ".").dropLast(int(2)).joined(separator: ".")
            return pick(["", "=", ".", "..", "x", " ", "=="]) + key + pick(["=", "==", "= ", "=[", ".="]) + pick(Self.values)
        }
    }

    mutating func next() -> (yaml: String, overrides: [String]) {
        var yaml = pick(corpus)
        if int(4) != 0 { yaml = mutateText(yaml) }
        var list: [String] = []
        for _ in 0..<int(4) { list.append(override()) }
        return (yaml, list)
    }
}

@Suite struct SpecFuzzTests {
    @Test func corpusAndCrashRegressionsLoadWithoutCrashing() throws {
        let folder = try TestEnvironment.temporaryDirectory("fuzz-replay")
        let cases = try FuzzFiles.cases("corpus") + FuzzFiles.cases("crashes")
        #expect(cases.count >= 5)
        for entry in cases {
            let problem = checkSpecInput(yaml: entry.yaml, overrides: entry.overrides, in: folder)
            #expect(problem == nil, "\(entry.name): \(problem ?? "")")
        }
        // The corpus specs themselves are valid.
        for entry in try FuzzFiles.cases("corpus") {
            let file = folder.appendingPathComponent(entry.name).path
            try entry.yaml.write(toFile: file, atomically: false, encoding: .utf8)
            #expect(throws: Never.self, "\(entry.name) is a valid spec") { try SpecLoader.load(file) }
        }
    }

    @Test func mutatedSpecsAndOverridesNeverCrashTheLoader() throws {
        let seconds = ProcessInfo.processInfo.environment["ABLATE_FUZZ_SECONDS"].flatMap(Double.init) ?? 60
        let seed = ProcessInfo.processInfo.environment["ABLATE_FUZZ_SEED"].flatMap(UInt64.init) ?? 2024
        let folder = try TestEnvironment.temporaryDirectory("fuzz")
        let keys = SchemaDocs.rows(SpecSchema.root, prefix: "").map(\.path)
        var mutator = SpecMutator(rng: SplitMix64(state: seed), corpus: try FuzzFiles.cases("corpus").map(\.yaml),
                                  overrides: try FuzzFiles.overrideCorpus(), keys: keys)
        // The input being tried is written first, so a crash leaves it behind to keep in Tests/Fuzz/crashes.
        let current = folder.appendingPathComponent("current.yaml")
        let currentOverrides = folder.appendingPathComponent("current.overrides")
        print("spec fuzz: seed \(seed), \(Int(seconds)) s; a crash leaves its input in \(current.path) (+ .overrides)")
        let start = Date()
        var iterations = 0
        var failures: [String] = []
        while Date().timeIntervalSince(start) < seconds {
            let input = mutator.next()
            try input.yaml.write(to: current, atomically: false, encoding: .utf8)
            try input.overrides.joined(separator: "\n").write(to: currentOverrides, atomically: false, encoding: .utf8)
            if let problem = checkSpecInput(yaml: input.yaml, overrides: input.overrides, in: folder) {
                failures.append("iteration \(iterations): \(problem)\n  overrides: \(input.overrides)\n  yaml: \(input.yaml.prefix(300))")
            }
            iterations += 1
        }
        print("spec fuzz: \(iterations) inputs in \(Int(Date().timeIntervalSince(start))) s, \(failures.count) bad refusal(s)")
        #expect(iterations > 100)
        #expect(failures.isEmpty, "\(failures.prefix(5).joined(separator: "\n"))")
    }
}
