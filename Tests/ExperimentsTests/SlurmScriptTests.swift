// The Slurm executor's pure parts: the sbatch script, --array ranges, and reading scontrol's
// one-line records. (The round trip through a real cluster is in EndToEndTests/SlurmTests.)
import Foundation
import Testing
@testable import Experiments

@Suite struct SlurmScriptTests {
    @Test func arrayRangesAreCompact() {
        #expect(SlurmExecutor.arrayRanges([0, 1, 2, 3]) == "0-3")
        #expect(SlurmExecutor.arrayRanges([7, 0, 2, 3, 4, 9, 10]) == "0,2-4,7,9,10")
        #expect(SlurmExecutor.arrayRanges([5]) == "5")
        #expect(SlurmExecutor.expandArrayRanges("0-3,5,7-8%2") == [0, 1, 2, 3, 5, 7, 8])
        #expect(SlurmExecutor.expandArrayRanges("4") == [4])
    }

    @Test func scriptRunsEachCellByIndexAndRecordsItsExitCode() {
        let script = SlurmExecutor.script(executable: "/opt/ablate dir/ablate", sweepDirectory: "/runs/s", specName: "s",
                                          indices: [0, 2, 3],
                                          settings: SlurmSettings(partition: "cpu", time: "01:00:00", cpusPerTask: 2, maxParallel: 4))
        for line in ["#SBATCH --array=0,2,3%4", "#SBATCH --cpus-per-task=2", "#SBATCH --partition=cpu",
                     "#SBATCH --time=01:00:00", "#SBATCH --output=/runs/s/slurm/%A_%a.out",
                     "'/opt/ablate dir/ablate' run-cell '/runs/s' --index \"$SLURM_ARRAY_TASK_ID\" --threads 2 --quiet",
                     "echo \"$code\" > '/runs/s/slurm'/\"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}.exit\""] {
            #expect(script.contains(line + "\n"), "missing \(line) in\n\(script)")
        }
        #expect(script.hasPrefix("#!/bin/bash\n"))
        #expect(script.hasSuffix("exit \"$code\"\n"))
    }

    @Test func scontrolRecordsAreParsed() {
        let line: Substring = "JobId=12 ArrayJobId=10 ArrayTaskId=2 JobName=ablate-s JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0 AllocNode:Sid=localhost:27489 TRES=cpu=1,mem=1000M,node=1 Command=/runs/my sweep/x.sbatch WorkDir=/tmp StdOut=/runs/s/slurm/10_2.out"
        let fields = SlurmExecutor.parseFields(line)
        #expect(fields["ArrayTaskId"] == "2")
        #expect(fields["JobState"] == "FAILED")
        #expect(fields["ExitCode"] == "1:0")
        #expect(fields["TRES"] == "cpu=1,mem=1000M,node=1")
        #expect(fields["Command"] == "/runs/my sweep/x.sbatch")
        #expect(fields["StdOut"] == "/runs/s/slurm/10_2.out")
    }

    @Test func outcomesNameExitCodesAndSignals() {
        var task = SlurmTask(jobID: "10", index: 2, state: "FAILED", exitCode: 1, signal: nil, log: "/x")
        #expect(task.outcome == "exit code 1")
        #expect(!task.isActive)
        task = SlurmTask(jobID: "10", index: 2, state: "CANCELLED", exitCode: nil, signal: 15, log: "/x")
        #expect(task.outcome == "signal 15 (CANCELLED)")
        task = SlurmTask(jobID: "10", index: 2, state: "PENDING", exitCode: nil, signal: nil, log: "/x")
        #expect(task.isActive)
    }
}
