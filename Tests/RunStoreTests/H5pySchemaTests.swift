// docs/hdf5-schema.md is the contract of the run file. This test parses the field tables out of
// the document and has h5py read a complete run file against them, both ways: every documented
// field exists with its type and shape (and is read), and every field in the file is documented.
// So the document and the writer cannot drift apart. Needs ABLATE_PYTHON (scripts/test.sh).
import Foundation
import Testing
import TestSupport
@testable import RunStore

extension RunFileTests {
    /// scripts/check-run-file.py: h5py against the field tables of docs/hdf5-schema.md.
    static var schemaChecker: String {
        TestEnvironment.packageRoot.appendingPathComponent("scripts/check-run-file.py").path
    }

    /// Guards against the schema document and the writer drifting apart.
    @Test func h5pyReadsEveryDocumentedField() throws {
        let writer = try create("h5py/run.h5")
        try FakeRun.write(writer, steps: 1...6, checkpoints: [3, 6])
        try writer.finish(.completed)
        writer.close()
        let doc = TestEnvironment.packageRoot.appendingPathComponent("docs/hdf5-schema.md").path
        let result = try runProcess(try TestEnvironment.python(), [Self.schemaChecker, doc, path("h5py/run.h5")])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("ok "), "\(result.stdout)")
        let overrides = try runPython("""
        import sys, h5py
        print(h5py.File(sys.argv[1], "r")["spec/overrides"].asstr()[...].tolist())
        """, [path("h5py/run.h5")])
        #expect(overrides.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "['train.steps=10', 'model.ffn.moe.experts=4']")
    }
}
