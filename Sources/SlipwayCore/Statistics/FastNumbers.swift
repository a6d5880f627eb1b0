import Foundation

/// Number parsing and sorting fast enough for millions of values.
public enum FastNumbers {
    static let exactPowers: [Double] = (0...22).map { pow(10.0, Double($0)) }

    /// Parses a decimal number from bytes (surrounding spaces allowed).
    /// Common forms (≤ 19 significant digits, small exponents) take Clinger's
    /// exact fast path; the rest go to strtod, so every result is correctly
    /// rounded. Returns nil for anything that is not a number; ±inf for overflow.
    @inline(__always)
    public static func parseDouble(_ bytes: UnsafeRawBufferPointer) -> Double? {
        var i = 0, end = bytes.count
        while i < end && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
        while end > i && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
        if i == end { return nil }
        let start = i
        var negative = false
        if bytes[i] == 0x2D { negative = true; i += 1 } else if bytes[i] == 0x2B { i += 1 }
        var mantissa: UInt64 = 0
        var digits = 0, fractionDigits = 0
        var sawDigit = false
        while i < end, bytes[i] &- 0x30 < 10 {
            if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(bytes[i] &- 0x30); if mantissa > 0 { digits += 1 } } else { return slow(bytes, start, end) }
            sawDigit = true
            i += 1
        }
        if i < end && bytes[i] == 0x2E {
            i += 1
            while i < end, bytes[i] &- 0x30 < 10 {
                if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(bytes[i] &- 0x30); if mantissa > 0 { digits += 1 }; fractionDigits += 1 }
                else { return slow(bytes, start, end) }
                sawDigit = true
                i += 1
            }
        }
        guard sawDigit else { return slow(bytes, start, end) }
        var exponent = 0
        if i < end && (bytes[i] == 0x65 || bytes[i] == 0x45) {
            i += 1
            var expNegative = false
            if i < end && bytes[i] == 0x2D { expNegative = true; i += 1 } else if i < end && bytes[i] == 0x2B { i += 1 }
            var e = 0, expDigits = 0
            while i < end, bytes[i] &- 0x30 < 10 {
                if e < 100_000 { e = e * 10 + Int(bytes[i] &- 0x30) }
                expDigits += 1
                i += 1
            }
            if expDigits == 0 { return nil }
            exponent = expNegative ? -e : e
        }
        if i != end { return nil }
        let e10 = exponent - fractionDigits
        if mantissa <= (1 << 53) && e10 >= -22 && e10 <= 22 {
            var v = Double(mantissa)
            if e10 < 0 { v /= exactPowers[-e10] } else { v *= exactPowers[e10] }
            return negative ? -v : v
        }
        return slow(bytes, start, end)
    }

    static func slow(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Double? {
        let n = end - start
        guard n > 0, n < 512 else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: n + 1) { buf -> Double? in
            for k in 0..<n {
                let c = bytes[start + k]
                // Only characters a decimal number can hold: strtod also reads hex, inf and nan.
                guard (c >= 0x30 && c <= 0x39) || c == 0x2E || c == 0x2D || c == 0x2B || c == 0x65 || c == 0x45 else { return nil }
                buf[k] = CChar(bitPattern: c)
            }
            buf[n] = 0
            var endPtr: UnsafeMutablePointer<CChar>?
            let v = strtod(buf.baseAddress!, &endPtr)
            guard let endPtr, endPtr == buf.baseAddress! + n else { return nil }
            return v
        }
    }

    /// Sorts doubles (no NaN) ascending with an LSD radix sort on their IEEE
    /// bits: O(n), about ten times faster than a comparison sort at 10⁶.
    public static func radixSort(_ values: inout [Double]) {
        let n = values.count
        if n < 4096 { values.sort(); return }
        var keys = [UInt64](repeating: 0, count: n)
        var tmp = [UInt64](repeating: 0, count: n)
        values.withUnsafeBufferPointer { v in
            for i in 0..<n {
                let bits = v[i].bitPattern
                keys[i] = bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
            }
        }
        let radix = 16, buckets = 1 << radix, mask = UInt64(buckets - 1)
        var counts = [Int](repeating: 0, count: buckets)
        var shift: UInt64 = 0
        while shift < 64 {
            for b in 0..<buckets { counts[b] = 0 }
            keys.withUnsafeBufferPointer { k in
                for i in 0..<n { counts[Int((k[i] >> shift) & mask)] += 1 }
            }
            // Skip a pass where every key has the same digit.
            if counts.contains(n) { shift += UInt64(radix); continue }
            var total = 0
            for b in 0..<buckets { let c = counts[b]; counts[b] = total; total += c }
            keys.withUnsafeBufferPointer { k in
                tmp.withUnsafeMutableBufferPointer { t in
                    for i in 0..<n {
                        let d = Int((k[i] >> shift) & mask)
                        t[counts[d]] = k[i]
                        counts[d] += 1
                    }
                }
            }
            swap(&keys, &tmp)
            shift += UInt64(radix)
        }
        values.withUnsafeMutableBufferPointer { v in
            for i in 0..<n {
                let k = keys[i]
                v[i] = Double(bitPattern: k & (1 << 63) != 0 ? k & ~(1 << 63) : ~k)
            }
        }
    }
}
