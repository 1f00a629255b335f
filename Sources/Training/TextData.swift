// text: the bytes (vocab 256) of a UTF-8 file, or of a directory's files concatenated in sorted
// path order. The validation split is the last `val_fraction` of the bytes (split: tail), or a
// random set of documents (split: documents): each document, up to and including its separator
// line, is held out when the draw keyed by (split_seed, document index) falls below
// val_fraction; the held-out documents follow the others, each group in corpus order. Training
// sequence i starts at an offset drawn from (seed, i); validation sequence i starts at the fixed
// offset (i·7919) mod (span + 1) inside the validation split. With split: documents, the last
// evaluation of a run also scores the whole held-out split (`wholeValidation`).
import Config
import Foundation
import Models
import Tensor

public struct TextData: DataSource {
    public let path: String
    public let seed: Int
    let bytes: [UInt8]
    let trainCount: Int
    /// Each file's first byte in `bytes` and its path relative to data.text.path (a single
    /// file: its name), in order.
    let fileStarts: [Int]
    let fileNames: [String]
    /// Where each run of bytes from one file starts in `bytes`, and the file: with a document
    /// split, a file's documents may sit in both splits.
    let segments: [(start: Int, file: Int)]
    /// split: documents: documents held out and in all (nil for split: tail).
    public let heldOut: (documents: Int, of: Int)?

    public enum LoadError: Error, CustomStringConvertible {
        case missing(String), empty(String), binary(String, String), tooShort(String, Int, Int)
        public var description: String {
            switch self {
            case .missing(let p): "data.text.path: '\(p)' does not exist"
            case .empty(let p): "data.text.path: '\(p)' holds no text (empty file or no files)"
            case .binary(let p, let why): "data.text.path: '\(p)' is not UTF-8 text (\(why))"
            case .tooShort(let p, let have, let need):
                "data.text.path: '\(p)' is too short: a split of \(have) bytes cannot hold one sequence of \(need)"
            }
        }
    }

    public init(config: TextConfig, seed: Int, seqLen: Int) throws {
        path = config.path
        self.seed = seed
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw LoadError.missing(path) }
        var files: [String] = []
        if isDirectory.boolValue {
            let enumerator = FileManager.default.enumerator(atPath: path)
            while let item = enumerator?.nextObject() as? String {
                var itemIsDirectory: ObjCBool = false
                let full = (path as NSString).appendingPathComponent(item)
                if FileManager.default.fileExists(atPath: full, isDirectory: &itemIsDirectory), !itemIsDirectory.boolValue,
                   !item.split(separator: "/").contains(where: { $0.hasPrefix(".") }),
                   !config.exclude.contains(where: { item.hasSuffix($0) }) {
                    files.append(full)
                }
            }
            files.sort()
        } else {
            files = [path]
        }
        var bytes: [UInt8] = [], starts: [Int] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { throw LoadError.missing(file) }
            if data.contains(0) { throw LoadError.binary(file, "it contains NUL bytes") }
            if String(data: data, encoding: .utf8) == nil { throw LoadError.binary(file, "invalid UTF-8") }
            starts.append(bytes.count)
            bytes += data
        }
        fileStarts = starts
        if config.split == "documents" {
            let split = Self.documentSplit(bytes, fileStarts: starts, separator: config.separator ?? "%",
                                           fraction: config.valFraction, seed: config.splitSeed ?? 0)
            bytes = split.bytes
            segments = split.segments
            heldOut = (split.heldOut, split.documents)
            trainCount = split.trainCount
        } else {
            segments = starts.enumerated().map { ($1, $0) }
            heldOut = nil
            trainCount = Int((Double(bytes.count) * (1 - config.valFraction)).rounded(.down))
        }
        let root = config.path, inDirectory = isDirectory.boolValue
        fileNames = files.map { inDirectory ? String($0.dropFirst(root.count)).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
                                            : ($0 as NSString).lastPathComponent }
        if bytes.isEmpty { throw LoadError.empty(path) }
        self.bytes = bytes
        let validationCount = bytes.count - trainCount
        if trainCount < seqLen + 1 { throw LoadError.tooShort(path, trainCount, seqLen + 1) }
        if validationCount < seqLen + 1 { throw LoadError.tooShort(path, validationCount, seqLen + 1) }
    }

    public var summary: String {
        "text(\(path), \(bytes.count) bytes, \(trainCount) for training"
            + (heldOut.map { "; \($0.documents) of \($0.of) documents held out" } ?? "") + ")"
    }

    /// The corpus rearranged: training documents, then held-out ones, each in corpus order. A
    /// document ends after a line equal to `separator` (or at its file's end); documents never
    /// span files.
    static func documentSplit(_ bytes: [UInt8], fileStarts: [Int], separator: String, fraction: Double, seed: Int)
        -> (bytes: [UInt8], trainCount: Int, segments: [(start: Int, file: Int)], heldOut: Int, documents: Int) {
        let line = Array(separator.utf8) + [10]
        var documents: [(range: Range<Int>, file: Int)] = []
        for (file, start) in fileStarts.enumerated() {
            let end = file + 1 < fileStarts.count ? fileStarts[file + 1] : bytes.count
            var documentStart = start, lineStart = start
            for i in start..<end where bytes[i] == 10 {
                // The line [lineStart, i] ends here; a separator line closes the document.
                if i + 1 - lineStart == line.count, bytes[lineStart...i].elementsEqual(line) {
                    documents.append((documentStart..<(i + 1), file))
                    documentStart = i + 1
                }
                lineStart = i + 1
            }
            if documentStart < end { documents.append((documentStart..<end, file)) }
        }
        let held = documents.indices.map { index in
            uniformDouble(RandomStream(seed: UInt64(seed), stream: RNGPurpose.dataSplit.stream(index)), 0) < fraction
        }
        var out: [UInt8] = [], segments: [(start: Int, file: Int)] = []
        for validation in [false, true] {
            for (index, document) in documents.enumerated() where held[index] == validation {
                // A new segment where the file changes; offsets in between belong to the last one.
                if segments.last?.file != document.file { segments.append((out.count, document.file)) }
                out += bytes[document.range]
            }
        }
        let trainCount = documents.indices.filter { !held[$0] }.reduce(0) { $0 + documents[$1].range.count }
        return (out, trainCount, segments, held.filter { $0 }.count, documents.count)
    }

    public var vocabNeeded: Int { 256 }
    public var reportsAccuracy: Bool { false }
    /// The corpus bytes as read (files concatenated in sorted path order): a different copy or
    /// version of the corpus gives a different hash, and resume and verify refuse it.
    public var contentSHA256: String { SHA256.hex(bytes: bytes) }

    /// The byte offset where sequence `index` of `split` starts.
    func start(_ split: Split, index: Int, seqLen: Int) -> Int {
        switch split {
        case .train:
            let stream = RandomStream(seed: UInt64(seed), stream: RNGPurpose.dataSequences.stream(index))
            return min(Int(uniformDouble(stream, 0) * Double(trainCount - seqLen)), trainCount - seqLen - 1)
        case .validation:
            let span = bytes.count - trainCount - seqLen - 1
            return trainCount + (span == 0 ? 0 : (index * 7919) % (span + 1))
        }
    }

    /// A validation sequence's source is the file its first target byte is in; the names are
    /// the files the validation split reaches, in path order.
    public func validationSources(validationSequences count: Int, seqLen: Int) -> SourceLabels? {
        func file(of offset: Int) -> Int {
            var low = 0, high = segments.count - 1
            while low < high {
                let mid = (low + high + 1) / 2
                if segments[mid].start <= offset { low = mid } else { high = mid - 1 }
            }
            return segments[low].file
        }
        // The files with bytes in the validation split, in path order (split: tail: the file the
        // split starts in and every later one).
        var reached: Set<Int> = [file(of: trainCount)]
        for segment in segments where segment.start >= trainCount { reached.insert(segment.file) }
        let names = reached.sorted()
        let position = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        let files = (0..<count).map { file(of: start(.validation, index: $0, seqLen: seqLen) + 1) }
        return SourceLabels(names: names.map { fileNames[$0] }, ofSequence: files.map { position[$0]! })
    }

    public func sequences(_ split: Split, first: Int, count: Int, seqLen: Int) -> Batch {
        var inputs: [Int32] = [], targets: [Int32] = []
        for index in first..<(first + count) {
            let start = start(split, index: index, seqLen: seqLen)
            let window = bytes[start...(start + seqLen)].map { Int32($0) }
            inputs += window[0..<seqLen]
            targets += window[1...seqLen]
        }
        return Batch(inputs: IntTensor(shape: [count, seqLen], scalars: inputs),
                     targets: IntTensor(shape: [count, seqLen], scalars: targets),
                     mask: Tensor.ones([count, seqLen]))
    }

    public func optimumLoss(validationSequences count: Int, seqLen: Int) -> Double? { nil }

    /// split: documents: the held-out bytes as consecutive windows, window w starting at
    /// trainCount + w·seqLen (inputs seqLen bytes, targets the next seqLen), so every held-out
    /// byte after the first is a target once; the last partial window (< seqLen targets) is left
    /// out. Each window is scored with the context inside it only.
    public func wholeValidation(seqLen: Int) -> WholeValidation? {
        guard heldOut != nil else { return nil }
        let count = (bytes.count - trainCount - 1) / seqLen
        let data = self
        return WholeValidation(count: count) { first, n in
            var inputs: [Int32] = [], targets: [Int32] = []
            inputs.reserveCapacity(n * seqLen)
            targets.reserveCapacity(n * seqLen)
            for w in first..<(first + n) {
                let start = data.trainCount + w * seqLen
                for t in 0..<seqLen {
                    inputs.append(Int32(data.bytes[start + t]))
                    targets.append(Int32(data.bytes[start + t + 1]))
                }
            }
            return Batch(inputs: IntTensor(shape: [n, seqLen], scalars: inputs),
                         targets: IntTensor(shape: [n, seqLen], scalars: targets), mask: Tensor.ones([n, seqLen]))
        }
    }
}

public enum DataSources {
    /// The source a cell's data section names. `runSeed` is used when data.seed is null.
    /// `vocab` is the model's (token files are checked against it unless data.tokens.vocab is set).
    public static func make(_ config: DataConfig, runSeed: Int, seqLen: Int, vocab: Int) throws -> any DataSource {
        let seed = config.seed ?? runSeed
        switch config.kind {
        case .markovMixture: return MarkovMixture(config: config.markovMixture ?? .defaults, seed: seed)
        case .mqar: return MQAR(config: config.mqar ?? .defaults, seed: seed)
        case .text:
            guard let text = config.text else { throw TextData.LoadError.missing("(data.text.path not set)") }
            return try TextData(config: text, seed: seed, seqLen: seqLen)
        case .tokens:
            guard let tokens = config.tokens else { throw TokenData.LoadError("train", "", "is not set") }
            return try TokenData(config: tokens, vocab: vocab, seed: seed, seqLen: seqLen)
        }
    }
}
