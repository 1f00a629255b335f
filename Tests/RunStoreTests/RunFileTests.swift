// The run file: a complete small run read back exactly, resume cutting back to the checkpoint
// (bitwise equal to a straight run), two-slot checkpoints surviving a failed write, schema and
// spec mismatches, status transitions, bad input, and a killed writer's file.
import Foundation
import Testing
import TestSupport
import HDF5
@testable import RunStore

@Suite(.serialized)
struct RunFileTests: ScratchSuite {
    let directory: URL
    init() throws { directory = try TestEnvironment.temporaryDirectory("runstore-tests") }

    /// Objects still open in the file at `name` once reopened (1 = nothing leaked). Per file,
    /// so other suites running in parallel do not disturb it.
    func openObjects(_ name: String) throws -> Int {
        let file = try H5File(path: name.hasPrefix("/") ? name : path(name), mode: .readOnly)
        defer { file.close() }
        return file.openObjectCount()
    }

    func create(_ name: String) throws -> RunFileWriter {
        try RunFileWriter.create(path: path(name), run: FakeRun.info, spec: FakeRun.spec, provenance: FakeRun.provenance)
    }

    @Test func completeRunReadsBackExactly() throws {
        let writer = try create("run/complete.h5")
        try FakeRun.write(writer, steps: 1...6, checkpoints: [3, 6])
        try writer.finish(.completed)
        writer.close()
        #expect(try openObjects("run/complete.h5") == 1)  // the writer closed everything it opened

        let reader = try RunFileReader(path: path("run/complete.h5"))
        defer { reader.close() }
        let attributes = try reader.attributes()
        #expect(attributes.schemaVersion == 1)
        #expect(attributes.run == FakeRun.info)
        #expect(attributes.status == .completed)
        #expect(attributes.provenance.gitCommit == FakeRun.provenance.gitCommit)
        #expect(attributes.provenance.gitDirty == false)
        #expect(attributes.provenance.version == "0.1.0")
        #expect(attributes.provenance.os == "Test OS 1" && attributes.provenance.cpuModel == "Test CPU @ 1 GHz")
        #expect(attributes.provenance.swiftVersion == "6.0" && attributes.provenance.hdf5Version == "1.10.8")
        #expect(attributes.provenance.buildConfiguration == "debug" && attributes.provenance.kernelTarget == "portable")
        #expect(attributes.lastStep == 6 && attributes.divergedStep == -1 && attributes.error == "")
        #expect(!attributes.createdUTC.isEmpty && attributes.finishedUTC >= attributes.createdUTC)
        #expect(try reader.spec() == FakeRun.spec)

        let train = try reader.trainMetrics()
        #expect(train.steps == [1, 2, 3, 4, 5, 6])
        #expect(Set(train.columns.keys) == Set(FakeRun.train(1).keys))
        for (name, column) in train.columns {
            #expect(bits(column) == bits((1...6).map { FakeRun.train($0)[name]! }), "\(name)")
        }
        let eval = try reader.evalMetrics()
        #expect(eval.steps == [5])
        #expect(bits(eval.columns["gap"]!) == bits([FakeRun.eval(5)["gap"]!]))
        #expect(eval.columns["accuracy"]![0].isNaN)

        let moe = try reader.moeLayers()
        #expect(moe.map(\.layer) == [0, 1])
        for layer in moe {
            let rows = (1...6).map { FakeRun.moe($0)[layer.layer] }
            #expect(layer.experts == 4)
            #expect(layer.load == rows.flatMap(\.load))
            #expect(bits(layer.bias) == bits(rows.flatMap(\.bias)))
            #expect(bits(layer.maxvio) == bits(rows.map(\.maxvio)))
            #expect(bits(layer.entropy) == bits(rows.map(\.entropy)))
            #expect(layer.dropped == rows.map(\.dropped))
        }

        #expect(try reader.tensorNames() == [FakeRun.tensorName])
        let tensor = try reader.tensor(FakeRun.tensorName)
        #expect(tensor.steps == [2, 5] && tensor.shape == [2, 3] && tensor.axes == ["head", "position"])
        #expect(tensor.labels == ["head": ["h0", "h1"]])
        #expect(tensor.values == FakeRun.tensor(2) + FakeRun.tensor(5))

        #expect(try reader.checkpoint() == FakeRun.checkpoint(6))
        #expect(try reader.checkpointSlot() == 1)
        #expect(try reader.checkpoint(slot: 0) == FakeRun.checkpoint(3))
    }

    /// A run trained on one corpus must not continue on another: the same spec can name files
    /// that changed. An empty record (synthetic data, older files) is not checked.
    @Test func resumeRefusesDataThatHashesDifferently() throws {
        var info = FakeRun.info
        info.dataSHA256 = String(repeating: "cd", count: 32)
        let writer = try RunFileWriter.create(path: path("corpus.h5"), run: info, spec: FakeRun.spec, provenance: FakeRun.provenance)
        try FakeRun.write(writer, steps: 1...4, checkpoints: [2])
        writer.close()
        do {
            let reader = try RunFileReader(path: path("corpus.h5"))
            defer { reader.close() }
            #expect(try reader.attributes().run.dataSHA256 == info.dataSHA256)
        }
        let refused = #expect(throws: RunStoreError.self) {
            try RunFileWriter.resume(path: path("corpus.h5"), specSHA256: FakeRun.specSHA, dataSHA256: String(repeating: "ef", count: 32))
        }
        #expect(refused?.description.contains("the data changed; refusing to resume") == true, "\(String(describing: refused))")
        // Refused before anything changed: the rows after the checkpoint are still there.
        do {
            let reader = try RunFileReader(path: path("corpus.h5"))
            defer { reader.close() }
            #expect(try reader.trainMetrics().steps == [1, 2, 3, 4])
        }
        let (resumed, checkpoint) = try RunFileWriter.resume(path: path("corpus.h5"), specSHA256: FakeRun.specSHA, dataSHA256: info.dataSHA256)
        #expect(checkpoint == FakeRun.checkpoint(2))
        resumed.close()
        // Synthetic data records "": nothing to check.
        try RunFileWriter.checkData(recorded: "", current: "anything", path: "x", doing: "resume")
    }

    /// Guards resume: rows logged after the checkpoint must be cut, and the resumed run's
    /// datasets must equal an uninterrupted run's bit for bit.
    @Test func resumeCutsBackToTheCheckpointAndMatchesAStraightRun() throws {
        let straight = try create("straight.h5")
        try FakeRun.write(straight, steps: 1...10, checkpoints: [3, 6])
        try straight.finish(.completed)
        straight.close()

        let killed = try create("resumed.h5")
        try FakeRun.write(killed, steps: 1...10, checkpoints: [3, 6])
        killed.close()  // as a kill after step 10: status stays running, checkpoint at 6

        let (writer, checkpoint) = try RunFileWriter.resume(path: path("resumed.h5"), specSHA256: FakeRun.specSHA)
        #expect(checkpoint == FakeRun.checkpoint(6))
        do {
            let reader = try RunFileReader(path: path("resumed.h5"))
            #expect(try reader.trainMetrics().steps == [1, 2, 3, 4, 5, 6])
            #expect(try reader.trainMetrics().columns.values.allSatisfy { $0.count == 6 })
            #expect(try reader.moeLayers().allSatisfy { $0.maxvio.count == 6 && $0.load.count == 24 })
            #expect(try reader.evalMetrics().steps == [5])
            #expect(try reader.tensor(FakeRun.tensorName).steps == [2, 5])
            #expect(try reader.status() == .running)
            #expect(try reader.attributes().lastStep == 6)
            reader.close()
        }
        try FakeRun.write(writer, steps: 7...10, checkpoints: [])
        try writer.finish(.completed)
        writer.close()

        let a = try RunFileReader(path: path("straight.h5")), b = try RunFileReader(path: path("resumed.h5"))
        defer { a.close(); b.close() }
        #expect(try RunContents(a) == RunContents(b))
        #expect(try RunContents(b).train["step"]?.count == 10)
    }

    @Test func resumeWithoutACheckpointStartsFromZeroRows() throws {
        let writer = try create("no-checkpoint.h5")
        try FakeRun.write(writer, steps: 1...4, checkpoints: [])
        writer.close()
        let (resumed, checkpoint) = try RunFileWriter.resume(path: path("no-checkpoint.h5"), specSHA256: FakeRun.specSHA)
        #expect(checkpoint == nil)
        try FakeRun.write(resumed, steps: 1...2, checkpoints: [])
        resumed.close()
        let reader = try RunFileReader(path: path("no-checkpoint.h5"))
        defer { reader.close() }
        #expect(try reader.trainMetrics().steps == [1, 2])
        #expect(try reader.tensor(FakeRun.tensorName).steps == [2])
        #expect(try reader.moeLayers().allSatisfy { $0.maxvio.count == 2 })
    }

    /// Guards checkpoint durability: a checkpoint write that dies halfway (here: HDF5 refuses
    /// an array in its last section, after the parameters were overwritten) must leave the
    /// previous one current and intact, in the process and in the bytes on disk.
    @Test func failedCheckpointWriteKeepsTheLastGoodOne() throws {
        let writer = try create("slots.h5")
        try FakeRun.write(writer, steps: 1...6, checkpoints: [3, 6])  // slot_0 = 3, slot_1 = 6
        var broken = FakeRun.checkpoint(9)
        broken.arrays["bad"] = CheckpointArray(shape: [3], values: [1])
        #expect(throws: RunStoreError.self) { try writer.writeCheckpoint(broken) }  // refused up front
        #expect(try RunFileReader(path: path("slots.h5")).checkpoint(slot: 0) == FakeRun.checkpoint(3))
        broken.arrays = ["a": CheckpointArray(shape: [1], values: [1]), "a/b": CheckpointArray(shape: [1], values: [2])]
        try FakeRun.write(writer, steps: 7...9, checkpoints: [])
        let failed = #expect(throws: HDF5Error.self) { try writer.writeCheckpoint(broken) }  // "a" is not a group
        #expect(failed?.description.contains("/checkpoint/slot_0/arrays/a/b") == true)
        #expect(failed?.description.contains(path("slots.h5")) == true)
        try FileManager.default.copyItem(atPath: path("slots.h5"), toPath: path("slots-copy.h5"))
        for file in ["slots.h5", "slots-copy.h5"] {
            let reader = try RunFileReader(path: path(file))
            #expect(try reader.checkpointSlot() == 1, "\(file)")
            #expect(try reader.checkpoint() == FakeRun.checkpoint(6), "\(file)")
            reader.close()
            let raw = try H5File(path: path(file), mode: .readOnly)
            #expect(try raw.root.group("checkpoint/slot_0").attribute("complete") == .int(0), "\(file)")
            raw.close()
        }
        // It really died halfway: slot_0's parameters already hold step 9's values.
        #expect(try RunFileReader(path: path("slots.h5")).checkpoint(slot: 0).parameters == FakeRun.checkpoint(9).parameters)
        // The next good checkpoint goes to the other slot again and becomes current.
        try writer.writeCheckpoint(FakeRun.checkpoint(9))
        writer.close()
        let reader = try RunFileReader(path: path("slots.h5"))
        defer { reader.close() }
        #expect(try reader.checkpointSlot() == 0)
        #expect(try reader.checkpoint() == FakeRun.checkpoint(9))
        #expect(try reader.checkpoint(slot: 1) == FakeRun.checkpoint(6))
        #expect(try reader.checkpoint(slot: 0).arrays.keys.sorted() == ["schedule/state"])
    }

    /// Guards the reader's choice of slot when the pointer is lost (a torn metadata write) or
    /// names a slot that is not complete: it must take the complete slot with the higher step.
    @Test func readerFallsBackToTheNewestCompleteSlot() throws {
        let writer = try create("fallback.h5")
        try FakeRun.write(writer, steps: 1...6, checkpoints: [3, 6])  // slot_0 = 3, slot_1 = 6
        writer.close()
        func edit(_ body: (H5Group) throws -> Void) throws {
            let file = try H5File(path: path("fallback.h5"), mode: .readWrite)
            defer { file.close() }
            try body(try file.root)
        }
        try edit { try $0.group("checkpoint").setAttribute("current", "") }
        var reader = try RunFileReader(path: path("fallback.h5"))
        #expect(try reader.checkpointSlot() == 1 && reader.checkpoint() == FakeRun.checkpoint(6))
        reader.close()
        try edit { try $0.group("checkpoint").setAttribute("current", "slot_1") }
        try edit { try $0.group("checkpoint/slot_1").setAttribute("complete", .int(0)) }
        reader = try RunFileReader(path: path("fallback.h5"))
        #expect(try reader.checkpointSlot() == 0 && reader.checkpoint() == FakeRun.checkpoint(3))
        reader.close()
        // Resume follows the reader: it continues from step 3 and cuts the rows back to it.
        let (resumed, checkpoint) = try RunFileWriter.resume(path: path("fallback.h5"), specSHA256: FakeRun.specSHA)
        #expect(checkpoint == FakeRun.checkpoint(3))
        resumed.close()
        reader = try RunFileReader(path: path("fallback.h5"))
        defer { reader.close() }
        #expect(try reader.trainMetrics().steps == [1, 2, 3])
        #expect(try reader.tensor(FakeRun.tensorName).steps == [2])
    }

    /// Guards resume after a kill that left datasets of one group with uneven lengths past the
    /// last flush: resume must even them out at the checkpoint, and the reader must never return
    /// misaligned columns: a file still marked running is cut to the rows every column has (a
    /// live reader meets a flush half done), and a finished one with uneven groups is refused by name.
    @Test func resumeEvensOutRowsLeftUnevenByAKill() throws {
        let writer = try create("uneven.h5")
        try FakeRun.write(writer, steps: 1...4, checkpoints: [3])
        writer.close()
        do {
            let file = try H5File(path: path("uneven.h5"), mode: .readWrite)
            try file.root.dataset("metrics/train/loss").append([9.0, 9.0])
            try file.root.dataset("moe/layer_1/load").append([Int64](repeating: 1, count: 4))
            file.close()
        }
        let live = try RunFileReader(path: path("uneven.h5"))
        #expect(try live.trainMetrics().steps == [1, 2, 3, 4])
        #expect(try live.trainMetrics().columns["loss"] == (1...4).map { FakeRun.train($0)["loss"]! })
        #expect(try live.moeLayers()[1].load == (1...4).flatMap { FakeRun.moe($0)[1].load })
        live.close()
        try FileManager.default.copyItem(atPath: path("uneven.h5"), toPath: path("uneven-finished.h5"))
        do {
            let file = try H5File(path: path("uneven-finished.h5"), mode: .readWrite)
            try file.root.setAttribute("status", "completed")
            file.close()
        }
        let uneven = #expect(throws: RunStoreError.self) { try RunFileReader(path: path("uneven-finished.h5")).trainMetrics() }
        #expect(uneven?.kind == .corrupt)
        #expect(uneven?.description.contains("/metrics/train/loss") == true)
        let unevenMoE = #expect(throws: RunStoreError.self) { try RunFileReader(path: path("uneven-finished.h5")).moeLayers() }
        #expect(unevenMoE?.description.contains("/moe/layer_1") == true)
        let (resumed, checkpoint) = try RunFileWriter.resume(path: path("uneven.h5"), specSHA256: FakeRun.specSHA)
        #expect(checkpoint?.step == 3)
        try FakeRun.write(resumed, steps: 4...4, checkpoints: [])
        resumed.close()
        let reader = try RunFileReader(path: path("uneven.h5"))
        defer { reader.close() }
        #expect(try reader.trainMetrics().columns["loss"] == (1...4).map { FakeRun.train($0)["loss"]! })
        #expect(try reader.moeLayers()[1].load == (1...4).flatMap { FakeRun.moe($0)[1].load })
    }

    @Test func otherSchemasAndVersionsAreRefusedByName() throws {
        func make(_ name: String, schema: String?, version: Int) throws -> String {
            let file = try H5File(path: path(name), mode: .truncate)
            if let schema { try file.root.setAttribute("schema", schema) }
            try file.root.setAttribute("schema_version", version)
            file.close()
            return path(name)
        }
        let newer = try make("v2.h5", schema: "ablate.run", version: 2)
        let error = #expect(throws: RunStoreError.self) { try RunFileReader(path: newer) }
        #expect(error?.kind == .schemaMismatch)
        #expect(error?.description == "'\(newer)' is 'ablate.run' schema version 2; this build reads version 1 (written by a newer ablate; upgrade to read it)")
        let smoke = try make("smoke.h5", schema: "ablate.smoke", version: 1)
        let other = #expect(throws: RunStoreError.self) { try RunFileReader(path: smoke) }
        #expect(other?.description == "'\(smoke)' has schema 'ablate.smoke' version 1; this build reads 'ablate.run' version 1")
        let bare = try make("bare.h5", schema: nil, version: 1)
        let none = #expect(throws: RunStoreError.self) { try RunFileReader(path: bare) }
        #expect(none?.description.contains("no 'schema' attribute") == true)
        let resume = #expect(throws: RunStoreError.self) { try RunFileWriter.resume(path: newer, specSHA256: FakeRun.specSHA) }
        #expect(resume?.kind == .schemaMismatch)
        for file in [newer, smoke, bare] { #expect(try openObjects(file) == 1, "\(file)") }  // refused files are closed
    }

    @Test func statusTransitions() throws {
        let file = path("status.h5")
        func attributes() throws -> RunAttributes {
            let reader = try RunFileReader(path: file)
            defer { reader.close() }
            return try reader.attributes()
        }
        let writer = try create("status.h5")
        try FakeRun.write(writer, steps: 1...4, checkpoints: [2])
        #expect(writer.status == .running)
        #expect(try attributes().status == .running && attributes().finishedUTC == "")
        try writer.finish(.diverged(step: 4, message: "loss is NaN at step 4"))
        #expect(throws: RunStoreError.self) { try writer.appendTrain(step: 5, metrics: [:]) }
        #expect(throws: RunStoreError.self) { try writer.finish(.completed) }
        writer.close()
        var read = try attributes()
        #expect(read.status == .diverged && read.divergedStep == 4 && read.error == "loss is NaN at step 4")
        #expect(!read.finishedUTC.isEmpty && read.lastStep == 4)

        let outcomes: [RunOutcome] = [.failed(message: "disk full"), .interrupted, .completed]
        for outcome in outcomes {
            let (resumed, checkpoint) = try RunFileWriter.resume(path: file, specSHA256: FakeRun.specSHA)
            #expect(checkpoint?.step == 2)
            read = try attributes()
            #expect(read.status == .running && read.finishedUTC == "" && read.divergedStep == -1 && read.error == "")
            try FakeRun.write(resumed, steps: 3...4, checkpoints: [])
            try resumed.finish(outcome)
            resumed.close()
            read = try attributes()
            #expect(read.status == outcome.status)
            #expect(read.error == (outcome == .failed(message: "disk full") ? "disk full" : ""))
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let completed = #expect(throws: RunStoreError.self) { try RunFileWriter.resume(path: file, specSHA256: FakeRun.specSHA) }
        #expect(completed?.kind == .alreadyCompleted)
        #expect(completed?.description.contains(file) == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == bytes)
    }

    @Test func badInputIsAClearErrorAndLosesNothing() throws {
        // An existing file is never replaced.
        let writer = try create("exists.h5")
        try FakeRun.write(writer, steps: 1...3, checkpoints: [3])
        writer.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path("exists.h5")))
        let exists = #expect(throws: RunStoreError.self) { try create("exists.h5") }
        #expect(exists?.kind == .exists)
        #expect(exists?.description.contains(path("exists.h5")) == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path("exists.h5"))) == before)

        // A different spec on resume is refused before anything changes.
        let other = String(repeating: "cd", count: 32)
        let mismatch = #expect(throws: RunStoreError.self) { try RunFileWriter.resume(path: path("exists.h5"), specSHA256: other) }
        #expect(mismatch?.kind == .specMismatch)
        #expect(mismatch?.description.contains(path("exists.h5")) == true)
        #expect(mismatch?.description.contains(other) == true && mismatch?.description.contains(FakeRun.specSHA) == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path("exists.h5"))) == before)

        // A directory that cannot be created or written (root ignores permissions, so the
        // "directory" is a regular file).
        try Data("x".utf8).write(to: URL(fileURLWithPath: path("plain-file")))
        let blocked = path("plain-file/run/run.h5")
        let unwritable = #expect(throws: RunStoreError.self) {
            try RunFileWriter.create(path: blocked, run: FakeRun.info, spec: FakeRun.spec, provenance: FakeRun.provenance)
        }
        #expect(unwritable?.kind == .unwritable)
        #expect(unwritable?.description.contains(blocked) == true)
        if getuid() != 0 {  // permissions only bind other users
            let locked = directory.appendingPathComponent("locked")
            try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: true)
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: locked.path)
            defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: locked.path) }
            let denied = #expect(throws: RunStoreError.self) {
                try RunFileWriter.create(path: locked.appendingPathComponent("run.h5").path, run: FakeRun.info,
                                         spec: FakeRun.spec, provenance: FakeRun.provenance)
            }
            #expect(denied?.kind == .unwritable)
            #expect(denied?.description.contains(locked.path) == true)
        }

        // Misaligned or malformed rows are refused without writing half a row.
        let rows = try create("rows.h5")
        defer { rows.close() }
        try rows.appendTrain(step: 1, metrics: ["loss": 1], moe: FakeRun.moe(1))
        let cases: [(String, () throws -> Void)] = [
            ("step not increasing", { try rows.appendTrain(step: 1, metrics: ["loss": 1], moe: FakeRun.moe(1)) }),
            ("missing MoE layers", { try rows.appendTrain(step: 2, metrics: ["loss": 1]) }),
            ("wrong expert count", {
                try rows.appendTrain(step: 2, metrics: ["loss": 1],
                                     moe: FakeRun.moe(2).map { _ in MoELayerRow(load: [1], bias: [0], maxvio: 0, entropy: 0, dropped: 0) })
            }),
            ("bad metric name", { try rows.appendTrain(step: 2, metrics: ["a/b": 1], moe: FakeRun.moe(2)) }),
            ("metric named step", { try rows.appendEval(step: 2, metrics: ["step": 1]) }),
            ("tensor shape", { try rows.appendTensor("t", step: 1, shape: [2, 2], values: [1]) }),
            ("tensor name", { try rows.appendTensor("t_steps", step: 1, shape: [1], values: [1]) }),
            ("tensor labels of the wrong count", { try rows.appendTensor("t", step: 1, shape: [2], values: [1, 2], axes: ["a"], labels: ["a": ["x"]]) }),
            ("tensor labels of an unknown axis", { try rows.appendTensor("t", step: 1, shape: [2], values: [1, 2], axes: ["a"], labels: ["b": ["x", "y"]]) }),
        ]
        for (label, body) in cases {
            #expect(throws: RunStoreError.self, "\(label)") { try body() }
        }
        try rows.appendTrain(step: 2, metrics: ["loss": 2, "new": 5], moe: FakeRun.moe(2))
        try rows.appendTrain(step: 3, metrics: ["new": 6], moe: FakeRun.moe(3))
        try rows.flush()
        let reader = try RunFileReader(path: path("rows.h5"))
        defer { reader.close() }
        let table = try reader.trainMetrics()
        #expect(table.steps == [1, 2, 3])
        #expect(bits(table.columns["loss"]!) == bits([1, 2, .nan]))
        #expect(bits(table.columns["new"]!) == bits([.nan, 5, 6]))
        #expect(try reader.moeLayers().allSatisfy { $0.maxvio.count == 3 })
    }

    /// Guards the flush contract: the bytes on disk after a flush — copied while the writer is
    /// still open with more rows pending, as a SIGKILL would leave them — open as a run file
    /// holding everything up to the flush.
    @Test func aKilledWritersFileHoldsEverythingUpToTheLastFlush() throws {
        let writer = try create("live.h5")
        try FakeRun.write(writer, steps: 1...6, checkpoints: [3])  // flushed after step 6
        try writer.appendTrain(step: 7, metrics: FakeRun.train(7), moe: FakeRun.moe(7))
        try writer.appendTensor(FakeRun.tensorName, step: 7, shape: FakeRun.tensorShape, values: FakeRun.tensor(7))
        try FileManager.default.copyItem(atPath: path("live.h5"), toPath: path("killed.h5"))
        try writer.finish(.completed)
        writer.close()

        let reader = try RunFileReader(path: path("killed.h5"))
        defer { reader.close() }
        #expect(try reader.status() == .running)
        #expect(try reader.attributes().lastStep == 6)
        let train = try reader.trainMetrics()
        #expect(train.steps == [1, 2, 3, 4, 5, 6])
        for (name, column) in train.columns {
            #expect(bits(column) == bits((1...6).map { FakeRun.train($0)[name]! }), "\(name)")
        }
        #expect(try reader.moeLayers().allSatisfy { $0.maxvio.count == 6 })
        #expect(try reader.evalMetrics().steps == [5])
        #expect(try reader.tensor(FakeRun.tensorName).steps == [2, 5])
        #expect(try reader.checkpoint() == FakeRun.checkpoint(3))
        #expect(try reader.spec() == FakeRun.spec)
    }
}
