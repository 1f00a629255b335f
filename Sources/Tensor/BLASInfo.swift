import CBLAS

/// The BLAS the kernels call, for provenance ("OpenBLAS 0.3.21 DYNAMIC_ARCH … Zen").
public enum BLASInfo {
    public static var description: String {
        guard let config = openblas_get_config() else { return "OpenBLAS" }
        return String(cString: config).trimmingCharacters(in: .whitespaces)
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

extension Set where Element == Character {
    fileprivate static var whitespaces: Set<Character> { [" ", "\t", "\n"] }
}
