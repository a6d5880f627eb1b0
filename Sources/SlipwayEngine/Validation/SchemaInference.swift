import Foundation

/// Writes a schema from data, conservatively: types, observed ranges,
/// categories when there are few, and the observed missing share as the limit.
/// Meant to be reviewed and committed.
public enum SchemaInference {
    public static let maxCategories = 20

    public static func infer(_ profiles: [DatasetProfile]) -> String {
        guard let first = profiles.first else { return "" }
        var out = "# Inferred by `slipway data schema infer` from \(profiles.map(\.path).joined(separator: " and ")) "
        out += "(\(profiles.map { String($0.rows) }.joined(separator: " + ")) rows).\n"
        out += "# Review the ranges and categories before committing: they are what was seen, not what is valid.\n"
        out += "extra_columns: warn\n"
        out += "min_rows: 1\n"
        out += "columns:\n"
        for col in first.columns {
            let all = profiles.compactMap { $0.column(col.name) }
            var type = col.type
            if all.contains(where: { $0.type == .float }) && all.allSatisfy({ $0.type.isNumeric }) { type = .float }
            var rules = ["type: \(type.rawValue)"]
            let missing = all.reduce(0) { $0 + $1.missing }, total = max(1, all.reduce(0) { $0 + $1.total })
            let share = Double(missing) / Double(total)
            rules.append("max_missing: \(missing == 0 ? "0" : Gates.format((share * 1000).rounded(.up) / 1000))")
            if type.isNumeric || type == .timestamp {
                let lo = all.compactMap { $0.numbers.first }.min(), hi = all.compactMap { $0.numbers.last }.max()
                if let lo, let hi {
                    if type == .timestamp {
                        let f = ISO8601DateFormatter()
                        rules.append("min: \"\(f.string(from: Date(timeIntervalSince1970: lo)))\"")
                        rules.append("max: \"\(f.string(from: Date(timeIntervalSince1970: hi)))\"")
                    } else {
                        rules.append("min: \(Gates.format(lo))")
                        rules.append("max: \(Gates.format(hi))")
                    }
                }
            } else {
                var counts: [String: Int] = [:]
                var truncated = false
                for c in all { for (k, v) in c.counts { counts[k, default: 0] += v }; truncated = truncated || c.countsTruncated }
                if !truncated && counts.count <= maxCategories && counts.count > 0 {
                    rules.append("allowed: [" + counts.keys.sorted().map(yamlString).joined(separator: ", ") + "]")
                }
            }
            out += "  \(yamlKey(col.name)): {\(rules.joined(separator: ", "))}\n"
        }
        return out
    }

    static func yamlString(_ s: String) -> String {
        let plain = !s.isEmpty && s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "_-.".unicodeScalars.contains($0) }
            && !["true", "false", "yes", "no", "null", "on", "off"].contains(s.lowercased()) && Double(s) == nil
        if plain { return s }
        return "\"" + s.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\""
    }

    static func yamlKey(_ s: String) -> String { yamlString(s) }
}
