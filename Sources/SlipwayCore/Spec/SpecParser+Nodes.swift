import Yams

/// Reading YAML nodes: typed values with the problem reported at their place.
extension SpecParser {
    func loc(_ node: Node) -> SourceLocation? {
        node.mark.map { SourceLocation(file: file, line: $0.line, column: $0.column) }
    }

    func issue(_ node: Node, _ keyPath: String, _ message: String) -> SpecIssue {
        SpecIssue(file: file, mark: node.mark, keyPath: keyPath, message: message)
    }

    /// The value of `key` in `map` (the first, as YAML readers take it).
    /// By index: iterating a `Node.Mapping` copies all its pairs first, and a
    /// stage's keys are looked up a dozen times.
    func value(_ map: Node.Mapping, _ key: String) -> Node? {
        var i = map.startIndex
        while i != map.endIndex {
            // The scalar's text, as `Node.string` gives it, without its constructor.
            if case .scalar(let k) = map[i].key, k.string == key { return map[i].value }
            i = map.index(after: i)
        }
        return nil
    }

    /// Each key and value of `map` in order, without the copy of all its pairs
    /// that `for (k, v) in map` makes first (a spec has one mapping per stage).
    func forEachPair(_ map: Node.Mapping, _ body: (_ key: Node, _ value: Node) throws -> Void) rethrows {
        var i = map.startIndex
        while i != map.endIndex {
            let pair = map[i]
            try body(pair.key, pair.value)
            i = map.index(after: i)
        }
    }

    mutating func mapping(_ node: Node, _ path: @autoclosure () -> String) -> Node.Mapping? {
        if case .mapping(let m) = node { return m }
        issues.append(issue(node, path(), "must be a mapping (key: value), found \(kind(node))"))
        return nil
    }

    mutating func sequence(_ node: Node, _ path: @autoclosure () -> String) -> Node.Sequence? {
        if case .sequence(let s) = node { return s }
        issues.append(issue(node, path(), "must be a list, found \(kind(node))"))
        return nil
    }

    /// The key path is built only for an issue: most values have none.
    mutating func string(_ node: Node, _ path: @autoclosure () -> String) -> String? {
        if case .scalar(let s) = node {
            if s.style == .plain, s.string.isEmpty || s.string == "~" || s.string == "null" {
                issues.append(issue(node, path(), "is empty"))
                return nil
            }
            return s.string
        }
        issues.append(issue(node, path(), "must be a string, found \(kind(node))"))
        return nil
    }

    /// A list of strings; a single string is accepted as a list of one.
    mutating func strings(_ map: Node.Mapping, _ key: String, _ path: String) -> [Located<String>] {
        guard let node = value(map, key) else { return [] }
        let p = "\(path).\(key)"
        if case .scalar = node {
            return string(node, p).map { [Located($0, at: loc(node))] } ?? []
        }
        guard let seq = sequence(node, p) else { return [] }
        var result: [Located<String>] = []
        for (i, item) in seq.enumerated() {
            if let s = string(item, "\(p)[\(i)]") { result.append(Located(s, at: loc(item))) }
        }
        return result
    }

    mutating func paths(_ map: Node.Mapping, _ key: String, _ path: String, writing: Bool) -> [Located<String>] {
        guard let node = value(map, key) else { return [] }
        let p = "\(path).\(key)"
        let items: [Node]
        if case .scalar = node { items = [node] } else if let seq = sequence(node, p) { items = Array(seq) } else { return [] }
        var result: [Located<String>] = []
        let listed = node.sequence != nil
        for (i, item) in items.enumerated() {
            // The item's key path, for an issue only (most paths have none).
            var ip: String { listed ? "\(p)[\(i)]" : p }
            if case .scalar(let s) = item, s.style == .plain, Self.mayReadAsNumberOrBool(s.string),
               item.int != nil || item.float != nil || Self.bool(item) != nil {
                issues.append(issue(item, ip, "must be a path or a list of paths, found \(kind(item)) (quote it if a file has that name)"))
                continue
            }
            if let raw = string(item, ip), let normal = checkedPath(raw, item, ip, writing: writing) {
                result.append(Located(normal, at: loc(item)))
            }
        }
        return result
    }

    /// The path in normal form, or nil with an issue: it leaves the
    /// workspace, or names git's or Slipway's own files (which a stage may
    /// neither read nor, with `writing`, write and delete).
    mutating func checkedPath(_ raw: String, _ node: Node, _ path: @autoclosure () -> String, writing: Bool) -> String? {
        switch WorkspacePath.normalize(raw) {
        case .success(let p):
            if let reason = WorkspacePath.reserved(p, writing: writing) {
                issues.append(issue(node, path(), "'\(raw)' \(reason): " + (writing ? "Slipway may not write or delete it" : "Slipway may not read it for a stage")))
                return nil
            }
            return p
        case .failure(let problem):
            issues.append(issue(node, path(), "'\(raw)' \(problem)"))
            return nil
        }
    }

    mutating func checkKeys(_ map: Node.Mapping, allowed: [String], path: String) {
        forEachPair(map) { k, _ in
            guard let key = k.string, !allowed.contains(key) else { return }
            let p = path.isEmpty ? key : "\(path).\(key)"
            issues.append(issue(k, p, "unknown key" + didYouMean(key, allowed)))
        }
    }


    /// The name a mapping key gives (a pipeline, stage, environment, monitor),
    /// refused unless it is a plain string of the safe set: names become file
    /// names (logs) and reach terminals.
    mutating func name(_ key: Node, _ path: String, what: String) -> String? {
        guard case .scalar(let s) = key else {
            issues.append(issue(key, path, "a \(what) name must be a string, found \(kind(key))"))
            return nil
        }
        return checkedName(s.string, key, "\(path).\(s.string)", what: what) ? s.string : nil
    }

    mutating func checkedName(_ name: String, _ node: Node, _ path: String, what: String) -> Bool {
        if let problem = SafeName.problem(name) {
            issues.append(issue(node, path, "\(what) name \(problem)"))
            return false
        }
        return true
    }

    func didYouMean(_ word: String, _ candidates: [String]) -> String {
        Suggestions.closest(to: word, in: candidates).map { " (did you mean '\($0)'?)" } ?? ""
    }

    /// False for text no YAML number or bool can be written as: a path with
    /// a `/`, or with a character no number, bool, `inf` or `nan` has. Those
    /// skip the costlier readings as `Int`, `Double` and `Bool`.
    static func mayReadAsNumberOrBool(_ text: String) -> Bool {
        !text.utf8.contains { b in
            !(b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") || b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")
              || b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") || "._+-:()".utf8.contains(b))
        }
    }

    /// A plain scalar YAML 1.1 reads as a bool (`true`, `yes`, `on`, … in the
    /// resolver's spellings). Read from the text: under the `.basic` resolver
    /// every plain scalar is tagged `str`, which `Node.bool` refuses.
    static func bool(_ node: Node) -> Bool? {
        guard case .scalar(let s) = node, s.style == .plain else { return nil }
        switch s.string {
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": return true
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": return false
        default: return nil
        }
    }

    /// A plain scalar YAML reads as null (`~`, `null`, nothing).
    static func isNull(_ s: Node.Scalar) -> Bool {
        s.string.isEmpty || s.style == .plain && ["~", "null", "Null", "NULL"].contains(s.string)
    }

    func kind(_ node: Node) -> String {
        switch node {
        case .scalar(let s):
            if Self.isNull(s) { return "nothing" }
            return "'\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    func specValue(_ node: Node) -> SpecValue {
        switch node {
        case .scalar(let s):
            if s.style == .plain {
                if Self.isNull(s) { return .null }
                if let b = Self.bool(node) { return .bool(b) }
                if let i = node.int { return .number(Double(i)) }
                if let f = node.float { return .number(f) }
            }
            return .string(s.string)
        case .sequence(let seq): return .list(seq.map(specValue))
        case .mapping(let m): return .map(m.map { .init(key: $0.key.string ?? "", value: specValue($0.value)) })
        case .alias: return .null
        }
    }
}
