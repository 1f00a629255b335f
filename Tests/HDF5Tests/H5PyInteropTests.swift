// Files written by Ablate must open in h5py (the Python side of every notebook and reference),
// and files written by h5py must open in Ablate. Needs ABLATE_PYTHON (scripts/test.sh sets it).
import Foundation
import Testing
import TestSupport
@testable import HDF5

extension HDF5Tests {
    @Test func h5pyReadsWhatAblateWrites() throws {
        let filePath = path("ablate-written.h5")
        let file = try H5File(path: filePath, mode: .truncate)
        let root = try file.root
        try root.setAttribute("schema", "ablate.run")
        try root.setAttribute("schema_version", 1)
        try root.setAttribute("lr", 3e-4)
        try root.setAttribute("steps", .ints([0, 5]))
        try root.createDataset("f32", shape: [2, 3], values: [Float(0.5), -1, 2, 3, 4, 5.25])
        try root.createDataset("f64", shape: [3], values: [1.0 / 3, 2.0, -0.0])
        try root.createDataset("i32", shape: [2, 2], values: [Int32(-7), 0, 1, Int32.max])
        try root.createDataset("i64", shape: [], values: [Int64.min])
        let load = try root.createExtendibleDataset("metrics/load", of: Int64.self, rowShape: [2])
        try load.append([1, 2, 3, 4] as [Int64])
        try root.createStringDataset("spec", value: "name: x\n")
        file.close()

        let script = """
        import sys, h5py, numpy as np
        f = h5py.File(sys.argv[1], "r")
        assert f.attrs["schema"] == "ablate.run", f.attrs["schema"]
        assert f.attrs["schema_version"] == 1
        assert abs(f.attrs["lr"] - 3e-4) < 1e-18
        assert list(f.attrs["steps"]) == [0, 5]
        assert f["f32"].dtype == np.float32 and f["f32"].shape == (2, 3)
        assert f["f32"][...].tolist() == [[0.5, -1, 2], [3, 4, 5.25]]
        assert f["f64"].dtype == np.float64 and f["f64"][0] == 1.0 / 3
        assert f["i32"].dtype == np.int32 and f["i32"][1, 1] == 2**31 - 1
        assert f["i64"].dtype == np.int64 and f["i64"][()] == -2**63
        d = f["metrics/load"]
        assert d.maxshape == (None, 2) and d.compression == "gzip" and d.shuffle
        assert d[...].tolist() == [[1, 2], [3, 4]]
        assert f["spec"][()].decode() == "name: x\\n"
        print("ok")
        """
        let result = try runPython(script, [filePath])
        #expect(result.status == 0, "h5py failed: \(result.stderr)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "ok")
    }

    @Test func ablateReadsWhatH5pyWrites() throws {
        let filePath = path("h5py-written.h5")
        let script = """
        import sys, h5py, numpy as np
        with h5py.File(sys.argv[1], "w") as f:
            f.attrs["title"] = "written by h5py"
            f.attrs["fixed"] = np.bytes_(b"fixed-length")
            f.attrs["n"] = np.int64(42)
            f.attrs["x"] = 2.5
            f.attrs["v"] = np.array([1.5, 2.5])
            f.attrs["flag"] = True
            g = f.create_group("run/metrics")
            g.create_dataset("loss", data=np.arange(10, dtype=np.float32) / 4, chunks=(5,), compression="gzip", compression_opts=3)
            g.create_dataset("ids", data=np.arange(12, dtype=np.int64).reshape(3, 4))
            g.create_dataset("i32", data=np.array([[1, -2]], dtype=np.int32))
            g.create_dataset("f64", data=np.array([0.1, 0.2]), maxshape=(None,))
            f.create_dataset("bytes", data=np.arange(4, dtype=np.uint8))
        """
        let result = try runPython(script, [filePath])
        #expect(result.status == 0, "h5py failed: \(result.stderr)")

        let file = try H5File(path: filePath, mode: .readOnly)
        let root = try file.root
        #expect(try root.attribute("title") == .string("written by h5py"))
        #expect(try root.attribute("fixed") == .string("fixed-length"))
        #expect(try root.attribute("n") == .int(42))
        #expect(try root.attribute("x") == .double(2.5))
        #expect(try root.attribute("v") == .doubles([1.5, 2.5]))
        #expect(try root.attribute("flag") == .other("enum(int8)"))
        let loss = try root.dataset("run/metrics/loss")
        #expect(try loss.read(as: Float.self) == (0..<10).map { Float($0) / 4 })
        #expect(try loss.storage() == H5Storage(chunks: [5], gzipLevel: 3, shuffle: false))
        #expect(try root.dataset("run/metrics/ids").read(start: [1, 0], count: [2, 2], as: Int64.self) == [4, 5, 8, 9])
        #expect(try root.dataset("run/metrics/i32").read(as: Int32.self) == [1, -2])
        #expect(try root.dataset("run/metrics/f64").extent().maximum == [nil])
        #expect(try root.dataset("bytes").typeDescription() == "uint8")
        #expect(try root.dataset("bytes").scalarType() == nil)
        #expect(try root.linkNames() == ["bytes", "run"])
    }
}
