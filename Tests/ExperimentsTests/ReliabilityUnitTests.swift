// The pieces of the reliability work that need no training run: the memory limits read from
// Slurm's environment, the refusal of cells (and of --jobs) that do not fit, and the liveness
// of a run file's writer process.
import Foundation
import Testing
import TestSupport
import Experiments
import RunStore
import Training

struct ReliabilityUnitTests {
    let spec: Spec

    init() throws {
        let file = try SpecFolder().write("tiny.yaml", "name: tiny\n" + tinyModel + """

            data: {kind: markov_mixture, markov_mixture: {sources: 2, symbols: 32}, val_sequences: 4}
            train: {steps: 10, batch_size: 4, seq_len: 16, eval_every: 5}
            seeds: [0, 1]
            """)
        spec = try SpecLoader.load(file)
    }

    @Test func slurmMemoryLimitsAreRead() throws {
        let perNode = try #require(AvailableMemory.current(environment: ["SLURM_MEM_PER_NODE": "100"]))
        #expect(perNode.bytes == 100 << 20)
        #expect(perNode.source.contains("Slurm"))
        let perCPU = try #require(AvailableMemory.current(environment: ["SLURM_MEM_PER_CPU": "50", "SLURM_CPUS_PER_TASK": "3"]))
        #expect(perCPU.bytes == 150 << 20)
        let none = try #require(AvailableMemory.current(environment: [:]))
        #expect(!none.source.contains("Slurm") && none.bytes > 150 << 20)
    }

    @Test func refusalsNameTheKeysAndCountJobs() throws {
        let cell = spec.cells[0]
        let estimate = MemoryCheck.estimate(cell)
        #expect(estimate.measured && estimate.activations > 0 && estimate.parameters == cell.model.totalParameters * 4)
        #expect(estimate.total == estimate.baseline + 4 * estimate.parameters + max(estimate.activations, estimate.checkpointCopies))

        #expect(MemoryCheck.refusals(spec.cells, available: AvailableMemory(bytes: 1 << 40, source: "test")).isEmpty)
        let tight = MemoryCheck.refusals([cell], available: AvailableMemory(bytes: estimate.total - 1, source: "test"))
        #expect(tight.count == 1)
        #expect(tight.first?.contains("train.batch_size") == true && tight.first?.contains("train.micro_batches") == true, "\(tight)")
        // Room for one cell but not two at once.
        let one = AvailableMemory(bytes: estimate.total + estimate.total / 2, source: "test")
        #expect(MemoryCheck.refusals(spec.cells, jobs: 1, available: one).isEmpty)
        let two = MemoryCheck.refusals(spec.cells, jobs: 2, available: one)
        #expect(two.count == 1 && two.first?.contains("--jobs 2") == true, "\(two)")
        // What fits is what the message offers.
        let fit = try #require(estimate.sequencesFitting(in: estimate.total))
        #expect(fit >= estimate.sequencesPerMicroBatch)
    }

    @Test func writerLivenessFollowsTheProcess() throws {
        let me = WriterProcess.current
        #expect(me.isAlive == true)
        var reused = me
        reused.startTicks += 1       // same pid, another process start: not our writer
        #expect(reused.isAlive == false)
        var elsewhere = me
        elsewhere.host = me.host + "-other"
        #expect(elsewhere.isAlive == nil)
        var rebooted = me
        rebooted.bootID = "not-this-boot"
        #expect(rebooted.isAlive == false)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        var gone = me
        gone.pid = Int(child.processIdentifier)
        #expect(gone.isAlive == false)
    }
}
