import Yams

/// A place in a YAML file, 1-based.
public struct SourceLocation: Sendable, Hashable, Codable {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }
}

/// One problem in a spec file: where it is, which key, and what is wrong.
///
/// Its description is one line, `file:line:col: key.path: message`, the form
/// editors and CI logs turn into links.
public struct SpecIssue: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?
    /// The dotted path of the key, e.g. `pipelines.weather.stages.train.needs[0]`.
    public var keyPath: String
    public var message: String

    public init(file: String, line: Int? = nil, column: Int? = nil, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
    }

    public init(file: String, mark: Mark?, keyPath: String, message: String) {
        self.init(file: file, line: mark?.line, column: mark?.column, keyPath: keyPath, message: message)
    }

    public init(at location: SourceLocation?, file: String, keyPath: String, message: String) {
        self.init(file: location?.file ?? file, line: location?.line, column: location?.column, keyPath: keyPath, message: message)
    }

    public var description: String {
        var place = file
        if let line { place += ":\(line)" }
        if let column { place += ":\(column)" }
        return keyPath.isEmpty ? "\(place): \(message)" : "\(place): \(keyPath): \(message)"
    }
}

/// Every problem found in a spec, reported together so one edit fixes all.
public struct SpecErrors: SlipwayError, Sendable {
    public var exitStatus: ExitStatus { .usage }
    public var issues: [SpecIssue]

    public init(_ issues: [SpecIssue]) { self.issues = issues }

    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

enum YAMLErrors {
    /// Turns a Yams parse error into an issue with its line and column.
    static func issue(from error: any Error, file: String) -> SpecIssue {
        guard let yaml = error as? YamlError else {
            return SpecIssue(file: file, keyPath: "", message: "cannot be read: \(error)")
        }
        switch yaml {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = "invalid YAML: \(problem)"
            if let context { message += " (\(context.text) at line \(context.mark.line))" }
            return SpecIssue(file: file, mark: mark, keyPath: "", message: message)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return SpecIssue(file: file, mark: context.mark, keyPath: "",
                             message: "duplicate key(s): \(duplicates.joined(separator: ", "))")
        case .reader(let problem, let offset, _, _):
            return SpecIssue(file: file, keyPath: "", message: "invalid text: \(problem)" + (offset.map { " at byte \($0)" } ?? ""))
        default:
            return SpecIssue(file: file, keyPath: "", message: "invalid YAML: \(yaml)")
        }
    }
}

/// Reading YAML that comes from users with limits: a document larger than
/// `maxBytes`, or whose aliases expand to more than `maxNodes` values or
/// `maxExpandedBytes` of text (a "billion laughs" of a few hundred bytes, or
/// one large anchor referenced thousands of times), is refused with its place
/// instead of making every command spin and grow.
public enum BoundedYAML {
    public static let maxBytes = 4 << 20
    public static let maxNodes = 250_000
    /// Text in scalars (keys and values) with every alias expanded.
    public static let maxExpandedBytes = 16 << 20

    /// `resolver` decides scalars' implicit tags; `.basic` resolves none (no
    /// regular expression per scalar) for readers that ask a node for a
    /// number or a bool themselves (`Node.int` and `.float` parse the text
    /// whatever the tag; `Node.bool` refuses a `str` tag, so such readers read
    /// bools from the text too).
    public static func compose(_ text: String, file: String, resolver: Resolver = .default) throws(SpecErrors) -> Node? {
        if text.utf8.count > maxBytes {
            throw SpecErrors([SpecIssue(file: file, line: 1, column: 1, keyPath: "",
                                        message: "is \(text.utf8.count) bytes; the limit is \(maxBytes >> 20) MiB")])
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text, resolver) } catch { throw SpecErrors([YAMLErrors.issue(from: error, file: file)]) }
        guard let root else { return nil }
        // Without an alias (`*`) nothing is read twice: the text is all there
        // is, and text this short holds fewer values than `maxNodes` (a value
        // takes at least half a byte: `{a,b}` is four in five).
        if text.utf8.count < maxNodes / 2 - 1, !text.utf8.contains(UInt8(ascii: "*")) { return root }
        // Count values and their text as a reader would see them, with every
        // alias expanded (an alias shares its anchor's node, so nothing is
        // copied here); stop at the first node past either budget.
        var nodes = maxNodes
        var bytes = maxExpandedBytes
        var stack: [(node: Node, within: Mark?)] = [(root, root.mark)]
        while let (node, within) = stack.popLast() {
            nodes -= 1
            if nodes < 0 {
                throw SpecErrors([SpecIssue(file: file, mark: node.mark, keyPath: "",
                                            message: "YAML aliases here expand to more than \(maxNodes) values; refusing to read it (an alias bomb?)")])
            }
            switch node {
            case .mapping(let m): for (k, v) in m { stack.append((k, node.mark)); stack.append((v, node.mark)) }
            case .sequence(let s): for item in s { stack.append((item, node.mark)) }
            case .scalar(let s):
                bytes -= s.string.utf8.count
                if bytes < 0 {
                    // The place of the list or mapping that repeats it: an alias's
                    // own node carries the place of its anchor.
                    throw SpecErrors([SpecIssue(file: file, mark: within ?? node.mark, keyPath: "",
                                                message: "YAML aliases here expand to more than \(maxExpandedBytes >> 20) MiB of text; refusing to read it (an alias bomb?)")])
                }
            default: break
            }
        }
        return root
    }
}
