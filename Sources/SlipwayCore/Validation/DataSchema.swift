import Yams

/// The schema a dataset is checked against (`schema.yaml`).
///
/// ```yaml
/// min_rows: 100
/// extra_columns: warn          # allow | warn | fail
/// drift_share: 0.5             # share of drifted columns that fails the dataset
/// columns:
///   temp_max: {type: float, min: -30, max: 50, max_missing: 0.01}
///   weather:  {type: string, allowed: [sun, rain, drizzle, snow, fog]}
///   id:       {type: int, unique: true, drift: false}
///   wind:     {type: float, drift: {method: psi, threshold: 0.2}}
/// ```
public struct DataSchema: Sendable, Hashable {
    public enum ColumnType: String, Sendable, Hashable, CaseIterable, Codable {
        case int, float, string, bool, timestamp

        public var isNumeric: Bool { self == .int || self == .float }
    }

    public enum ExtraColumns: String, Sendable, Hashable, CaseIterable { case allow, warn, fail }

    public enum DriftMethod: String, Sendable, Hashable, CaseIterable, Codable {
        case ks, wasserstein, psi, jensen_shannon, chi_square, l_infinity

        /// True when a drifted column has a statistic *below* the threshold (p-values).
        public var isPValue: Bool { self == .ks || self == .chi_square }

        public var defaultThreshold: Double {
            switch self {
            case .ks, .chi_square: return 0.05
            case .wasserstein, .jensen_shannon, .l_infinity: return 0.1
            case .psi: return 0.2
            }
        }

        public var appliesToNumeric: Bool { [.ks, .wasserstein, .psi, .jensen_shannon].contains(self) }
        public var appliesToCategorical: Bool { [.chi_square, .jensen_shannon, .l_infinity, .psi].contains(self) }
    }

    public struct DriftRule: Sendable, Hashable, Codable {
        public var method: DriftMethod
        public var threshold: Double

        public init(method: DriftMethod, threshold: Double) {
            self.method = method
            self.threshold = threshold
        }
    }

    public struct Column: Sendable, Hashable {
        public var name: String
        public var type: ColumnType?
        public var required: Bool = true
        public var maxMissing: Double?
        public var min: Double?
        public var max: Double?
        /// min/max as written, for timestamps.
        public var minText: String?
        public var maxText: String?
        public var allowed: [String]?
        public var unique: Bool = false
        /// nil: the default method; `.some(nil)`: no drift check for this column.
        public var drift: DriftRule??
    }

    public var columns: [Column] = []
    public var minRows: Int?
    public var maxRows: Int?
    public var extraColumns: ExtraColumns = .allow
    public var driftShare: Double = 0.5
    /// Applies to every column without its own rule.
    public var driftMethod: DriftRule?

    public init() {}

    public func column(_ name: String) -> Column? { columns.first { $0.name == name } }

    static let topKeys = ["columns", "min_rows", "max_rows", "extra_columns", "drift_share", "drift"]
    static let columnKeys = ["type", "required", "max_missing", "min", "max", "allowed", "unique", "drift", "description"]

    /// Parses schema YAML; every problem is reported with its line and column.
    public static func parse(yaml text: String, file: String) throws(SpecErrors) -> DataSchema {
        let root: Node?
        root = try BoundedYAML.compose(text, file: file)
        var issues: [SpecIssue] = []
        var schema = DataSchema()
        func issue(_ node: Node, _ key: String, _ message: String) {
            issues.append(SpecIssue(file: file, mark: node.mark, keyPath: key, message: message))
        }
        func number(_ node: Node, _ key: String) -> Double? {
            if case .scalar(let s) = node, let v = Double(s.string), v.isFinite { return v }
            issue(node, key, "must be a number")
            return nil
        }
        func bool(_ node: Node, _ key: String) -> Bool? {
            if let b = node.bool { return b }
            issue(node, key, "must be true or false")
            return nil
        }
        func driftRule(_ node: Node, _ key: String) -> DriftRule?? {
            if let b = node.bool, case .scalar = node {
                return b ? nil : .some(nil)
            }
            if case .scalar(let s) = node {
                guard let m = DriftMethod(rawValue: s.string) else {
                    issue(node, key, "unknown drift method '\(s.string)'" + (Suggestions.closest(to: s.string, in: DriftMethod.allCases.map(\.rawValue)).map { " (did you mean '\($0)'?)" } ?? ""))
                    return nil
                }
                return .some(DriftRule(method: m, threshold: m.defaultThreshold))
            }
            guard case .mapping(let map) = node else { issue(node, key, "must be a method name, a mapping {method, threshold}, or false"); return nil }
            var method: DriftMethod?
            var threshold: Double?
            for (k, v) in map {
                switch k.string {
                case "method":
                    if let m = DriftMethod(rawValue: v.string ?? "") { method = m } else {
                        issue(v, key + ".method", "unknown drift method '\(v.string ?? "")'; methods: " + DriftMethod.allCases.map(\.rawValue).joined(separator: ", "))
                    }
                case "threshold": threshold = number(v, key + ".threshold")
                default: issue(k, key + "." + (k.string ?? "?"), "unknown key (drift takes method and threshold)")
                }
            }
            guard let method else { if issues.isEmpty { issue(node, key, "needs `method:`") }; return nil }
            return .some(DriftRule(method: method, threshold: threshold ?? method.defaultThreshold))
        }
        guard let root else { throw SpecErrors([SpecIssue(file: file, line: 1, column: 1, keyPath: "", message: "is empty")]) }
        guard case .mapping(let top) = root else {
            throw SpecErrors([SpecIssue(file: file, mark: root.mark, keyPath: "", message: "must be a mapping with `columns:`")])
        }
        for (k, v) in top {
            let key = k.string ?? "?"
            switch key {
            case "columns":
                guard case .mapping(let cols) = v else { issue(v, "columns", "must be a mapping of column names to rules"); continue }
                for (ck, cv) in cols {
                    let name = ck.string ?? "?"
                    var column = Column(name: name)
                    let path = "columns.\(name)"
                    guard case .mapping(let rules) = cv else {
                        if case .scalar(let s) = cv, let t = ColumnType(rawValue: s.string) { column.type = t; schema.columns.append(column); continue }
                        issue(cv, path, "must be a mapping of rules, e.g. {type: float, min: 0}")
                        continue
                    }
                    for (rk, rv) in rules {
                        let rule = rk.string ?? "?"
                        let rp = "\(path).\(rule)"
                        switch rule {
                        case "type":
                            if let t = ColumnType(rawValue: rv.string ?? "") { column.type = t } else {
                                issue(rv, rp, "unknown type '\(rv.string ?? "")'; types: int, float, string, bool, timestamp")
                            }
                        case "required": column.required = bool(rv, rp) ?? true
                        case "unique": column.unique = bool(rv, rp) ?? false
                        case "max_missing":
                            if let m = number(rv, rp) {
                                if m < 0 || m > 1 { issue(rv, rp, "is a fraction between 0 and 1") } else { column.maxMissing = m }
                            }
                        case "min", "max":
                            let text = rv.string ?? ""
                            if let v = Double(text), v.isFinite { if rule == "min" { column.min = v } else { column.max = v } }
                            else if Timestamps.parse(text) != nil {
                                if rule == "min" { column.minText = text; column.min = Timestamps.parse(text) } else { column.maxText = text; column.max = Timestamps.parse(text) }
                            } else { issue(rv, rp, "must be a number or a timestamp") }
                        case "allowed":
                            guard case .sequence(let seq) = rv else { issue(rv, rp, "must be a list of values"); continue }
                            column.allowed = seq.map { $0.string ?? "" }
                        case "drift": column.drift = driftRule(rv, rp)
                        case "description": break
                        default:
                            issue(rk, rp, "unknown rule" + (Suggestions.closest(to: rule, in: columnKeys).map { " (did you mean '\($0)'?)" } ?? ""))
                        }
                    }
                    schema.columns.append(column)
                }
            case "min_rows": schema.minRows = number(v, key).map { Int($0) }
            case "max_rows": schema.maxRows = number(v, key).map { Int($0) }
            case "extra_columns":
                if let e = ExtraColumns(rawValue: v.string ?? "") { schema.extraColumns = e } else { issue(v, key, "must be allow, warn or fail") }
            case "drift_share":
                if let d = number(v, key) { if d <= 0 || d > 1 { issue(v, key, "is a fraction in (0, 1]") } else { schema.driftShare = d } }
            case "drift":
                if let r = driftRule(v, key) { schema.driftMethod = r ?? nil }
            default:
                issue(k, key, "unknown key" + (Suggestions.closest(to: key, in: topKeys).map { " (did you mean '\($0)'?)" } ?? ""))
            }
        }
        if !issues.isEmpty { throw SpecErrors(issues) }
        return schema
    }
}

/// ISO 8601 dates and times, as seconds since the epoch (UTC unless a zone is given).
public enum Timestamps {
    public static func parse(_ text: some StringProtocol) -> Double? {
        let b = Array(text.utf8)
        func digits(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for i in from..<(from + count) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard b.count >= 10, let y = digits(0, 4), b[4] == 45, let mo = digits(5, 2), b[7] == 45, let d = digits(8, 2),
              (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var seconds = Double(daysFromCivil(y, mo, d)) * 86400
        var i = 10
        if i == b.count { return seconds }
        guard b[i] == 84 || b[i] == 32, let h = digits(i + 1, 2), b.count > i + 3, b[i + 3] == 58, let mi = digits(i + 4, 2),
              h < 24, mi < 60 else { return nil }
        seconds += Double(h * 3600 + mi * 60)
        i += 6
        if i < b.count && b[i] == 58 {
            guard let s = digits(i + 1, 2), s < 61 else { return nil }
            seconds += Double(s)
            i += 3
            if i < b.count && b[i] == 46 {
                var frac = 0.0, scale = 0.1
                i += 1
                while i < b.count && b[i] >= 48 && b[i] <= 57 { frac += Double(b[i] - 48) * scale; scale /= 10; i += 1 }
                seconds += frac
            }
        }
        if i == b.count { return seconds }
        if b[i] == 90 && i + 1 == b.count { return seconds }
        if (b[i] == 43 || b[i] == 45), let oh = digits(i + 1, 2) {
            var om = 0
            if i + 3 < b.count { guard b[i + 3] == 58, let m = digits(i + 4, 2), i + 6 == b.count else { return nil }; om = m }
            else if i + 3 != b.count { return nil }
            let offset = Double(oh * 3600 + om * 60)
            return b[i] == 43 ? seconds - offset : seconds + offset
        }
        return nil
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }
}
