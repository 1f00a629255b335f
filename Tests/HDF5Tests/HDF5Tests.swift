// Tests of the Swift HDF5 layer. HDF5 (Debian's build) is not thread-safe and the open-object
// count is process-wide, so every test here runs serially in one suite.
import Foundation
import Testing
import TestSupport
@testable import HDF5

@Suite(.serialized)
struct HDF5Tests: ScratchSuite {
    let directory: URL
    init() throws { directory = try TestEnvironment.temporaryDirectory("hdf5-tests") }

    /// Values that differ in every element and exercise sign and fractional parts.
    static func sample<T: H5Scalar>(_ type: T.Type, count: Int) -> [T] {
        (0..<count).map { index in
            let value = Double(index) * 1.25 - Double(count) / 3
            switch T.h5Type {
            case .float32: return Float(value) as! T
            case .float64: return (value + 1e-9 * Double(index)) as! T
            case .int32: return Int32(index * 7 - 3 * count) as! T
            case .int64: return (Int64(index) * 1_000_000_007 - (1 << 40)) as! T
            }
        }
    }

    func roundTrip<T: H5Scalar & Equatable>(_ type: T.Type) throws {
        let file = try H5File(path: path("types-\(T.h5Type).h5"), mode: .truncate)
        let root = try file.root
        let shapes: [[Int]] = [[], [5], [3, 4], [2, 3, 4], [2, 1, 3, 2], [0, 3]]
        for (index, shape) in shapes.enumerated() {
            let values = Self.sample(T.self, count: shape.reduce(1, *))
            try root.createDataset("plain/\(index)", shape: shape, values: values)
            if !shape.isEmpty && !shape.contains(0) {
                let storage = H5Storage(chunks: shape.map { max(1, $0 / 2) }, gzipLevel: 6, shuffle: true)
                try root.createDataset("packed/\(index)", shape: shape, values: values, storage: storage)
            }
        }
        file.close()

        let reopened = try H5File(path: path("types-\(T.h5Type).h5"), mode: .readOnly)
        let readRoot = try reopened.root
        for (index, shape) in shapes.enumerated() {
            let expected = Self.sample(T.self, count: shape.reduce(1, *))
            let plain = try readRoot.dataset("plain/\(index)")
            #expect(try plain.shape() == shape)
            #expect(try plain.scalarType() == T.h5Type)
            #expect(try plain.read(as: T.self) == expected)
            #expect(try plain.storage() == .contiguous)
            if !shape.isEmpty && !shape.contains(0) {
                let packed = try readRoot.dataset("packed/\(index)")
                #expect(try packed.read(as: T.self) == expected)
                #expect(try packed.storage() == H5Storage(chunks: shape.map { max(1, $0 / 2) }, gzipLevel: 6, shuffle: true))
            }
        }
    }

    @Test func roundTripsEveryTypeAndRank() throws {
        try roundTrip(Float.self)
        try roundTrip(Double.self)
        try roundTrip(Int32.self)
        try roundTrip(Int64.self)
    }

    @Test func roundTripsAttributesOnFilesGroupsAndDatasets() throws {
        let values: [(String, H5AttributeValue)] = [
            ("text", .string("MLA · MoE — ünïcode ✓")),
            ("empty", .string("")),
            ("count", .int(-(1 << 62))),
            ("rate", .double(3.0e-4)),
            ("names", .strings(["a", "bé", ""])),
            ("steps", .ints([0, 10, 1 << 40])),
            ("curve", .doubles([0.5, -1.25, .infinity])),
        ]
        let file = try H5File(path: path("attributes.h5"), mode: .truncate)
        let root = try file.root
        let group = try root.createGroup("a/b")
        let dataset = try group.createDataset("x", shape: [2], values: [Float(1), 2])
        let holders: [H5Object] = [root, group, dataset]
        for holder in holders {
            for (name, value) in values { try holder.setAttribute(name, value) }
            try holder.setAttribute("count", .int(7))  // replacing an attribute works
        }
        file.close()

        let reopened = try H5File(path: path("attributes.h5"), mode: .readOnly)
        let readRoot = try reopened.root
        let readHolders: [H5Object] = [readRoot, try readRoot.group("a/b"), try readRoot.dataset("a/b/x")]
        for holder in readHolders {
            for (name, value) in values where name != "count" {
                #expect(try holder.attribute(name) == value, "\(name) on \(holder.path)")
            }
            #expect(try holder.attribute("count") == .int(7))
            #expect(try holder.attributeNames() == values.map(\.0).sorted())
        }
        #expect(throws: HDF5Error.self) { try readRoot.attribute("missing") }
    }

    @Test func appendsRowsAcrossCloseAndReopen() throws {
        let filePath = path("append.h5")
        do {
            let file = try H5File(path: filePath, mode: .truncate)
            let group = try file.root.createGroup("moe/layer_0")
            let load = try group.createExtendibleDataset("load", of: Int64.self, rowShape: [3], chunkRows: 4)
            try load.append([1, 2, 3, 4, 5, 6] as [Int64])
            let loss = try group.createExtendibleDataset("loss", of: Float.self)
            try loss.append([0.5] as [Float])
            try file.flush()
            file.close()
        }
        do {
            let file = try H5File(path: filePath, mode: .readWrite)
            let load = try file.root.dataset("moe/layer_0/load")
            try load.append([7, 8, 9] as [Int64])
            try load.append([10, 11, 12, 13, 14, 15] as [Int64])
            #expect(throws: HDF5Error.self) { try load.append([1, 2] as [Int64]) }  // not whole rows
            try file.root.dataset("moe/layer_0/loss").append([0.25, 0.125] as [Float])
            file.close()
        }
        let file = try H5File(path: filePath, mode: .readOnly)
        let load = try file.root.dataset("moe/layer_0/load")
        #expect(try load.shape() == [5, 3])
        #expect(try load.extent().maximum == [nil, 3])
        #expect(try load.read(as: Int64.self) == (1...15).map { Int64($0) })
        #expect(try load.read(start: [1, 1], count: [3, 2], as: Int64.self) == [5, 6, 8, 9, 11, 12])
        #expect(try file.root.dataset("moe/layer_0/loss").read(as: Float.self) == [0.5, 0.25, 0.125])
        let error = #expect(throws: HDF5Error.self) {
            try load.read(start: [4, 0], count: [2, 3], as: Int64.self)
        }
        #expect(error?.description.contains("outside") == true)
        #expect(error?.description.contains("/moe/layer_0/load") == true)
    }

    @Test func readsHyperslabsOfEveryRank() throws {
        let file = try H5File(path: path("slabs.h5"), mode: .truncate)
        let values = (0..<60).map { Double($0) }
        let dataset = try file.root.createDataset("cube", shape: [3, 4, 5], values: values)
        let slab = try dataset.read(start: [1, 2, 1], count: [2, 2, 3], as: Double.self)
        var expected: [Double] = []
        for i in 1..<3 { for j in 2..<4 { for k in 1..<4 { expected.append(Double(i * 20 + j * 5 + k)) } } }
        #expect(slab == expected)
        // HDF5 converts between numeric types on read.
        #expect(try dataset.read(start: [0, 0, 0], count: [1, 1, 4], as: Float.self) == [0, 1, 2, 3])
    }

    @Test func roundTripsStringDatasets() throws {
        let file = try H5File(path: path("strings.h5"), mode: .truncate)
        let text = "name: quickstart\nmodel:\n  d_model: 64  # ✓\n"
        try file.root.createStringDataset("spec/given", value: text)
        file.close()
        let reopened = try H5File(path: path("strings.h5"), mode: .readOnly)
        #expect(try reopened.root.dataset("spec/given").readString() == text)
        let error = #expect(throws: HDF5Error.self) { try reopened.root.dataset("spec/given").read(as: Float.self) }
        #expect(error?.description.contains("not numbers") == true)
    }

    @Test func missingCorruptAndTruncatedFilesGiveClearErrors() throws {
        let missing = #expect(throws: HDF5Error.self) { try H5File(path: path("nope.h5"), mode: .readOnly) }
        #expect(missing?.description == "cannot open '\(path("nope.h5"))': no such file")

        try Data("this is not HDF5\n".utf8).write(to: URL(fileURLWithPath: path("text.h5")))
        let corrupt = #expect(throws: HDF5Error.self) { try H5File(path: path("text.h5"), mode: .readOnly) }
        #expect(corrupt?.description.contains(path("text.h5")) == true)
        #expect(corrupt?.description.contains("file signature not found") == true)
        #expect(corrupt?.description.contains("\n") == false)

        // A real file cut in half (as by a full disk) is refused with HDF5's reason.
        let whole = path("whole.h5")
        let file = try H5File(path: whole, mode: .truncate)
        try file.root.createDataset("x", shape: [1000], values: (0..<1000).map { Double($0) })
        file.close()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: whole))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path("half.h5")))
        let truncated = #expect(throws: HDF5Error.self) { try H5File(path: path("half.h5"), mode: .readOnly) }
        #expect(truncated?.description.contains("truncated") == true)

        #expect(throws: HDF5Error.self) { try H5File(path: directory.path, mode: .readOnly) }
        #expect(HDF5Diagnostics.openObjectCount(inFilesUnder: directory.path) == 0)
    }

    @Test func errorsCarryHDF5sOwnStack() throws {
        let file = try H5File(path: path("stack.h5"), mode: .truncate)
        let root = try file.root
        try root.createDataset("x", shape: [1], values: [Int32(1)])
        let error = #expect(throws: HDF5Error.self) { try root.createDataset("x", shape: [1], values: [Int32(2)]) }
        #expect(error?.context == "cannot create dataset '/x' in '\(path("stack.h5"))'")
        #expect(error?.stack.isEmpty == false)
        #expect(error?.stack.contains { $0.contains("already exists") } == true)
        let missing = #expect(throws: HDF5Error.self) { try root.dataset("a/b") }
        #expect(missing?.description.contains("'/a/b'") == true)
    }

    /// Guards against leaked identifiers: every handle must close when its object goes away.
    @Test func tenThousandObjectsCloseBackToZero() throws {
        #expect(HDF5Diagnostics.openObjectCount(inFilesUnder: directory.path) == 0)
        let file = try H5File(path: path("many.h5"), mode: .truncate)
        let root = try file.root
        for index in 0..<2_000 {
            let group = try root.createGroup("g\(index % 50)/h\(index)")  // 1 group handle
            let dataset = try group.createDataset("d", shape: [2], values: [Float(index), 1])  // 1 dataset
            try dataset.setAttribute("i", index)  // attribute opened and closed inside
            _ = try dataset.attribute("i")
            _ = try root.group("g\(index % 50)")  // reopened group, released at once
            _ = try root.dataset("g\(index % 50)/h\(index)/d").read(as: Float.self)
        }
        #expect(HDF5Diagnostics.openObjectCount() >= 2)  // the file and its root are open
        file.close()  // closes the root group and anything else still open in the file
        #expect(HDF5Diagnostics.openObjectCount(inFilesUnder: directory.path) == 0)
        #expect(throws: HDF5Error.self) { try root.linkNames() }  // a closed object throws, never crashes
        let reopened = try H5File(path: path("many.h5"), mode: .readOnly)
        let tree = try H5Inspector.inspect(path: path("many.h5"))
        #expect(tree.children?.count == 50)
        reopened.close()
        #expect(HDF5Diagnostics.openObjectCount(inFilesUnder: directory.path) == 0)
    }

    @Test func inspectorDescribesDatasetsAndAttributes() throws {
        let file = try H5File(path: path("tree.h5"), mode: .truncate)
        let root = try file.root
        try root.setAttribute("schema", "ablate.run")
        let metrics = try root.createGroup("metrics/train")
        try metrics.createExtendibleDataset("loss", of: Float.self, chunkRows: 128)
        file.close()
        let tree = try H5Inspector.inspect(path: path("tree.h5"))
        let loss = tree.children?.first?.children?.first?.children?.first
        #expect(loss?.path == "/metrics/train/loss")
        #expect(loss?.dtype == "float32")
        #expect(loss?.shape == [0])
        #expect(loss?.maxShape == [nil])
        #expect(loss?.chunks == [128])
        #expect(loss?.compression == "gzip 4")
        let text = H5Inspector.render(tree, title: "tree.h5")
        #expect(text.contains("@schema = \"ablate.run\""))
        #expect(text.contains("loss  float32 (0)  max (∞)  chunks (128)  shuffle+gzip 4"))
    }
}
