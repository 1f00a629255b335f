import ArgumentParser
import Config
import Experiments
import Foundation

/// The training form's logits of a trained run on given tokens, as JSON: what the export tests
/// compare transformers' logits with.
struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a trained run's logits on token ids as JSON ([position][vocab]).",
        shouldDisplay: false)

    @Argument(help: "The run directory (holding run.h5).")
    var runDir: String

    @Option(help: "Token ids separated by spaces (or text, for a run on text).")
    var tokens: String

    @Option(help: "The checkpoint after this step (default: the last).")
    var step: Int?

    func run() throws {
        do {
            let (cell, params, _) = try TrainedModel.load(runDirectory: runDir, step: step)
            let ids = try TrainedModel.tokens(tokens, cell: cell)
            guard !ids.isEmpty else { throw fail("--tokens is empty", code: 2) }
            let rows = TrainedModel.logits(cell.model, params, tokens: ids)
            print(JSONValue.list(rows.map { .list($0.map { .double(Double($0)) }) }).canonical)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw fail("\(error)")
        }
    }
}
