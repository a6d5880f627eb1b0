/// Compares the params a training script logged (through MLflow, say) with
/// the params its stage declared from `params.yaml`: a script that logs
/// `lr = 0.02` while `params.yaml` says `train.lr: 0.01` is reading its value
/// from somewhere else, and the run's record would say the wrong thing.
///
/// A logged key matches a declared key when they are equal, or when it is
/// the declared key's last dotted part (`lr` for `train.lr`) and no other
/// declared key ends the same way. Values are equal as text, or as numbers
/// when both read as numbers (`0.01`, `1e-2`). Logged keys that match no
/// declared key are not compared.
public enum LoggedParamCheck {
    public struct Mismatch: Sendable, Equatable, CustomStringConvertible {
        public var logged: String
        public var loggedValue: String
        public var declared: String
        public var declaredValue: String

        public var description: String {
            "logged param '\(logged)' = '\(loggedValue)' differs from declared param '\(declared)' = '\(declaredValue)' (params.yaml)"
        }
    }

    public static func mismatches(logged: [(key: String, value: String)], declared: [String: String]) -> [Mismatch] {
        var byLastPart: [String: [String]] = [:]
        for key in declared.keys {
            if let dot = key.lastIndex(of: ".") { byLastPart[String(key[key.index(after: dot)...]), default: []].append(key) }
        }
        var out: [Mismatch] = []
        for (key, value) in logged {
            let match: String?
            if declared[key] != nil {
                match = key
            } else if let candidates = byLastPart[key], candidates.count == 1 {
                match = candidates[0]
            } else {
                match = nil
            }
            guard let match, let expected = declared[match], !same(value, expected) else { continue }
            out.append(Mismatch(logged: key, loggedValue: value, declared: match, declaredValue: expected))
        }
        return out
    }

    static func same(_ a: String, _ b: String) -> Bool {
        let x = a.trimmingSpaces, y = b.trimmingSpaces
        if x == y { return true }
        if let p = Double(x), let q = Double(y) { return p == q }
        let bools = ["true": "true", "false": "false", "True": "true", "False": "false"]
        if let p = bools[x], let q = bools[y] { return p == q }
        return false
    }
}

private extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}
