import ArgumentParser
import Experiments

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample from a trained run with the cached inference form (MLA: absorbed, latent cache).",
        discussion: """
        Uses the parameters of the run's last checkpoint. For runs on text data the prompt and \
        output are text (bytes); for runs on token files with a tokenizer (data.tokens.tokenizer) \
        they are text encoded and decoded with it; otherwise token ids separated by spaces. \
        --prompt-tokens gives the prompt as ids whatever the data.
        """)

    @Argument(help: "The run directory (holding run.h5).")
    var runDir: String

    @Option(help: "The prompt: text for runs on text or with a tokenizer, else token ids (\"3 14 15\").")
    var prompt: String?

    @Option(help: "The prompt as token ids (\"3 14 15\"), whatever the data.")
    var promptTokens: String?

    @Option(help: "Tokens to generate.")
    var tokens = 64

    @Option(help: "Sampling temperature; 0 = greedy.")
    var temperature = 0.8

    @Option(help: "Seed of the sampling draws.")
    var seed = 0

    func validate() throws {
        guard (prompt == nil) != (promptTokens == nil) else { throw ValidationError("give --prompt or --prompt-tokens (one of them)") }
        guard tokens >= 1 else { throw ValidationError("--tokens must be at least 1") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be ≥ 0") }
    }

    func run() throws {
        do {
            let result = try Generation.generate(runDirectory: runDir, prompt: prompt ?? promptTokens ?? "",
                                                 promptIsIDs: promptTokens != nil, count: tokens,
                                                 temperature: temperature, seed: seed)
            print(result.text)
        } catch {
            throw fail("\(error)")
        }
    }
}
