import ArgumentParser
import Foundation
import HDF5

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the groups, datasets and attributes of an HDF5 file.",
        discussion: """
        Prints the tree of groups; each dataset with its shape, dtype, maximum shape (∞ for an \
        extendible axis), chunking and compression; and every attribute as @name = value. \
        Works on any HDF5 file, not only Ablate's. Exit code 1 when the file is missing, not \
        HDF5, or damaged (objects that cannot be read are marked with !!).
        """)

    @Argument(help: "The HDF5 file to inspect.")
    var file: String

    @Flag(help: "Print the tree as JSON (for scripts).")
    var json = false

    func run() throws {
        let tree: H5TreeNode
        do {
            tree = try H5Inspector.inspect(path: file)
        } catch {
            throw fail("\(error)")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(tree), as: UTF8.self))
        } else {
            print(H5Inspector.render(tree, title: file))
        }
        let damaged = countErrors(tree)
        if damaged > 0 {
            throw fail("\(damaged) object(s) in '\(file)' could not be read")
        }
    }

    private func countErrors(_ node: H5TreeNode) -> Int {
        (node.error == nil ? 0 : 1) + (node.children ?? []).reduce(0) { $0 + countErrors($1) }
    }
}
