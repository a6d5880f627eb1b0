/// The names users give pipelines, stages, environments, models and monitors.
/// They become parts of file names (logs, deploy records) and are printed,
/// so they are kept to a safe set: ASCII letters, digits, `.`, `_`, `-`;
/// starting with a letter or digit; at most 100 characters; never `..`.
public enum SafeName {
    public static let maxLength = 100

    /// Why `name` is not allowed, or nil when it is.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > maxLength { return "'\(name.prefix(40))…' is longer than \(maxLength) characters" }
        let allowed = name.unicodeScalars.allSatisfy { c in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "." || c == "_" || c == "-"
        }
        let shown = String(name.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0) })
        if !allowed { return "'\(shown)' may hold only letters, digits, '.', '_' and '-'" }
        guard let first = name.unicodeScalars.first, (first >= "a" && first <= "z") || (first >= "A" && first <= "Z") || (first >= "0" && first <= "9") else {
            return "'\(shown)' must start with a letter or a digit"
        }
        if name.contains("..") { return "'\(shown)' must not contain '..'" }
        return nil
    }

    public static func isSafe(_ name: String) -> Bool { problem(name) == nil }
}
