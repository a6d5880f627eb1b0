import Foundation
import Testing
@testable import SlipwayCore

/// Compares each statistic with scipy/numpy values computed once by
/// Fixtures/make_drift_fixtures.py (committed with its output).
@Suite struct DriftStatisticsTests {
    struct Fixtures: Decodable {
        struct Numeric: Decodable {
            var name: String
            var a: [Param]
            var b: [Param]
            var ks_statistic: Double
            var ks_pvalue: Double
            var wasserstein: Double
            var wasserstein_normed: Double
            var psi: Double
            var jensen_shannon: Double
        }
        struct Categorical: Decodable {
            var name: String
            var reference: [String: Int]
            var current: [String: Int]
            var chi_statistic: Double
            var chi_pvalue: Double
            var jensen_shannon: Double
            var l_infinity: Double
        }
        enum Param: Decodable {
            case number(Double), text(String)
            init(from decoder: any Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let d = try? c.decode(Double.self) { self = .number(d) } else { self = .text(try c.decode(String.self)) }
            }
            var number: Double { if case .number(let d) = self { return d }; return .nan }
            var text: String { if case .text(let s) = self { return s }; return "" }
        }
        struct KolmogorovCase: Decodable { var n: Int; var x: Double; var sf: Double }
        var numeric: [Numeric]
        var categorical: [Categorical]
        var kolmogorov: [KolmogorovCase]
    }

    static let fixtures: Fixtures = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/drift_fixtures.json")
        return try! JSONDecoder().decode(Fixtures.self, from: Data(contentsOf: url))
    }()

    /// The fixture script's xorshift64 sample, bit for bit.
    static func sample(_ p: [Fixtures.Param]) -> [Double] {
        var s = UInt64(p[0].number) | 1
        let n = Int(p[1].number), kind = p[2].text, shift = p[3].number
        var out: [Double] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            let u = Double(s >> 11) / Double(UInt64(1) << 53)
            let v: Double
            switch kind {
            case "uniform": v = u
            case "exp": v = -log(1.0 - u)
            default: v = (u * 20.0).rounded(.down) / 4.0
            }
            out.append(v + shift)
        }
        return out
    }

    func relative(_ a: Double, _ b: Double) -> Double {
        a == b ? 0 : abs(a - b) / max(abs(b), 1e-300)
    }

    @Test(arguments: fixtures.numeric.map(\.name))
    func numericAgainstScipy(name: String) {
        let f = Self.fixtures.numeric.first { $0.name == name }!
        let a = Self.sample(f.a), b = Self.sample(f.b)
        let sa = a.sorted(), sb = b.sorted()
        let ks = KolmogorovSmirnov.test(sorted: sa, sorted: sb)
        #expect(relative(ks.statistic, f.ks_statistic) <= 1e-9, "KS statistic \(ks.statistic) vs \(f.ks_statistic)")
        #expect(relative(ks.pValue, f.ks_pvalue) <= 1e-6, "KS p \(ks.pValue) vs \(f.ks_pvalue) (\(ks.method))")
        #expect(ks.method == (max(a.count, b.count) <= 10_000 ? .exact : .asymptotic))
        let w = DriftStatistics.wasserstein(sorted: sa, sorted: sb)
        #expect(relative(w, f.wasserstein) <= 1e-9, "Wasserstein \(w) vs \(f.wasserstein)")
        let wn = w / DriftStatistics.standardDeviation(a)
        #expect(relative(wn, f.wasserstein_normed) <= 1e-9)
        let edges = DriftStatistics.quantileEdges(sortedReference: sa)
        let pr = DriftStatistics.proportions(sorted: sa, edges: edges), pc = DriftStatistics.proportions(sorted: sb, edges: edges)
        #expect(abs(DriftStatistics.psi(reference: pr, current: pc) - f.psi) <= 1e-9)
        #expect(abs(DriftStatistics.jensenShannonDistance(pr, pc) - f.jensen_shannon) <= 1e-9)
    }

    @Test(arguments: fixtures.categorical.map(\.name))
    func categoricalAgainstScipy(name: String) {
        let f = Self.fixtures.categorical.first { $0.name == name }!
        let chi = DriftStatistics.chiSquare(referenceCounts: f.reference, currentCounts: f.current)
        #expect(relative(chi.statistic, f.chi_statistic) <= 1e-9)
        #expect(relative(chi.pValue, f.chi_pvalue) <= 1e-6, "chi p \(chi.pValue) vs \(f.chi_pvalue)")
        let keys = Set(f.reference.keys).union(f.current.keys).sorted()
        let nr = Double(f.reference.values.reduce(0, +)), nc = Double(f.current.values.reduce(0, +))
        let p = keys.map { Double(f.reference[$0] ?? 0) / nr }, q = keys.map { Double(f.current[$0] ?? 0) / nc }
        #expect(abs(DriftStatistics.jensenShannonDistance(p, q) - f.jensen_shannon) <= 1e-9)
        let pd = Dictionary(uniqueKeysWithValues: zip(keys, p)), qd = Dictionary(uniqueKeysWithValues: zip(keys, q))
        #expect(abs(DriftStatistics.lInfinity(pd, qd) - f.l_infinity) <= 1e-12)
    }

    @Test(arguments: fixtures.kolmogorov.indices)
    func kolmogorovDistributionBranches(index: Int) {
        let f = Self.fixtures.kolmogorov[index]
        let sf = Kolmogorov.sf(n: f.n, x: f.x)
        #expect(relative(sf, f.sf) <= 1e-6, "kstwo.sf(\(f.x), \(f.n)) = \(f.sf), got \(sf)")
    }

    @Test func newCategoryIsCertainDrift() {
        let chi = DriftStatistics.chiSquare(referenceCounts: ["a": 10], currentCounts: ["a": 5, "b": 5])
        #expect(chi.pValue == 0)
    }

    @Test func identicalSamplesDoNotDrift() {
        let xs = (0..<500).map { Double($0 % 37) }.sorted()
        let ks = KolmogorovSmirnov.test(sorted: xs, sorted: xs)
        #expect(ks.statistic == 0 && ks.pValue == 1)
        #expect(DriftStatistics.wasserstein(sorted: xs, sorted: xs) == 0)
    }
}
