import Foundation

/// The result of checking a dataset: every check with its value, threshold
/// and outcome, and the drift of every column against the reference.
public struct ValidationReport: Codable, Sendable {
    public struct Check: Codable, Sendable, Hashable {
        /// nil for dataset-level checks.
        public var column: String?
        /// `rows`, `required`, `type`, `max_missing`, `min`, `max`, `allowed`, `unique`, `extra_columns`, `drift_share`.
        public var check: String
        public var value: Double?
        public var threshold: Double?
        public var passed: Bool
        /// A warning does not fail the dataset.
        public var warning: Bool
        public var message: String
    }

    public struct ColumnDrift: Codable, Sendable, Hashable {
        public var column: String
        public var kind: String  // numeric | categorical
        public var method: String
        public var statistic: Double
        public var threshold: Double
        public var drifted: Bool
        /// Every statistic computed for the column, by name.
        public var statistics: [String: Double]
        public var detail: String
    }

    public var dataset: String
    public var reference: String?
    public var rows: Int
    public var referenceRows: Int?
    public var checks: [Check]
    public var drift: [ColumnDrift]
    public var driftShare: Double?
    public var passed: Bool

    public var failures: [Check] { checks.filter { !$0.passed && !$0.warning } }

    /// JSON with `inf`/`-inf`/`nan` as strings for the few values JSON numbers cannot hold
    /// (a chi-square against a category the reference never had is infinite).
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    public static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// One line naming the column, the check and by how much it failed.
    public var failureSummary: String {
        failures.map { ($0.column.map { "column \($0): " } ?? "") + $0.message }.joined(separator: "; ")
    }
}

public enum DataValidator {
    /// Reads the data (and reference) and checks them. Throws `DataFileError`
    /// for unreadable input, `SpecErrors` for a bad schema.
    public static func validate(dataPath: String, dataName: String, schema: DataSchema?, referencePath: String?,
                                referenceName: String?) throws -> ValidationReport {
        var types: [String: DataSchema.ColumnType] = [:]
        for c in schema?.columns ?? [] { if let t = c.type { types[c.name] = t } }
        let fixedTypes = types
        let results = ResultBox()
        // Both files at once, one per core.
        DispatchQueue.concurrentPerform(iterations: referencePath == nil ? 1 : 2) { i in
            do {
                if i == 0 {
                    let d = try DatasetProfile.read(path: dataPath, displayName: dataName, types: fixedTypes)
                    results.lock.withLock { results.data = d }
                } else {
                    let r = try DatasetProfile.read(path: referencePath!, displayName: referenceName ?? referencePath!, types: fixedTypes)
                    results.lock.withLock { results.reference = r }
                }
            } catch {
                results.lock.withLock { results.errors.append(error) }
            }
        }
        if let e = results.errors.first { throw e }
        guard var data = results.data else { throw DataFileError(file: dataName, message: "could not be read") }
        // A column typed differently in the two files (no schema type) is
        // compared as categories; see columnDrift.
        let hasReference = results.reference != nil
        var reference = results.reference ?? DatasetProfile(path: "", rows: 0, columns: [])
        // Let go of the box's copies so the numbers sort in place (no copy on write).
        results.data = nil
        results.reference = nil
        sortAll(&data, &reference)
        return check(data: data, schema: schema, reference: hasReference ? reference : nil)
    }

    final class ResultBox: @unchecked Sendable {
        let lock = NSLock()
        var data: DatasetProfile?
        var reference: DatasetProfile?
        var errors: [any Error] = []
    }

    /// Sorts every numeric column of both datasets, spread over the cores.
    static func sortAll(_ a: inout DatasetProfile, _ b: inout DatasetProfile) {
        let jobs = a.columns.indices.map { (0, $0) } + b.columns.indices.map { (1, $0) }
        let box = SortBox(a.columns, b.columns)
        // Drop the originals so each column's numbers have one owner and sort in place.
        a.columns = []
        b.columns = []
        DispatchQueue.concurrentPerform(iterations: jobs.count) { k in
            let (which, i) = jobs[k]
            if which == 0 { box.a[i].sortNumbers() } else { box.b[i].sortNumbers() }
        }
        a.columns = Array(box.a)
        b.columns = Array(box.b)
        box.free()
    }

    /// Column storage that threads sort in place, each its own columns.
    final class SortBox: @unchecked Sendable {
        let a: UnsafeMutableBufferPointer<ColumnProfile>
        let b: UnsafeMutableBufferPointer<ColumnProfile>
        init(_ x: [ColumnProfile], _ y: [ColumnProfile]) {
            a = .allocate(capacity: x.count)
            b = .allocate(capacity: y.count)
            _ = a.initialize(from: x)
            _ = b.initialize(from: y)
        }
        func free() {
            a.deinitialize().deallocate()
            b.deinitialize().deallocate()
        }
    }

    /// Runs every check on profiles whose numbers are sorted.
    public static func check(data: DatasetProfile, schema: DataSchema?, reference: DatasetProfile?) -> ValidationReport {
        var checks: [ValidationReport.Check] = []
        func add(_ column: String?, _ check: String, _ value: Double?, _ threshold: Double?, _ passed: Bool, _ message: String, warning: Bool = false) {
            checks.append(.init(column: column, check: check, value: value, threshold: threshold, passed: passed, warning: warning, message: message))
        }
        if let schema {
            if let min = schema.minRows {
                add(nil, "min_rows", Double(data.rows), Double(min), data.rows >= min,
                    data.rows >= min ? "\(data.rows) rows >= \(min)" : "\(data.rows) rows, fewer than min_rows \(min) (short by \(min - data.rows))")
            }
            if let max = schema.maxRows {
                add(nil, "max_rows", Double(data.rows), Double(max), data.rows <= max,
                    data.rows <= max ? "\(data.rows) rows <= \(max)" : "\(data.rows) rows, more than max_rows \(max) (over by \(data.rows - max))")
            }
            let known = Set(schema.columns.map(\.name))
            let extra = data.columns.map(\.name).filter { !known.contains($0) }
            if !extra.isEmpty && schema.extraColumns != .allow {
                add(nil, "extra_columns", Double(extra.count), 0, schema.extraColumns != .fail,
                    "columns not in the schema: \(extra.joined(separator: ", "))", warning: schema.extraColumns == .warn)
            }
            for rule in schema.columns {
                guard let col = data.column(rule.name) else {
                    if rule.required { add(rule.name, "required", nil, nil, false, "is missing from the data") }
                    continue
                }
                let total = max(col.total, 1)
                if col.invalid > 0 {
                    let where_ = col.firstInvalid.map { " (first at line \($0.line): '\($0.value)')" } ?? ""
                    add(rule.name, "type", Double(col.invalid), 0, false,
                        "\(col.invalid) value\(col.invalid == 1 ? " is" : "s are") not \(article(col.type))\(where_)")
                } else {
                    add(rule.name, "type", 0, 0, true, "every value is \(article(col.type))")
                }
                if let limit = rule.maxMissing {
                    let share = Double(col.missing) / Double(total)
                    add(rule.name, "max_missing", share, limit, share <= limit,
                        share <= limit ? "\(percent(share)) missing <= \(percent(limit))"
                                       : "\(percent(share)) missing (\(col.missing) of \(col.total)), more than max_missing \(percent(limit))")
                }
                if col.type.isNumeric || col.type == .timestamp, !col.numbers.isEmpty {
                    let isTime = col.type == .timestamp
                    func fmt(_ v: Double) -> String { isTime ? timestampText(v) : Gates.format(v) }
                    if let lo = rule.min {
                        let below = col.numbers.prefix { $0 < lo }.count
                        add(rule.name, "min", col.numbers.first!, lo, below == 0,
                            below == 0 ? "smallest \(fmt(col.numbers.first!)) >= \(fmt(lo))"
                                       : "\(below) value\(below == 1 ? "" : "s") below min \(fmt(lo)) (smallest \(fmt(col.numbers.first!)), \(fmt(lo - col.numbers.first!)) under)")
                    }
                    if let hi = rule.max {
                        let above = col.numbers.reversed().prefix { $0 > hi }.count
                        add(rule.name, "max", col.numbers.last!, hi, above == 0,
                            above == 0 ? "largest \(fmt(col.numbers.last!)) <= \(fmt(hi))"
                                       : "\(above) value\(above == 1 ? "" : "s") above max \(fmt(hi)) (largest \(fmt(col.numbers.last!)), \(fmt(col.numbers.last! - hi)) over)")
                    }
                }
                if let allowed = rule.allowed {
                    let set = Set(allowed)
                    var outside: [(String, Int)] = []
                    if col.type.isNumeric {
                        let allowedNumbers = Set(allowed.compactMap { Double($0) })
                        var counts: [Double: Int] = [:]
                        for v in col.numbers where !allowedNumbers.contains(v) { counts[v, default: 0] += 1 }
                        outside = counts.map { (Gates.format($0.key), $0.value) }
                    } else {
                        outside = col.counts.filter { !set.contains($0.key) }.map { ($0.key, $0.value) }
                    }
                    outside.sort { $0.1 > $1.1 }
                    let n = outside.reduce(0) { $0 + $1.1 }
                    add(rule.name, "allowed", Double(n), 0, n == 0,
                        n == 0 ? "every value is allowed"
                               : "\(n) value\(n == 1 ? "" : "s") not allowed: " + outside.prefix(5).map { "'\(TerminalSafe.clip($0.0))' ×\($0.1)" }.joined(separator: ", "))
                }
                if rule.unique {
                    var dups = 0
                    if col.type.isNumeric || col.type == .timestamp {
                        for i in col.numbers.indices.dropFirst() where col.numbers[i] == col.numbers[i - 1] { dups += 1 }
                    } else {
                        dups = col.counts.values.reduce(0) { $0 + max(0, $1 - 1) }
                    }
                    add(rule.name, "unique", Double(dups), 0, dups == 0, dups == 0 ? "all values distinct" : "\(dups) duplicate value\(dups == 1 ? "" : "s")")
                }
            }
        }
        var drift: [ValidationReport.ColumnDrift] = []
        var share: Double?
        if let reference {
            // Columns are independent: compare them on every core.
            let slots = DriftSlots(count: data.columns.count)
            DispatchQueue.concurrentPerform(iterations: data.columns.count) { i in
                let col = data.columns[i]
                guard let ref = reference.column(col.name) else { return }
                let rule = schema?.column(col.name)?.drift
                if case .some(.none) = rule { return }
                slots.set(i, columnDrift(current: col, reference: ref, referenceRows: reference.rows,
                                         rule: rule ?? schema?.driftMethod))
            }
            drift = slots.values.compactMap { $0 }
            if !drift.isEmpty {
                let drifted = drift.filter(\.drifted).count
                let s = Double(drifted) / Double(drift.count)
                share = s
                let limit = schema?.driftShare ?? 0.5
                add(nil, "drift_share", s, limit, s < limit,
                    s < limit ? "\(drifted) of \(drift.count) columns drifted (\(percent(s)) < \(percent(limit)))"
                              : "\(drifted) of \(drift.count) columns drifted (\(percent(s)) >= drift_share \(percent(limit))): "
                                + drift.filter(\.drifted).map { "\($0.column) (\($0.detail))" }.joined(separator: "; "))
            }
        }
        let passed = !checks.contains { !$0.passed && !$0.warning }
        return ValidationReport(dataset: data.path, reference: reference?.path, rows: data.rows, referenceRows: reference?.rows,
                                checks: checks, drift: drift, driftShare: share, passed: passed)
    }

    /// The drift of one column, with every statistic and the deciding one.
    /// With `lean`, only the deciding statistic of a numeric column is
    /// computed (monitors score every batch; the validation report keeps all).
    static func columnDrift(current: ColumnProfile, reference: ColumnProfile, referenceRows: Int,
                            rule: DataSchema.DriftRule?, lean: Bool = false) -> ValidationReport.ColumnDrift? {
        if current.type == .timestamp || reference.type == .timestamp { return nil }
        let numeric = current.type.isNumeric && reference.type.isNumeric
        var stats: [String: Double] = [:]
        if numeric {
            let a = reference.numbers, b = current.numbers
            guard !a.isEmpty, !b.isEmpty else { return nil }
            let method = rule?.method ?? (referenceRows > 1000 ? .wasserstein : .ks)
            if !lean || method == .ks {
                let ks = KolmogorovSmirnov.test(sorted: a, sorted: b)
                stats["ks_statistic"] = ks.statistic
                stats["ks_pvalue"] = ks.pValue
            }
            if !lean || method == .wasserstein {
                let w = DriftStatistics.wasserstein(sorted: a, sorted: b)
                stats["wasserstein"] = w
                let sd = DriftStatistics.standardDeviation(a)
                stats["wasserstein_normed"] = sd > 0 ? w / sd : (w == 0 ? 0 : .infinity)
            }
            if !lean || method == .psi || method == .jensen_shannon {
                let edges = DriftStatistics.quantileEdges(sortedReference: a)
                let pr = DriftStatistics.proportions(sorted: a, edges: edges), pc = DriftStatistics.proportions(sorted: b, edges: edges)
                stats["psi"] = DriftStatistics.psi(reference: pr, current: pc)
                stats["jensen_shannon"] = DriftStatistics.jensenShannonDistance(pr, pc)
            }
            let threshold = rule?.threshold ?? method.defaultThreshold
            let (statistic, drifted) = decide(method, threshold, stats)
            let meanA = a.reduce(0, +) / Double(a.count), meanB = b.reduce(0, +) / Double(b.count)
            stats["reference_mean"] = meanA
            stats["current_mean"] = meanB
            var detail = "mean \(Gates.format(meanA)) → \(Gates.format(meanB))"
            for (q, name) in [(0.25, "q1"), (0.5, "median"), (0.75, "q3")] {
                let qa = DriftStatistics.quantile(sorted: a, q), qb = DriftStatistics.quantile(sorted: b, q)
                stats["reference_\(name)"] = qa
                stats["current_\(name)"] = qb
                detail += ", \(name) \(Gates.format(qa)) → \(Gates.format(qb))"
            }
            return .init(column: current.name, kind: "numeric", method: methodName(method), statistic: statistic, threshold: threshold,
                         drifted: drifted, statistics: stats, detail: "\(methodName(method)) \(Gates.format(statistic)) \(comparison(method, drifted)) \(Gates.format(threshold)); \(detail)")
        }
        // Categorical (numbers of a mistyped column are compared as text).
        func counts(_ c: ColumnProfile) -> [String: Int] {
            if !c.counts.isEmpty || !c.type.isNumeric { return c.counts }
            var d: [String: Int] = [:]
            for v in c.numbers { d[Gates.format(v), default: 0] += 1 }
            return d
        }
        let rc = counts(reference), cc = counts(current)
        guard !rc.isEmpty, !cc.isEmpty else { return nil }
        // An identifier-like column (mostly distinct values) has no distribution to compare.
        if rule == nil && (rc.count * 2 > reference.present || reference.countsTruncated) { return nil }
        let chi = DriftStatistics.chiSquare(referenceCounts: rc, currentCounts: cc)
        stats["chi_square"] = chi.statistic
        stats["chi_square_pvalue"] = chi.pValue
        let keys = Set(rc.keys).union(cc.keys).sorted()
        let nr = Double(rc.values.reduce(0, +)), nc = Double(cc.values.reduce(0, +))
        let p = keys.map { Double(rc[$0] ?? 0) / nr }, q = keys.map { Double(cc[$0] ?? 0) / nc }
        stats["jensen_shannon"] = DriftStatistics.jensenShannonDistance(p, q)
        stats["psi"] = DriftStatistics.psi(reference: p, current: q)
        let pd = Dictionary(uniqueKeysWithValues: zip(keys, p)), qd = Dictionary(uniqueKeysWithValues: zip(keys, q))
        stats["l_infinity"] = DriftStatistics.lInfinity(pd, qd)
        var method = rule?.method ?? (referenceRows > 1000 ? .jensen_shannon : .chi_square)
        if !method.appliesToCategorical { method = referenceRows > 1000 ? .jensen_shannon : .chi_square }
        let threshold = rule?.threshold ?? method.defaultThreshold
        let (statistic, drifted) = decide(method, threshold, stats)
        var moved = ("", 0.0, 0.0)
        for k in keys where abs((qd[k] ?? 0) - (pd[k] ?? 0)) > abs(moved.2 - moved.1) || moved.0.isEmpty { moved = (k, pd[k] ?? 0, qd[k] ?? 0) }
        let detail = "most moved: '\(TerminalSafe.clip(moved.0))' \(percent(moved.1)) → \(percent(moved.2))"
        return .init(column: current.name, kind: "categorical", method: methodName(method), statistic: statistic, threshold: threshold,
                     drifted: drifted, statistics: stats, detail: "\(methodName(method)) \(Gates.format(statistic)) \(comparison(method, drifted)) \(Gates.format(threshold)); \(detail)")
    }

    static func decide(_ method: DataSchema.DriftMethod, _ threshold: Double, _ stats: [String: Double]) -> (Double, Bool) {
        let key: String
        switch method {
        case .ks: key = "ks_pvalue"
        case .wasserstein: key = "wasserstein_normed"
        case .psi: key = "psi"
        case .jensen_shannon: key = "jensen_shannon"
        case .chi_square: key = "chi_square_pvalue"
        case .l_infinity: key = "l_infinity"
        }
        let v = stats[key] ?? .nan
        return (v, method.isPValue ? v < threshold : v >= threshold)
    }

    static func methodName(_ m: DataSchema.DriftMethod) -> String {
        switch m {
        case .ks: return "KS p-value"
        case .wasserstein: return "Wasserstein (normed)"
        case .psi: return "PSI"
        case .jensen_shannon: return "Jensen-Shannon"
        case .chi_square: return "chi-square p-value"
        case .l_infinity: return "L-infinity"
        }
    }

    static func comparison(_ m: DataSchema.DriftMethod, _ drifted: Bool) -> String {
        m.isPValue ? (drifted ? "<" : ">=") : (drifted ? ">=" : "<")
    }

    static func article(_ t: DataSchema.ColumnType) -> String {
        switch t {
        case .int: return "an int"
        case .float: return "a float"
        case .string: return "valid UTF-8 text"
        case .bool: return "a bool"
        case .timestamp: return "a timestamp"
        }
    }

    static func percent(_ v: Double) -> String { Gates.format((v * 1000).rounded() / 10) + "%" }

    static func timestampText(_ v: Double) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: v))
    }
}

/// One result slot per column, filled from several threads.
final class DriftSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [ValidationReport.ColumnDrift?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: ValidationReport.ColumnDrift?) { lock.withLock { slots[i] = value } }
    var values: [ValidationReport.ColumnDrift?] { lock.withLock { slots } }
}

enum TerminalSafe {
    /// A value from a data file, shortened for a one-line message.
    static func clip(_ s: String) -> String { s.count > 40 ? String(s.prefix(37)) + "…" : s }
}
