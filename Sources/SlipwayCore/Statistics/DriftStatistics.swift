import Foundation

/// Distribution-shift statistics between a reference sample and a current
/// one. Pure functions; numeric inputs are sorted ascending and free of NaN.
///
/// Formulas (docs/validation.md holds the same text):
/// - Wasserstein-1: ∫ |F_ref(x) − F_cur(x)| dx over the pooled values, as
///   `scipy.stats.wasserstein_distance`; normed: divided by the reference's
///   population standard deviation (Evidently's `wasserstein_distance_norm`).
/// - PSI: Σ (c_i − r_i) · ln(c_i / r_i) over `psiBins` bins whose edges are the
///   reference's quantiles (linear interpolation, duplicate edges dropped;
///   bin i holds edge_{i−1} < v ≤ edge_i); a proportion of 0 becomes
///   `psiEpsilon` before the sum.
/// - Jensen–Shannon distance: √(½ KL(r‖m) + ½ KL(c‖m)), m = ½(r + c), natural
///   log, over the same bins (numeric) or the categories (categorical); no epsilon.
/// - Chi-square (categorical): observed current counts against the reference
///   proportions scaled to the current size, p = Q((k − 1)/2, χ²/2), as
///   `scipy.stats.chisquare`; a category the reference never had gives p = 0.
/// - L-infinity (categorical): max |r_c − c_c| over categories (as TFDV).
public enum DriftStatistics {
    public static let psiBins = 10
    public static let psiEpsilon = 1e-4

    public static func wasserstein(sorted a: [Double], sorted b: [Double]) -> Double {
        let n1 = Double(a.count), n2 = Double(b.count)
        var i = 0, j = 0
        var total = 0.0
        var previous: Double?
        while i < a.count || j < b.count {
            let x: Double
            if j >= b.count || (i < a.count && a[i] <= b[j]) { x = a[i] } else { x = b[j] }
            if let p = previous {
                total += abs(Double(i) / n1 - Double(j) / n2) * (x - p)
            }
            while i < a.count && a[i] <= x { i += 1 }
            while j < b.count && b[j] <= x { j += 1 }
            previous = x
        }
        return total
    }

    /// Population standard deviation (ddof = 0), two-pass for accuracy.
    public static func standardDeviation(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return .nan }
        let mean = xs.reduce(0, +) / Double(xs.count)
        var ss = 0.0
        for x in xs { ss += (x - mean) * (x - mean) }
        return (ss / Double(xs.count)).squareRoot()
    }

    /// Quantile with numpy's default (linear) interpolation, of sorted data.
    public static func quantile(sorted xs: [Double], _ q: Double) -> Double {
        let pos = q * Double(xs.count - 1)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, xs.count - 1)
        let frac = pos - Double(lo)
        return xs[lo] + (xs[hi] - xs[lo]) * frac
    }

    /// Inner bin edges: the reference quantiles at 1/B … (B−1)/B, deduplicated.
    public static func quantileEdges(sortedReference ref: [Double], bins: Int = psiBins) -> [Double] {
        var edges: [Double] = []
        for i in 1..<bins {
            let e = quantile(sorted: ref, Double(i) / Double(bins))
            if edges.last != e { edges.append(e) }
        }
        return edges
    }

    /// Proportion of a sorted sample in each bin (edges.count + 1 bins).
    public static func proportions(sorted xs: [Double], edges: [Double]) -> [Double] {
        var counts = [Int](repeating: 0, count: edges.count + 1)
        var bin = 0
        for x in xs {
            while bin < edges.count && x > edges[bin] { bin += 1 }
            counts[bin] += 1
        }
        let n = Double(xs.count)
        return counts.map { Double($0) / n }
    }

    public static func psi(reference r: [Double], current c: [Double], epsilon: Double = psiEpsilon) -> Double {
        var total = 0.0
        for (ri, ci) in zip(r, c) {
            let a = ri == 0 ? epsilon : ri, b = ci == 0 ? epsilon : ci
            total += (b - a) * log(b / a)
        }
        return total
    }

    public static func jensenShannonDistance(_ p: [Double], _ q: [Double]) -> Double {
        let sp = p.reduce(0, +), sq = q.reduce(0, +)
        var kl1 = 0.0, kl2 = 0.0
        for (pi, qi) in zip(p, q) {
            let a = pi / sp, b = qi / sq
            let m = (a + b) / 2
            if a > 0 { kl1 += a * log(a / m) }
            if b > 0 { kl2 += b * log(b / m) }
        }
        return max(0, (kl1 + kl2) / 2).squareRoot()
    }

    /// Chi-square goodness of fit of current category counts against the
    /// reference proportions. Returns (statistic, p-value, degrees of freedom).
    public static func chiSquare(referenceCounts: [String: Int], currentCounts: [String: Int]) -> (statistic: Double, pValue: Double, df: Int) {
        let keys = Set(referenceCounts.keys).union(currentCounts.keys).sorted()
        let nRef = Double(referenceCounts.values.reduce(0, +)), nCur = Double(currentCounts.values.reduce(0, +))
        var stat = 0.0
        for k in keys {
            let expected = Double(referenceCounts[k] ?? 0) * nCur / nRef
            let observed = Double(currentCounts[k] ?? 0)
            if expected == 0 {
                if observed > 0 { stat = .infinity }
                continue
            }
            stat += (observed - expected) * (observed - expected) / expected
        }
        let df = keys.count - 1
        guard df > 0 else { return (stat, 1, 0) }
        if stat.isInfinite { return (stat, 0, df) }
        return (stat, Gamma.regularizedUpper(a: Double(df) / 2, x: stat / 2), df)
    }

    public static func lInfinity(_ p: [String: Double], _ q: [String: Double]) -> Double {
        var d = 0.0
        for k in Set(p.keys).union(q.keys) { d = max(d, abs((p[k] ?? 0) - (q[k] ?? 0))) }
        return d
    }
}

/// The regularized incomplete gamma functions (Numerical Recipes' series and
/// continued fraction, run to full double precision).
public enum Gamma {
    /// Q(a, x) = Γ(a, x) / Γ(a).
    public static func regularizedUpper(a: Double, x: Double) -> Double {
        if x <= 0 { return 1 }
        if x < a + 1 { return max(0, 1 - lowerSeries(a: a, x: x)) }
        return upperFraction(a: a, x: x)
    }

    static func lowerSeries(a: Double, x: Double) -> Double {
        var sum = 1 / a, term = 1 / a, ap = a
        for _ in 0..<10_000 {
            ap += 1
            term *= x / ap
            sum += term
            if abs(term) < abs(sum) * 1e-17 { break }
        }
        return sum * exp(-x + a * log(x) - logGamma(a))
    }

    static func upperFraction(a: Double, x: Double) -> Double {
        let tiny = 1e-300
        var b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d
        for i in 1..<10_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b
            if abs(d) < tiny { d = tiny }
            c = b + an / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-17 { break }
        }
        return exp(-x + a * log(x) - logGamma(a)) * h
    }
}
