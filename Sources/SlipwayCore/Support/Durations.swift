/// Parses durations written the way people write them in YAML: `30s`, `5m`,
/// `1h30m`, `2d`, `250ms`, or a bare number of seconds.
public enum Durations {
    /// The longest duration accepted: a century. Longer ones (or numbers too
    /// large to be one) are refused rather than overflowing a clock later.
    public static let maxSeconds: Double = 100 * 365.25 * 86_400

    public enum Problem: Error, Sendable, Hashable {
        case notADuration
        case tooLong
    }

    /// The duration in seconds, or why it is not one.
    public static func parse(_ text: String) -> Result<Double, Problem> {
        guard let s = parsed(text) else { return .failure(.notADuration) }
        return s.isFinite && s <= maxSeconds ? .success(s) : .failure(.tooLong)
    }

    /// The duration in seconds; nil when it is not one or is longer than ``maxSeconds``.
    public static func seconds(from text: String) -> Double? {
        try? parse(text).get()
    }

    /// Why `text` is refused, in words, or nil when it is a duration.
    public static func problem(_ text: String, example: String = "30s, 5m, 1h") -> String? {
        switch parse(text) {
        case .success: return nil
        case .failure(.notADuration): return "'\(text)' is not a duration (\(example))"
        case .failure(.tooLong): return "'\(text)' is longer than 100 years"
        }
    }

    private static func parsed(_ text: String) -> Double? {
        let s = text.trimmingWhitespace()
        if s.isEmpty { return nil }
        if let n = Double(s) { return n >= 0 ? n : nil }
        var total = 0.0
        var number = ""
        var unit = ""
        var sawAny = false
        func flush() -> Bool {
            guard let value = Double(number), value >= 0 else { return false }
            let factor: Double
            switch unit {
            case "ms": factor = 0.001
            case "s": factor = 1
            case "m": factor = 60
            case "h": factor = 3600
            case "d": factor = 86400
            default: return false
            }
            total += value * factor
            number = ""; unit = ""; sawAny = true
            return true
        }
        for ch in s {
            if ch.isNumber || ch == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(ch)
            } else if ch.isLetter {
                guard !number.isEmpty else { return nil }
                unit.append(ch)
            } else {
                return nil
            }
        }
        guard !number.isEmpty, !unit.isEmpty, flush() else { return nil }
        return sawAny ? total : nil
    }

    /// A short human form: `0.8s`, `1:42`, `1:02:03`.
    public static func format(_ seconds: Double) -> String {
        guard seconds.isFinite else { return seconds.isNaN ? "?" : seconds > 0 ? "∞" : "-∞" }
        if seconds < 10 { return String(format1: seconds) + "s" }
        let total = whole(seconds)
        let h = total / 3600, m = (total % 3600) / 60, s = total % 60
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return h > 0 ? "\(h):\(two(m)):\(two(s))" : "\(m):\(two(s))"
    }

    /// Always as a clock: `0:06`, `1:42`, `1:02:03`.
    public static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite else { return seconds > 0 ? "∞" : "0:00" }
        let total = max(0, whole(seconds))
        let h = total / 3600, m = (total % 3600) / 60, s = total % 60
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return h > 0 ? "\(h):\(two(m)):\(two(s))" : "\(m):\(two(s))"
    }

    /// Whole seconds, clamped to what an Int holds (a duration read from a file can be any size).
    static func whole(_ seconds: Double) -> Int {
        Int(max(-9e15, min(9e15, seconds.rounded())))
    }
}

extension String {
    init(format1 value: Double) {
        guard value.isFinite else { self = value.isNaN ? "?" : value > 0 ? "∞" : "-∞"; return }
        let tenths = Durations.whole(value * 10)
        self = "\(tenths / 10).\(tenths % 10)"
    }

    /// The string without leading and trailing spaces, tabs and newlines.
    public func trimmingWhitespace() -> String {
        var view = Substring(self)
        while let f = view.first, f.isWhitespace { view.removeFirst() }
        while let l = view.last, l.isWhitespace { view.removeLast() }
        return String(view)
    }
}
