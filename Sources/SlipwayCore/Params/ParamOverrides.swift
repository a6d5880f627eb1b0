import Foundation

/// One-off param values for a run (`slipway run --set train.lr=0.05`) and the
/// values a sweep tries (`--sweep 'train.lr=0.1,0.03,0.01'`).
///
/// An override never touches `params.yaml`: it replaces the value a run's
/// stages see (and so their cache keys), and the run records it as an
/// override. A key is a param's dotted name, or its last part when that names
/// exactly one param (`arch` for `model.arch`). Only params that `params.yaml`
/// holds or that a stage reads can be set, so a typo is an error, not a
/// silently ignored value.
public struct ParamOverride: Sendable, Equatable, Hashable {
    /// The param's full dotted key, as resolved against the known params.
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }

    /// `key=value` as the user would type it again.
    public var text: String { "\(key)=\(value)" }
}

/// A bad `--set` or `--sweep` argument: names the option and the argument.
public struct ParamOverrideError: SlipwayError, Equatable {
    public var exitStatus: ExitStatus { .usage }
    public var option: String
    public var argument: String
    public var problem: String

    /// One line whatever the argument and the names it quotes hold.
    public var description: String { "\(option) '\(TerminalText.oneLine(argument))': \(TerminalText.oneLine(problem))" }
}

public enum ParamOverrides {
    /// The longest value accepted; params reach stages as environment variables.
    public static let maximumValueLength = 4096

    /// Parses `--set key=value` arguments and resolves each key against `known`
    /// (params.yaml's keys and every key a stage names). A key set twice is an
    /// error.
    public static func parse(sets arguments: [String], known: Set<String>) throws(ParamOverrideError) -> [ParamOverride] {
        var result: [ParamOverride] = []
        for argument in arguments {
            let (name, value) = try split(argument, option: "--set")
            try check(value: value, option: "--set", argument: argument)
            let key = try resolve(name, known: known, option: "--set", argument: argument)
            if result.contains(where: { $0.key == key }) {
                throw ParamOverrideError(option: "--set", argument: argument, problem: "\(key) is set twice")
            }
            result.append(ParamOverride(key: key, value: value))
        }
        return result
    }

    /// Parses `--sweep key=v1,v2,…` arguments into axes (key → values, in the
    /// order given). Several `--sweep` options multiply (every combination).
    public static func parse(sweeps arguments: [String], known: Set<String>) throws(ParamOverrideError) -> [(key: String, values: [String])] {
        var axes: [(key: String, values: [String])] = []
        for argument in arguments {
            let (name, list) = try split(argument, option: "--sweep")
            let key = try resolve(name, known: known, option: "--sweep", argument: argument)
            if axes.contains(where: { $0.key == key }) {
                throw ParamOverrideError(option: "--sweep", argument: argument, problem: "\(key) is swept twice")
            }
            var values: [String] = []
            let listed = list.split(separator: ",", omittingEmptySubsequences: false)
            for (i, raw) in listed.enumerated() {
                let value = raw.trimmingCharacters(in: Self.blanks)
                if value.isEmpty && listed.count > 1 {
                    throw ParamOverrideError(option: "--sweep", argument: argument,
                                             problem: "value \(i + 1) of \(listed.count) is empty (a stray ',')")
                }
                try check(value: value, option: "--sweep", argument: argument)
                if values.contains(value) {
                    throw ParamOverrideError(option: "--sweep", argument: argument, problem: "the value '\(value)' is listed twice")
                }
                values.append(value)
            }
            axes.append((key, values))
        }
        return axes
    }

    /// Every combination of the axes' values, the first axis varying slowest.
    public static func combinations(_ axes: [(key: String, values: [String])]) -> [[ParamOverride]] {
        var result: [[ParamOverride]] = [[]]
        for axis in axes {
            result = result.flatMap { prefix in axis.values.map { prefix + [ParamOverride(key: axis.key, value: $0)] } }
        }
        return axes.isEmpty ? [] : result
    }

    /// `params` with the overrides applied.
    public static func apply(_ overrides: [ParamOverride], to params: Params) -> Params {
        var values = params.values
        for o in overrides { values[o.key] = o.value }
        return Params(values: values)
    }

    /// Spaces and tabs around a name or value are dropped; an invisible
    /// character (Foundation counts U+200B as white space) is refused instead.
    static let blanks = CharacterSet(charactersIn: " \t")

    static func split(_ argument: String, option: String) throws(ParamOverrideError) -> (String, String) {
        guard let eq = argument.firstIndex(of: "=") else {
            throw ParamOverrideError(option: option, argument: argument, problem: "expected KEY=VALUE" + (option == "--sweep" ? "1,VALUE2,…" : ""))
        }
        let name = argument[..<eq].trimmingCharacters(in: Self.blanks)
        let value = argument[argument.index(after: eq)...].trimmingCharacters(in: Self.blanks)
        if name.isEmpty { throw ParamOverrideError(option: option, argument: argument, problem: "no param name before '='") }
        return (name, value)
    }

    static func check(value: String, option: String, argument: String) throws(ParamOverrideError) {
        if value.isEmpty { throw ParamOverrideError(option: option, argument: argument, problem: "no value after '='") }
        if value.utf8.count > maximumValueLength {
            throw ParamOverrideError(option: option, argument: argument, problem: "the value is longer than \(maximumValueLength) bytes")
        }
        // Controls (C0, DEL, C1), invisible format characters (a zero-width
        // space, a bidi override), line and paragraph separators and spaces
        // other than ' ' (no-break, em): a value must read on a terminal as it is.
        if let bad = value.unicodeScalars.first(where: Self.unclear) {
            let code = "U+" + String(bad.value, radix: 16, uppercase: true).leftPadded(to: 4)
            let what = bad.value < 0x20 || (0x7F...0x9F).contains(bad.value) ? "a control character"
                : bad.properties.generalCategory == .format ? "an invisible character" : "a space or line break other than ' '"
            throw ParamOverrideError(option: option, argument: argument, problem: "the value holds \(what) (\(code))")
        }
    }

    /// A character that does not read as itself on a terminal.
    public static func unclear(_ c: Unicode.Scalar) -> Bool {
        if c.value < 0x20 || (0x7F...0x9F).contains(c.value) { return true }
        switch c.properties.generalCategory {
        case .format, .lineSeparator, .paragraphSeparator: return true
        case .spaceSeparator: return c != " "
        default: return false
        }
    }

    static func resolve(_ name: String, known: Set<String>, option: String, argument: String) throws(ParamOverrideError) -> String {
        if known.contains(name) { return name }
        let matches = known.filter { $0.hasSuffix("." + name) }.sorted()
        if matches.count == 1 { return matches[0] }
        if matches.count > 1 {
            throw ParamOverrideError(option: option, argument: argument,
                                     problem: "'\(name)' could be any of \(matches.joined(separator: ", ")): give the full name")
        }
        let listed = known.sorted()
        let some = listed.prefix(8).joined(separator: ", ") + (listed.count > 8 ? ", …" : "")
        throw ParamOverrideError(option: option, argument: argument,
                                 problem: "no param named '\(name)' in params.yaml or a stage's params"
                                     + (listed.isEmpty ? " (there are none)" : " (known: \(some))"))
    }
}
