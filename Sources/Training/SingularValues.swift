// Singular values for telemetry (the c_kv spectrum of MLA layers).
import KernelCore
import Foundation
import Models
import Tensor

/// Singular values of a small matrix via the eigenvalues of its Gram matrix (cols × cols),
/// computed by cyclic Jacobi rotations in Double. Deterministic; fine for d_c ≤ a few hundred.
public enum SingularValues {
    public static func of(_ matrix: [Float], rows: Int, cols: Int) -> [Float] {
        var gram = [Double](repeating: 0, count: cols * cols)
        for r in 0..<rows {
            for i in 0..<cols {
                let a = Double(matrix[r * cols + i])
                if a == 0 { continue }
                for j in i..<cols { gram[i * cols + j] += a * Double(matrix[r * cols + j]) }
            }
        }
        for i in 0..<cols { for j in 0..<i { gram[i * cols + j] = gram[j * cols + i] } }
        for _ in 0..<60 {
            var off = 0.0
            for i in 0..<cols { for j in (i + 1)..<max(i + 1, cols) { off += gram[i * cols + j] * gram[i * cols + j] } }
            if off < 1e-22 { break }
            for p in 0..<cols {
                for q in (p + 1)..<max(p + 1, cols) {
                    let apq = gram[p * cols + q]
                    if abs(apq) < 1e-300 { continue }
                    let theta = (gram[q * cols + q] - gram[p * cols + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<cols {
                        let akp = gram[k * cols + p], akq = gram[k * cols + q]
                        gram[k * cols + p] = c * akp - s * akq
                        gram[k * cols + q] = s * akp + c * akq
                    }
                    for k in 0..<cols {
                        let apk = gram[p * cols + k], aqk = gram[q * cols + k]
                        gram[p * cols + k] = c * apk - s * aqk
                        gram[q * cols + k] = s * apk + c * aqk
                    }
                }
            }
        }
        return (0..<cols).map { Float(max(gram[$0 * cols + $0], 0).squareRoot()) }.sorted(by: >)
    }
}
