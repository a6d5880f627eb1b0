import Foundation

/// The two-sample Kolmogorov–Smirnov test, two-sided, computed as
/// `scipy.stats.ks_2samp(a, b, method="auto")` does: the exact distribution
/// when both samples have at most 10,000 values, else Smirnov's asymptotic
/// distribution via the one-sample Kolmogorov distribution with
/// n = round(n1·n2 / (n1 + n2)) (Simard & L'Ecuyer's choice of method).
public enum KolmogorovSmirnov {
    public enum Method: String, Sendable, Codable { case exact, asymptotic }

    public struct Result: Sendable, Hashable, Codable {
        public var statistic: Double
        public var pValue: Double
        public var method: Method
    }

    /// Largest sample size for which `auto` uses the exact distribution.
    public static let maxExactSize = 10_000

    /// Both inputs must be sorted ascending and free of NaN.
    public static func test(sorted a: [Double], sorted b: [Double]) -> Result {
        precondition(!a.isEmpty && !b.isEmpty, "KS needs two non-empty samples")
        let n1 = a.count, n2 = b.count
        let d = statistic(sorted: a, sorted: b)
        if max(n1, n2) <= maxExactSize, let exact = exactPValue(n1: n1, n2: n2, d: d) {
            return Result(statistic: exact.d, pValue: exact.p, method: .exact)
        }
        let (m, n) = (Double(max(n1, n2)), Double(min(n1, n2)))
        let en = (m * n / (m + n)).rounded(.toNearestOrEven)
        return Result(statistic: d, pValue: clip(Kolmogorov.sf(n: Int(en), x: d)), method: .asymptotic)
    }

    /// sup |F_a − F_b| over the pooled values (right-continuous ECDFs).
    public static func statistic(sorted a: [Double], sorted b: [Double]) -> Double {
        let n1 = Double(a.count), n2 = Double(b.count)
        var i = 0, j = 0
        var d = 0.0
        while i < a.count || j < b.count {
            let x: Double
            if j >= b.count || (i < a.count && a[i] <= b[j]) { x = a[i] } else { x = b[j] }
            while i < a.count && a[i] <= x { i += 1 }
            while j < b.count && b[j] <= x { j += 1 }
            d = max(d, abs(Double(i) / n1 - Double(j) / n2))
        }
        return d
    }

    static func clip(_ p: Double) -> Double { min(1, max(0, p)) }

    /// The exact two-sided p-value (nil when it cannot be computed in doubles).
    static func exactPValue(n1: Int, n2: Int, d: Double) -> (d: Double, p: Double)? {
        let g = gcd(n1, n2)
        let lcm = Double(n1 / g) * Double(n2)
        let h = Int((d * lcm).rounded(.toNearestOrEven))
        let dd = Double(h) / lcm
        if h == 0 { return (dd, 1) }
        let p = n1 == n2 ? probOutsideSquare(n: n1, h: h) : outerProbInside(m: n1, n: n2, g: g, h: h)
        guard p.isFinite, p >= 0, p <= 1 else { return nil }
        return (dd, p)
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    /// Proportion of lattice paths passing outside the lines x − y = ±h (m = n).
    static func probOutsideSquare(n: Int, h: Int) -> Double {
        var p = 0.0
        var k = n / h
        while k >= 0 {
            var p1 = 1.0
            for j in 0..<h {
                p1 = Double(n - k * h - j) * p1 / Double(n + k * h + j + 1)
            }
            p = p1 * (1 - p)
            k -= 1
        }
        return 2 * p
    }

    /// 1 − (proportion of paths staying strictly inside |x/m − y/n| < h/lcm),
    /// by the inside method in the numerically stable form of Viehmann (2021).
    static func outerProbInside(m mIn: Int, n nIn: Int, g: Int, h: Int) -> Double {
        let (m, n) = mIn >= nIn ? (mIn, nIn) : (nIn, mIn)
        let mg = m / g, ng = n / g
        var minj = 0
        var maxj = min(Int((Double(h) / Double(mg)).rounded(.up)), n + 1)
        var curlen = maxj - minj
        let lenA = min(2 * maxj + 2, n + 1)
        var a = [Double](repeating: 1, count: max(lenA, 1))
        for x in minj..<min(maxj, a.count) { a[x] = 0 }
        for i in 1...m {
            let lastminj = minj, lastlen = curlen
            minj = max(Int((Double(ng * i - h) / Double(mg)).rounded(.down)) + 1, 0)
            minj = min(minj, n)
            maxj = min(Int((Double(ng * i + h) / Double(mg)).rounded(.up)), n + 1)
            if maxj <= minj { return 1 }
            var val = minj == 0 ? 0.0 : 1.0
            for jj in 0..<(maxj - minj) {
                let j = jj + minj
                val = (a[jj + minj - lastminj] * Double(i) + val * Double(j)) / Double(i + j)
                a[jj] = val
            }
            curlen = maxj - minj
            if lastlen > curlen {
                for x in (maxj - minj)..<min(maxj - minj + (lastlen - curlen), a.count) { a[x] = 1 }
            }
        }
        return a[maxj - minj - 1]
    }
}

/// The one-sample Kolmogorov distribution (two-sided), as scipy's `kstwo`.
public enum Kolmogorov {
    static let minLog = -708.0

    /// P(D_n ≥ x).
    public static func sf(n: Int, x: Double) -> Double {
        if x >= 1 { return 0 }
        if x <= 0 { return 1 }
        let nd = Double(n)
        let t = nd * x
        if t <= 1 {
            if t <= 0.5 { return 1 }
            let prob: Double
            if n <= 140 {
                var p = 1.0
                for i in 1...n { p *= Double(i) / nd * (2 * t - 1) }
                prob = p
            } else {
                prob = exp(logFactorialOverPower(nd) + nd * log(2 * t - 1))
            }
            return KolmogorovSmirnov.clip(1 - prob)
        }
        if t >= nd - 1 { return KolmogorovSmirnov.clip(2 * pow(1 - x, nd)) }
        if x >= 0.5 { return KolmogorovSmirnov.clip(2 * Smirnov.sf(n: n, x: x)) }
        let nxsq = t * x
        if n <= 140 {
            // Small n is never reached from the two-sample test (n ≥ 5,000 there).
            if nxsq <= 0.754693 { return KolmogorovSmirnov.clip(1 - durbinCDF(n: n, d: x)) }
            return KolmogorovSmirnov.clip(2 * Smirnov.sf(n: n, x: x))
        }
        if nxsq >= 370 { return 0 }
        if nxsq >= 2.2 { return KolmogorovSmirnov.clip(2 * Smirnov.sf(n: n, x: x)) }
        let cdf: Double
        if nxsq >= 18 {
            cdf = 1
        } else if n <= 100_000 && nd * pow(x, 1.5) <= 1.4 {
            cdf = durbinCDF(n: n, d: x)
        } else {
            cdf = pelzGoodCDF(n: n, x: x)
        }
        return KolmogorovSmirnov.clip(1 - cdf)
    }

    /// log(n! / n^n) by Stirling's series (no cancellation for large n).
    static func logFactorialOverPower(_ n: Double) -> Double {
        let coeffs = [-2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3,
                      8.4175084175084175084e-4, -5.952380952380952381e-4, 7.9365079365079365079e-4,
                      -2.7777777777777777778e-3, 8.3333333333333333333e-2]
        let rn = 1 / n
        var poly = 0.0
        for c in coeffs { poly = poly * (rn / n) + c }
        return log(n) / 2 - n + log(2 * Double.pi) / 2 + rn * poly
    }

    /// Durbin's matrix method as Marsaglia, Tsang & Wang (2003): P(D_n ≤ d).
    static func durbinCDF(n: Int, d: Double) -> Double {
        if d >= 1 { return 1 }
        let nd = Double(n) * d
        if nd <= 0.5 { return 0 }
        let k = Int(nd.rounded(.up))
        let h = Double(k) - nd
        let m = 2 * k - 1
        var H = [Double](repeating: 0, count: m * m)
        var v = (1...m).map { 1 - pow(h, Double($0)) }
        var w = [Double](repeating: 0, count: m)
        var fac = 1.0
        for j in 1...m {
            w[j - 1] = fac
            fac /= Double(j)
            v[j - 1] *= fac
        }
        let tt = pow(max(2 * h - 1, 0), Double(m)) - 2 * pow(h, Double(m))
        v[m - 1] = (1 + tt) * fac
        for i in 1..<m {
            for r in (i - 1)..<m where r - (i - 1) < m - i + 1 { H[r * m + i] = w[r - (i - 1)] }
        }
        for r in 0..<m { H[r * m] = v[r] }
        for c in 0..<m { H[(m - 1) * m + c] = v[m - 1 - c] }

        func multiply(_ a: [Double], _ b: [Double]) -> [Double] {
            var c = [Double](repeating: 0, count: m * m)
            for i in 0..<m {
                for l in 0..<m {
                    let ail = a[i * m + l]
                    if ail == 0 { continue }
                    for j in 0..<m { c[i * m + j] += ail * b[l * m + j] }
                }
            }
            return c
        }
        var power = [Double](repeating: 0, count: m * m)
        for i in 0..<m { power[i * m + i] = 1 }
        var nn = n
        var exponent = 0, hExponent = 0
        let scale = 0x1p128, e128 = 128
        while nn > 0 {
            if nn % 2 == 1 {
                power = multiply(power, H)
                exponent += hExponent
            }
            H = multiply(H, H)
            hExponent *= 2
            if abs(H[(k - 1) * m + (k - 1)]) > scale {
                for i in 0..<H.count { H[i] /= scale }
                hExponent += e128
            }
            nn /= 2
        }
        var p = power[(k - 1) * m + (k - 1)]
        for i in 1...n {
            p = Double(i) * p / Double(n)
            if abs(p) < 0x1p-128 {
                p *= scale
                exponent -= e128
            }
        }
        if exponent != 0 { p = scalbn(p, exponent) }
        return KolmogorovSmirnov.clip(p)
    }

    /// The Pelz–Good approximation to P(D_n ≤ x).
    static func pelzGoodCDF(n: Int, x: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let z = Double(n).squareRoot() * x
        let z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2
        let pi2 = Double.pi * Double.pi, pi4 = pi2 * pi2, pi6 = pi4 * pi2
        let qlog = -pi2 / 8 / z2
        if qlog < minLog { return 0 }
        var q = exp(qlog)
        let k1a = -z2, k1b = pi2 / 4
        let k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4, k2c = pi4 * (1 - 2 * z2) / 16
        let k3d = pi6 * (5 - 30 * z2) / 64
        let k3c = pi4 * (-60 * z2 + 212 * z4) / 16
        let k3b = pi2 * (135 * z4 - 96 * z6) / 4
        let k3a = -30 * z6 - 90 * z4 * z4
        var k = [0.0, 0.0, 0.0, 0.0]
        let maxk = Int((16 * z / Double.pi).rounded(.up))
        for kk in stride(from: maxk, through: 1, by: -1) {
            let m = Double(2 * kk - 1)
            let m2 = m * m, m4 = m2 * m2, m6 = m4 * m2
            let qpower = pow(q, Double(8 * kk))
            let coeffs = [1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6]
            for i in 0..<4 { k[i] = k[i] * qpower + coeffs[i] }
        }
        let sqrt2pi = (2 * Double.pi).squareRoot()
        let divisors = [z, 6 * z4, 72 * z4 * z3, 6480 * z4 * z6]
        for i in 0..<4 { k[i] = k[i] * q * sqrt2pi / divisors[i] }
        q = exp(-pi2 / 2 / z2)
        var k2extra = 0.0, k3extra = 0.0
        let sqrt3z = 3.0.squareRoot() * z
        for kk in stride(from: maxk, through: 1, by: -1) {
            let ks = Double(kk), ks2 = ks * ks
            let qp = pow(q, ks2)
            k2extra += ks2 * qp
            let kspi = Double.pi * ks
            k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qp
        }
        k[2] += k2extra * pi2 * sqrt2pi / (-36 * z3)
        k[3] += k3extra * pi2 * sqrt2pi / (216 * z6)
        var sum = 0.0
        for i in 0..<4 { sum += k[i] / pow(Double(n), Double(i) / 2) }
        return sum
    }
}

/// The one-sided Smirnov distribution, P(D⁺_n ≥ x), by the exact
/// Birnbaum–Tingey sum evaluated in logs (all terms are positive).
public enum Smirnov {
    public static func sf(n: Int, x: Double) -> Double {
        if x <= 0 { return 1 }
        if x >= 1 { return 0 }
        let nd = Double(n)
        let last = Int((nd * (1 - x)).rounded(.down))
        let logNFact = logGamma(nd + 1)
        var terms: [Double] = []
        terms.reserveCapacity(min(last + 1, 1 << 16))
        var maxTerm = -Double.infinity, argMax = 0
        var logBinomial = 0.0  // log C(n, j), by recurrence, re-anchored exactly every 256 steps
        for j in 0...last {
            let jd = Double(j)
            if j % 256 == 0 {
                logBinomial = logNFact - logGamma(jd + 1) - logGamma(nd - jd + 1)
            } else {
                logBinomial += log((nd - jd + 1) / jd)
            }
            let a = 1 - x - jd / nd
            let b = x + jd / nd
            var t = logBinomial
            if nd - jd > 0 { t += (nd - jd) * (a > 0 ? log(a) : -Double.infinity) }
            t += (jd - 1) * log(b)
            terms.append(t)
            if t > maxTerm { maxTerm = t; argMax = j }
            // Past the peak, once terms are 1e-26 of it they no longer change the sum.
            if j > argMax + 16 && t < maxTerm - 60 { break }
        }
        guard maxTerm.isFinite else { return 0 }
        var sum = 0.0
        for t in terms { sum += exp(t - maxTerm) }
        return KolmogorovSmirnov.clip(exp(log(x) + maxTerm + log(sum)))
    }
}

/// log Γ(x) for x > 0.
func logGamma(_ x: Double) -> Double {
    let value: Double = lgamma(x)
    return value
}
