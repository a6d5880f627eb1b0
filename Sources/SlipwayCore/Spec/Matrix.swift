/// `matrix:` on a stage: named axes of values, expanding to one stage per
/// combination.
///
/// ```yaml
/// train:
///   matrix:
///     lr: [0.1, 0.01]
///     arch: [small, large]
///   cmd: python train.py --lr ${matrix.lr} --arch ${matrix.arch}
///   outs: [models/${matrix.arch}-${matrix.lr}.pkl]
/// ```
///
/// makes `train[lr=0.1,arch=small]`, `train[lr=0.1,arch=large]`, … in the
/// axes' order, the last axis varying fastest. `${matrix.AXIS}` in `cmd`,
/// `deps`, `outs`, `metrics`, `env`, `params` and `needs` is replaced by the
/// member's value; the member's values reach its command as
/// `SLIPWAY_MATRIX_AXIS` and enter its cache key.
///
/// Values are kept to a set that is safe in a path, a name and a shell word:
/// letters, digits, `.`, `_`, `-` and `+`, not starting with `.`, never `..`.
public enum Matrix {
    /// Members one matrix may make: beyond this a typo (`range(0, 1e9)`) would exhaust memory.
    public static let maxMembers = 100_000
    /// Values a `range(...)` may make, and characters a value may have.
    public static let maxValueLength = 64

    /// One axis: its name and its values, in the order written.
    public struct Axis: Sendable, Hashable {
        public var name: String
        public var values: [String]

        public init(name: String, values: [String]) {
            self.name = name
            self.values = values
        }
    }

    /// Why `name` cannot name an axis (it becomes part of an environment
    /// variable's name), or nil.
    public static func axisNameProblem(_ name: String) -> String? {
        guard let first = name.unicodeScalars.first else { return "is empty" }
        let ok = (first == "_" || (first.isASCII && first.properties.isAlphabetic))
            && name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
            && name.utf8.count <= 40
        return ok ? nil : "axis name '\(TerminalText.oneLine(String(name.prefix(40))))' may hold only letters, digits and '_' (not first), at most 40"
    }

    /// Why `value` cannot be a matrix value, or nil.
    public static func valueProblem(_ value: String) -> String? {
        if value.isEmpty { return "is empty" }
        let shown = TerminalText.oneLine(String(value.prefix(40)))
        if value.utf8.count > maxValueLength { return "'\(shown)…' is longer than \(maxValueLength) characters" }
        let allowed = value.utf8.allSatisfy { b in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_")
                || b == UInt8(ascii: "-") || b == UInt8(ascii: "+")
        }
        if !allowed { return "'\(shown)' may hold only letters, digits, '.', '_', '-' and '+' (it becomes part of paths and names)" }
        if value.hasPrefix(".") { return "'\(shown)' must not start with '.'" }
        if value.contains("..") { return "'\(shown)' must not contain '..'" }
        return nil
    }

    /// `range(STOP)`, `range(START, STOP)` or `range(START, STOP, STEP)`:
    /// whole numbers as Python's `range` makes them; nil when `text` is not
    /// a range; a problem when it is one that cannot be used.
    public static func range(_ text: String) -> Result<[String], RangeProblem>? {
        let trimmed = text.trimmingWhitespace()
        guard trimmed.hasPrefix("range("), trimmed.hasSuffix(")") else { return nil }
        let inner = trimmed.dropFirst(6).dropLast()
        let parts = inner.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingWhitespace() }
        let numbers = parts.map { Int($0) }
        guard (1...3).contains(parts.count), numbers.allSatisfy({ $0 != nil }) else {
            return .failure(RangeProblem(message: "'\(TerminalText.oneLine(String(trimmed.prefix(60))))' is not range(STOP), range(START, STOP) or range(START, STOP, STEP) of whole numbers"))
        }
        let n = numbers.map { $0! }
        let (start, stop, step) = n.count == 1 ? (0, n[0], 1) : (n[0], n[1], n.count == 3 ? n[2] : 1)
        guard step != 0 else { return .failure(RangeProblem(message: "range step must not be 0")) }
        let count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0) : (start > stop ? (start - stop - step - 1) / -step : 0)
        guard count > 0 else { return .failure(RangeProblem(message: "'\(trimmed)' makes no value")) }
        guard count <= maxMembers else { return .failure(RangeProblem(message: "'\(trimmed)' makes \(count) values; at most \(maxMembers)")) }
        return .success(stride(from: start, to: stop, by: step).map(String.init))
    }

    public struct RangeProblem: Error, Equatable {
        public var message: String
    }

    /// How many members the axes make (saturating at `Int.max`).
    public static func memberCount(_ axes: [Axis]) -> Int {
        var total = 1
        for a in axes {
            let (product, overflow) = total.multipliedReportingOverflow(by: a.values.count)
            if overflow { return .max }
            total = product
        }
        return total
    }

    /// Every combination of the axes' values, the last axis varying fastest.
    public static func combinations(_ axes: [Axis]) -> [[String]] {
        var result: [[String]] = [[]]
        for axis in axes {
            var next: [[String]] = []
            next.reserveCapacity(result.count * axis.values.count)
            for prefix in result {
                for v in axis.values { next.append(prefix + [v]) }
            }
            result = next
        }
        return result
    }

    /// `train[lr=0.1,arch=small]`.
    public static func memberName(base: String, axes: [String], values: [String]) -> String {
        var name = base + "["
        for i in axes.indices {
            if i > 0 { name += "," }
            name += axes[i] + "=" + values[i]
        }
        return name + "]"
    }

    /// A member's name read back: its base and its `axis=value` pairs, in
    /// the order written (nil when `name` has no brackets). `train[lr=0.1]`
    /// names every member of `train` with `lr` 0.1.
    public static func parseSelector(_ name: String) -> (base: String, pairs: [(axis: String, value: String)])? {
        guard name.hasSuffix("]"), let open = name.firstIndex(of: "["), open != name.startIndex else { return nil }
        let base = String(name[..<open])
        let inner = name[name.index(after: open)..<name.index(before: name.endIndex)]
        var pairs: [(String, String)] = []
        for part in inner.split(separator: ",", omittingEmptySubsequences: false) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2 else { return nil }
            pairs.append((String(kv[0]).trimmingWhitespace(), String(kv[1]).trimmingWhitespace()))
        }
        return (base, pairs)
    }

    /// The axes `${matrix.NAME}` names in `text`, in order (repeats kept).
    public static func references(in text: String) -> [String] {
        guard text.contains("${matrix.") else { return [] }
        var names: [String] = []
        var rest = Substring(text)
        while let start = rest.range(of: "${matrix.") {
            let after = rest[start.upperBound...]
            guard let close = after.firstIndex(of: "}") else { names.append(String(after)); break }
            names.append(String(after[..<close]))
            rest = after[after.index(after: close)...]
        }
        return names
    }

    /// `text` with each `${matrix.AXIS}` replaced by the member's value.
    /// Every reference is assumed checked (``references(in:)``).
    public static func substitute(_ text: String, _ values: [String: String]) -> String {
        guard text.contains("${matrix.") else { return text }
        var out = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${matrix.") {
            out += rest[..<start.lowerBound]
            let after = rest[start.upperBound...]
            guard let close = after.firstIndex(of: "}") else { out += rest[start.lowerBound...]; return out }
            let name = String(after[..<close])
            out += values[name] ?? String(rest[start.lowerBound...close])
            rest = after[after.index(after: close)...]
        }
        return out + rest
    }

    /// `SLIPWAY_MATRIX_LR` for the axis `lr`.
    public static func environmentName(for axis: String) -> String {
        "SLIPWAY_MATRIX_" + axis.uppercased()
    }
}

/// The matrix a stage was made from, and its place in it.
public struct MatrixMember: Sendable, Hashable {
    /// The stage as written (`train`): the group the console shows it under.
    public var base: String
    /// The axes' names, in the order written.
    public var axes: [String]
    /// This member's value on each axis.
    public var values: [String]

    public init(base: String, axes: [String], values: [String]) {
        self.base = base
        self.axes = axes
        self.values = values
    }

    /// The matrix stage a stage name belongs to (the name before `[`, as in
    /// `train[lr=0.1]`), or nil for a name that is no member's.
    public static func base(ofName name: String) -> Substring? {
        guard name.utf8.last == UInt8(ascii: "]"), let open = name.firstIndex(of: "["), open != name.startIndex else { return nil }
        return name[..<open]
    }

    /// Axis → value.
    public var byAxis: [String: String] {
        var d: [String: String] = [:]
        for (a, v) in zip(axes, values) { d[a] = v }
        return d
    }
}
