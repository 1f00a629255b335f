// TEMPORARY stub until DetMath.swift lands.
public enum DetMath {
    @inlinable public static func fma(_ a: Float, _ b: Float, _ c: Float) -> Float { c.addingProduct(a, b) }
}
