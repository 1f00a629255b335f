// Curves cut down to what a chart can show: steps are grouped into at most `buckets` equal
// ranges and each range becomes one point (mean of the values in it, at the range's last step),
// so 5,000 steps draw as a few hundred points and the last point is always the newest step.
import Foundation

enum Downsample {
    /// Width (in steps) of a bucket so that steps 0...maxStep fit into `buckets` buckets.
    static func width(maxStep: Int64, buckets: Int) -> Int64 {
        max(1, (maxStep + Int64(buckets)) / Int64(buckets))
    }

    /// Bucketed points of one series: (bucket index, last step in it, mean of finite values).
    /// Buckets with no finite value are dropped.
    static func series(steps: [Int64], values: [Double], width: Int64) -> [(bucket: Int64, step: Int64, value: Double)] {
        var out: [(bucket: Int64, step: Int64, value: Double)] = []
        var bucket: Int64 = -1, sum = 0.0, count = 0, last: Int64 = 0
        func close() { if bucket >= 0 && count > 0 { out.append((bucket, last, sum / Double(count))) } }
        for (step, value) in zip(steps, values) {
            let b = step / width
            if b != bucket { close(); bucket = b; sum = 0; count = 0 }
            last = step
            if value.isFinite { sum += value; count += 1 }
        }
        close()
        return out
    }

    /// Row-wise bucketing of a [n, columns] matrix (row-major) aligned with `steps`: the mean row
    /// of each bucket, and the bucket's last step.
    static func rows(steps: [Int64], matrix: [Double], columns: Int, width: Int64) -> (steps: [Int64], rows: [[Double]]) {
        guard columns > 0 else { return ([], []) }
        var outSteps: [Int64] = []
        var outRows: [[Double]] = []
        var bucket: Int64 = -1
        var sum = [Double](repeating: 0, count: columns)
        var count = 0
        func close() {
            if count > 0 { outRows.append(sum.map { $0 / Double(count) }) }
        }
        for (i, step) in steps.enumerated() where (i + 1) * columns <= matrix.count {
            let b = step / width
            if b != bucket {
                close()
                bucket = b
                sum = [Double](repeating: 0, count: columns)
                count = 0
                outSteps.append(step)
            }
            outSteps[outSteps.count - 1] = step
            for c in 0..<columns { sum[c] += matrix[i * columns + c] }
            count += 1
        }
        close()
        return (outSteps, outRows)
    }
}
