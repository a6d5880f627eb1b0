/// MLflow's rules for the names and values it accepts (`mlflow/utils/validation.py`),
/// applied before anything is stored: a key of letters, digits, `_ - . / : `
/// and spaces that does not change under path normalisation (no `..`, no
/// leading `/`), at most 250 characters; params at most 6,000 characters,
/// tags 8,000. Keys are therefore safe as file names and on a terminal.
enum Names {
    static let maxKeyLength = 250
    static let maxParamValueLength = 6000
    static let maxTagValueLength = 8000
    static let maxRunNameLength = 250

    static func isKeyCharacter(_ c: Character) -> Bool {
        if c == "_" || c == "-" || c == "." || c == "/" || c == " " || c == ":" { return true }
        return c.isLetter || c.isNumber
    }

    /// Checks a metric, param or tag key; `field` names it in the error as MLflow does.
    static func checkKey(_ key: String?, field: String) throws -> String {
        guard let key else { throw MLflowError.invalid("Missing value for required parameter '\(field)'.") }
        guard key.allSatisfy(isKeyCharacter) else {
            throw MLflowError.invalid("Invalid value \(quoted(key)) for parameter '\(field)' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).")
        }
        if !isNormalPath(key) {
            throw MLflowError.invalid("Invalid value \(quoted(key)) for parameter '\(field)' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such.")
        }
        guard key.count <= maxKeyLength else {
            throw MLflowError.invalid("'\(field)' exceeds the maximum length of \(maxKeyLength) characters")
        }
        return key
    }

    static func checkValue(_ value: String?, field: String, limit: Int) throws -> String {
        let v = value ?? ""
        guard v.count <= limit else {
            throw MLflowError.invalid("'\(field)' exceeds the maximum length of \(limit) characters")
        }
        return v
    }

    /// True when `posixpath.normpath(name) == name` and it is neither `.`
    /// nor above or outside the folder it would be a file in.
    static func isNormalPath(_ name: String) -> Bool {
        if name.isEmpty { return false }
        if name.hasPrefix("/") || name.hasSuffix("/") { return false }
        for part in name.split(separator: "/", omittingEmptySubsequences: false) {
            if part.isEmpty || part == "." || part == ".." { return false }
        }
        return true
    }

    static func checkRunID(_ id: String?, field: String = "run_id") throws -> String {
        guard let id, !id.isEmpty else { throw MLflowError.invalid("Missing value for required parameter '\(field)'.") }
        return id
    }

    /// A JSON string literal of `s`, as MLflow quotes values in its messages.
    static func quoted(_ s: String) -> String {
        var w = JSONWriter()
        w.string(s)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
