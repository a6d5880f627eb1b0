import Yams

/// The values of `params.yaml`, flattened to dotted keys (`train.lr`).
///
/// Stages name the params they read; only those reach the stage (as
/// environment variables) and only those enter its cache key.
public struct Params: Sendable, Equatable {
    /// Dotted key → the value in canonical text form (what the stage sees).
    public private(set) var values: [String: String]

    public init(values: [String: String] = [:]) { self.values = values }

    /// Parses the text of a params file. Nested mappings become dotted keys;
    /// lists become their flow-style text (`[1, 2]`).
    public static func parse(yaml text: String, file: String = "params.yaml") throws(SpecErrors) -> Params {
        let node = try BoundedYAML.compose(text, file: file)
        var values: [String: String] = [:]
        guard let node else { return Params() }
        guard case .mapping = node else {
            throw SpecErrors([SpecIssue(file: file, mark: node.mark, keyPath: "", message: "must be a mapping of names to values")])
        }
        func walk(_ node: Node, _ prefix: String) {
            switch node {
            case .mapping(let mapping):
                for (k, v) in mapping {
                    let key = k.string ?? "?"
                    walk(v, prefix.isEmpty ? key : prefix + "." + key)
                }
            case .scalar(let scalar):
                values[prefix] = scalar.string
            case .sequence, .alias:
                values[prefix] = canonicalText(node)
            }
        }
        walk(node, "")
        return Params(values: values)
    }

    public subscript(key: String) -> String? { values[key] }

    /// `train.lr` → `SLIPWAY_PARAM_TRAIN_LR`. Characters other than letters,
    /// digits and underscores become underscores.
    public static func environmentName(for key: String) -> String {
        var name = "SLIPWAY_PARAM_"
        for scalar in key.unicodeScalars {
            if scalar.properties.isASCIIHexDigit || (scalar.isASCII && (scalar.properties.isAlphabetic || scalar == "_")) {
                name.unicodeScalars.append(contentsOf: String(scalar).uppercased().unicodeScalars)
            } else if scalar.isASCII, ("0"..."9").contains(scalar) {
                name.unicodeScalars.append(scalar)
            } else {
                name.append("_")
            }
        }
        return name
    }

    static func canonicalText(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return s.string
        case .sequence(let seq): return "[" + seq.map(canonicalText).joined(separator: ", ") + "]"
        case .mapping(let map):
            return "{" + map.map { "\($0.key.string ?? ""): \(canonicalText($0.value))" }.joined(separator: ", ") + "}"
        case .alias: return ""
        }
    }
}
