import Foundation

/// The part of MLflow's search filter (`runs/search`) that a stage's own
/// runs need: clauses joined by `AND`, each `ENTITY.KEY OP VALUE` with
/// entity `attributes` (`run_id`, `run_name`, `status`, `user_id`),
/// `tags`, `params` or `metrics`; `=`, `!=`, `LIKE`, `ILIKE` on strings,
/// `=`, `!=`, `<`, `<=`, `>`, `>=` on metrics. Anything else is refused
/// with INVALID_PARAMETER_VALUE naming what was not understood.
struct RunFilter {
    enum Entity { case attribute, tag, param, metric }

    struct Clause {
        var entity: Entity
        var key: String
        var op: String
        var text: String
        var number: Double?
    }

    var clauses: [Clause] = []

    init(_ filter: String) throws {
        var scanner = Tokens(filter)
        while !scanner.atEnd {
            if !clauses.isEmpty {
                guard scanner.word()?.uppercased() == "AND" else { throw Self.refuse(filter, "only AND joins clauses") }
            }
            guard let name = scanner.identifier() else { throw Self.refuse(filter, "expected ENTITY.KEY") }
            let (entity, key) = try Self.split(name, filter)
            guard let op = scanner.op() else { throw Self.refuse(filter, "expected a comparison after \(name)") }
            guard let value = scanner.value() else { throw Self.refuse(filter, "expected a value after \(op)") }
            let clause = Clause(entity: entity, key: key, op: op, text: value.text, number: value.number)
            if entity == .metric {
                guard clause.number != nil, ["=", "!=", "<", "<=", ">", ">="].contains(op) else {
                    throw Self.refuse(filter, "a metric compares with a number")
                }
            } else if !["=", "!=", "LIKE", "ILIKE"].contains(op) {
                throw Self.refuse(filter, "\(op) does not compare strings")
            }
            clauses.append(clause)
        }
    }

    static func refuse(_ filter: String, _ why: String) -> MLflowError {
        MLflowError.invalid("Invalid filter \(Names.quoted(filter)): \(why) (slipway's endpoint understands ENTITY.KEY OP VALUE clauses joined by AND)")
    }

    static func split(_ name: String, _ filter: String) throws -> (Entity, String) {
        guard let dot = name.firstIndex(of: ".") else { return (.attribute, name) }
        let head = name[..<dot].lowercased(), key = String(name[name.index(after: dot)...])
        switch head {
        case "attribute", "attributes", "attr", "run": return (.attribute, key)
        case "tag", "tags": return (.tag, key)
        case "param", "params", "parameter", "parameters": return (.param, key)
        case "metric", "metrics": return (.metric, key)
        default: throw refuse(filter, "unknown entity '\(head)'")
        }
    }

    func matches(_ run: TrackedRun) -> Bool {
        clauses.allSatisfy { c in
            switch c.entity {
            case .metric:
                guard let v = run.latestMetrics.first(where: { $0.key == c.key })?.point.value, let n = c.number else { return false }
                switch c.op {
                case "=": return v == n
                case "!=": return v != n
                case "<": return v < n
                case "<=": return v <= n
                case ">": return v > n
                default: return v >= n
                }
            case .tag: return Self.compare(run.tags[c.key], c)
            case .param: return Self.compare(run.params[c.key], c)
            case .attribute:
                switch c.key {
                case "run_id", "run_uuid": return Self.compare(run.id, c)
                case "run_name": return Self.compare(run.name, c)
                case "status": return Self.compare(run.status, c)
                case "user_id": return Self.compare(run.userID, c)
                default: return false
                }
            }
        }
    }

    static func compare(_ value: String?, _ c: Clause) -> Bool {
        guard let value else { return false }
        switch c.op {
        case "=": return value == c.text
        case "!=": return value != c.text
        case "LIKE": return like(value, c.text, caseSensitive: true)
        default: return like(value, c.text, caseSensitive: false)
        }
    }

    /// SQL LIKE: `%` any run of characters, `_` one character.
    static func like(_ value: String, _ pattern: String, caseSensitive: Bool) -> Bool {
        let v = Array(caseSensitive ? value : value.lowercased()), p = Array(caseSensitive ? pattern : pattern.lowercased())
        var memo: [Int: Bool] = [:]
        func go(_ i: Int, _ j: Int) -> Bool {
            let k = i * (p.count + 1) + j
            if let m = memo[k] { return m }
            let r: Bool
            if j == p.count { r = i == v.count } else if p[j] == "%" { r = go(i, j + 1) || (i < v.count && go(i + 1, j)) } else {
                r = i < v.count && (p[j] == "_" || p[j] == v[i]) && go(i + 1, j + 1)
            }
            memo[k] = r
            return r
        }
        return go(0, 0)
    }

    /// Splits a filter into identifiers, operators and values.
    struct Tokens {
        let chars: [Character]
        var i = 0

        init(_ s: String) { chars = Array(s) }

        var atEnd: Bool {
            mutating get { skipSpace(); return i >= chars.count }
        }

        mutating func skipSpace() { while i < chars.count, chars[i].isWhitespace { i += 1 } }

        mutating func quoted(_ q: Character) -> String? {
            guard i < chars.count, chars[i] == q else { return nil }
            var out = ""
            i += 1
            while i < chars.count, chars[i] != q { out.append(chars[i]); i += 1 }
            guard i < chars.count else { return nil }
            i += 1
            return out
        }

        mutating func word() -> String? {
            skipSpace()
            let start = i
            while i < chars.count, chars[i].isLetter || chars[i].isNumber || "_.-:/".contains(chars[i]) { i += 1 }
            return i > start ? String(chars[start..<i]) : nil
        }

        /// `tags.key`, `tags."my key"`, `` tags.`my key` ``, `run_name`.
        mutating func identifier() -> String? {
            skipSpace()
            guard var head = word() else { return nil }
            if head.hasSuffix("."), i < chars.count, let q = quoted(chars[i] == "`" ? "`" : "\"") { head += q }
            return head
        }

        mutating func op() -> String? {
            skipSpace()
            for candidate in ["!=", "<=", ">=", "=", "<", ">"] where String(chars[i...].prefix(candidate.count)) == candidate {
                i += candidate.count
                return candidate
            }
            let save = i
            if let w = word()?.uppercased(), w == "LIKE" || w == "ILIKE" { return w }
            i = save
            return nil
        }

        mutating func value() -> (text: String, number: Double?)? {
            skipSpace()
            guard i < chars.count else { return nil }
            if chars[i] == "'" || chars[i] == "\"" {
                guard let s = quoted(chars[i]) else { return nil }
                return (s, Double(s))
            }
            guard let w = word() else { return nil }
            return (w, Double(w))
        }
    }
}
