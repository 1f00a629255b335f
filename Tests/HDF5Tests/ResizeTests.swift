// Resizing extendible datasets (resume cuts aligned datasets back) and 1-D string datasets.
import Foundation
import Testing
import TestSupport
@testable import HDF5

extension HDF5Tests {
    /// Guards the resume path: shrink, then append again, must read back only the new rows.
    @Test func resizeShrinksAndAppendsContinue() throws {
        let file = try H5File(path: path("resize.h5"), mode: .truncate)
        let load = try file.root.createExtendibleDataset("load", of: Int64.self, rowShape: [2], chunkRows: 4)
        try load.append((0..<20).map { Int64($0) })
        try load.resize(rows: 3)
        #expect(try load.shape() == [3, 2])
        try load.append([100, 101] as [Int64])
        #expect(try load.read(as: Int64.self) == [0, 1, 2, 3, 4, 5, 100, 101])
        try load.resize(rows: 0)
        #expect(try load.shape() == [0, 2])
        let fixed = try file.root.createDataset("fixed", shape: [2], values: [1.0, 2.0])
        #expect(throws: HDF5Error.self) { try fixed.resize(rows: 3) }
        file.close()
    }

    @Test func stringArraysRoundTrip() throws {
        let file = try H5File(path: path("string-arrays.h5"), mode: .truncate)
        try file.root.createStringArrayDataset("o", values: ["model.d_model=8", "train.steps=3 ✓"])
        try file.root.createStringArrayDataset("empty", values: [])
        #expect(try file.root.dataset("o").readStrings() == ["model.d_model=8", "train.steps=3 ✓"])
        #expect(try file.root.dataset("empty").readStrings() == [])
        file.close()
    }
}

extension HDF5Tests {
    @Test func perFileObjectCountSeesOnlyThatFile() throws {
        let file = try H5File(path: path("count-a.h5"), mode: .truncate)
        let other = try H5File(path: path("count-b.h5"), mode: .truncate)
        let group = try file.root.createGroup("g")
        #expect(file.openObjectCount() == 2)  // the file and the group (the root handle was released)
        #expect(other.openObjectCount() == 1)
        group.close()
        file.close()
        let again = try H5File(path: path("count-a.h5"), mode: .readOnly)
        #expect(again.openObjectCount() == 1)
        again.close()
        other.close()
    }
}

extension HDF5Tests {
    @Test func objectCountUnderADirectoryIgnoresOtherFiles() throws {
        let elsewhere = try TestEnvironment.temporaryDirectory("hdf5-elsewhere")
        let other = try H5File(path: elsewhere.appendingPathComponent("x.h5").path, mode: .truncate)
        let mine = try H5File(path: path("mine.h5"), mode: .truncate)
        let group = try mine.root.createGroup("g")
        #expect(HDF5Diagnostics.openObjectCount(inFilesUnder: directory.path) == 2)
        #expect(HDF5Diagnostics.openObjectCount(inFilesUnder: elsewhere.path) == 1)
        group.close()
        mine.close()
        #expect(HDF5Diagnostics.openObjectCount(inFilesUnder: directory.path) == 0)
        other.close()
        #expect(HDF5Diagnostics.openObjectCount(inFilesUnder: elsewhere.path) == 0)
    }
}
