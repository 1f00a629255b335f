import ArgumentParser
import Experiments
import Foundation
import Tensor

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a parity dump: initial parameters, batches, step-0 logits and gradients, losses, final parameters.",
        discussion: """
        Runs the first cell of SPEC (after overrides) for --steps AdamW steps and writes an HDF5 \
        file that tools/reference/reference.py checks against an independent implementation. \
        Layout: /params/<name>, /batches/{inputs,targets,mask} [N, B, T], /step_0/logits, \
        /step_0/grads/<name>, /losses/{total,ce,aux,z} [N], /params_final/<name>; the root \
        attribute resolved_spec holds the resolved spec as YAML.
        """)

    @OptionGroup var target: SpecArguments

    @Option(help: "Output file.")
    var out: String

    @Option(help: "Optimizer steps to run.")
    var steps = 3

    @Option(help: "Which cell of the sweep to dump (index as listed by `ablate validate`).")
    var cell = 0

    @Option(help: "Threads for the kernels (results do not depend on it).")
    var threads: Int?

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        let loaded = try target.load()
        let chosen = try target.cell(cell, of: loaded)
        if let threads { Parallel.threads = threads }
        do {
            try ParityDump.write(cell: chosen, steps: steps, path: out)
        } catch {
            throw fail("\(error)")
        }
        print("wrote \(out) (\(steps) steps of cell \(cell): \(chosen.label), run id \(chosen.runID))")
    }
}
