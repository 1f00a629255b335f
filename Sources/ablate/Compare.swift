import ArgumentParser
import Foundation
import RunStore

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two run files dataset by dataset (bitwise).",
        discussion: """
        Compares every logged metric, MoE series, tensor snapshot and the final checkpoint of \
        two run files, wall-clock fields excepted — e.g. the same spec run on two machines, two \
        kernel paths (ABLATE_ISA) or two thread counts. `ablate verify --isa` re-executes a run \
        and compares in one step. Exit code 0 when identical, 1 otherwise.
        """)

    @Argument(help: "The first run file (run.h5) or run directory.")
    var first: String

    @Argument(help: "The second run file (run.h5) or run directory.")
    var second: String

    @Flag(help: "List every dataset, not only the ones that differ.")
    var verbose = false

    func run() throws {
        func file(_ path: String) -> String {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
                ? URL(fileURLWithPath: path).appendingPathComponent("run.h5").path : path
        }
        let comparison: RunComparison
        do {
            let a = try RunFileReader(path: file(first)), b = try RunFileReader(path: file(second))
            defer { a.close(); b.close() }
            let isaA = (try? a.attributes().run.isa) ?? "?", isaB = (try? b.attributes().run.isa) ?? "?"
            print("kernel paths: \(isaA) vs \(isaB)")
            comparison = try RunComparison.compare(a, b)
        } catch {
            throw fail("\(error)")
        }
        let differing = comparison.entries.filter { !$0.identical }
        for entry in comparison.entries where verbose || !entry.identical {
            print("  \(entry.identical ? "same" : "DIFFERENT")  \(entry.name)  (\(entry.detail))")
        }
        print("\(comparison.entries.count - differing.count)/\(comparison.entries.count) datasets identical")
        if !comparison.identical { throw fail("not identical", code: 1) }
    }
}
