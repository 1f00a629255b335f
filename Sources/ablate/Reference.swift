import ArgumentParser
import Experiments

struct Reference: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the spec reference (every key, type, default, meaning) as Markdown.")

    func run() throws {
        print(SpecReference.markdown(), terminator: "")
    }
}
