import ArgumentParser
import Experiments

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample from a trained run with the cached inference form (MLA: absorbed, latent cache).",
        discussion: """
        Uses the parameters of the run's last checkpoint. For runs on text data the prompt and \
        output are text (bytes); otherwise they are token ids separated by spaces.
        """)

    @Argument(help: "The run directory (holding run.h5).")
    var runDir: String

    @Option(help: "The prompt: text for text runs, else token ids (\"3 14 15\").")
    var prompt: String

    @Option(help: "Tokens to generate.")
    var tokens = 64

    @Option(help: "Sampling temperature; 0 = greedy.")
    var temperature = 0.8

    @Option(help: "Seed of the sampling draws.")
    var seed = 0

    func validate() throws {
        guard tokens >= 1 else { throw ValidationError("--tokens must be at least 1") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be ≥ 0") }
    }

    func run() throws {
        do {
            let result = try Generation.generate(runDirectory: runDir, prompt: prompt, count: tokens,
                                                 temperature: temperature, seed: seed)
            print(result.text)
        } catch {
            throw fail("\(error)")
        }
    }
}
