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

    /// Checks a metric, param or tag key; `field` names it in the error as
    /// MLflow does (built only for the error: a batch checks 1,000 keys).
    static func checkKey(_ key: String?, field: @autoclosure () -> String) throws -> String {
        guard let key else { throw MLflowError.invalid("Missing value for required parameter '\(field())'.") }
        if isValidASCIIKey(key) { return key }
        let field = field()
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

    /// The common case, decided on the bytes: an ASCII key that passes
    /// every rule of ``checkKey(_:field:)``. False means "look closer"
    /// (non-ASCII, or a rule broken: the slow path names which).
    static func isValidASCIIKey(_ key: String) -> Bool {
        var count = 0
        var segment = 0  // bytes in the current path segment
        var dots = 0     // of which dots
        for b in key.utf8 {
            count += 1
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: " "), UInt8(ascii: ":"):
                segment += 1
            case UInt8(ascii: "."):
                segment += 1
                dots += 1
            case UInt8(ascii: "/"):
                // An empty, `.` or `..` segment (a leading `/` or `//` included).
                if segment == 0 || segment == dots && dots <= 2 { return false }
                segment = 0
                dots = 0
            default:
                return false
            }
        }
        if segment == 0 || segment == dots && dots <= 2 { return false }  // empty, trailing `/`, last segment `.`/`..`
        return count <= maxKeyLength
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
