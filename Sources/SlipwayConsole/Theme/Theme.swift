import Foundation
import SlipwayEngine

/// A theme: a colour (or the terminal default) for each role.
public struct Theme: Sendable, Equatable {
    public struct RGB: Sendable, Hashable { public var r, g, b: Int }

    public var name: String
    /// nil: the terminal's default colour.
    public var colors: [ColorRole: RGB?]

    public var isMonochrome: Bool { colors.values.allSatisfy { $0 == nil } }

    public struct ParseError: SlipwayError {
        public var exitStatus: ExitStatus { .usage }
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { "\(file):\(line): \(message)" }
    }

    /// Parses `role = #RRGGBB` lines (`#` starts a comment at a line's start).
    public static func parse(_ text: String, name: String, file: String) throws -> Theme {
        var colors: [ColorRole: RGB?] = [:]
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw).trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: "=", maxSplits: 1).map { String($0).trimmingWhitespace() }
            guard parts.count == 2 else { throw ParseError(file: file, line: i + 1, message: "expected `role = #RRGGBB`") }
            guard let role = ColorRole(rawValue: parts[0]) else {
                let hint = Suggestions.closest(to: parts[0], in: ColorRole.allCases.map(\.rawValue)).map { " (did you mean '\($0)'?)" } ?? ""
                throw ParseError(file: file, line: i + 1, message: "unknown role '\(parts[0])'\(hint)")
            }
            if parts[1] == "default" { colors[role] = .some(nil); continue }
            guard parts[1].hasPrefix("#"), parts[1].count == 7, let v = Int(parts[1].dropFirst(), radix: 16) else {
                throw ParseError(file: file, line: i + 1, message: "'\(parts[1])' is not a colour: write #RRGGBB or default")
            }
            colors[role] = RGB(r: v >> 16, g: (v >> 8) & 0xff, b: v & 0xff)
        }
        for role in ColorRole.allCases where colors[role] == nil { colors[role] = .some(nil) }
        return Theme(name: name, colors: colors)
    }

    /// The themes that ship (the same text as the files in `themes/`).
    public static let builtIn: [String: String] = [
        "dark": BuiltInThemes.dark, "light": BuiltInThemes.light,
        "high-contrast": BuiltInThemes.highContrast, "monochrome": BuiltInThemes.monochrome,
    ]

    /// A theme by name: the user's `~/.config/slipway/themes/NAME.theme` first, then the built-ins.
    public static func named(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Theme {
        let home = environment["XDG_CONFIG_HOME"] ?? ((environment["HOME"] ?? "") + "/.config")
        let userFile = home + "/slipway/themes/\(name).theme"
        if let data = FileManager.default.contents(atPath: userFile) {
            return try parse(String(decoding: data, as: UTF8.self), name: name, file: userFile)
        }
        guard let text = builtIn[name] else {
            throw ParseError(file: name, line: 0, message: "no theme '\(name)'; themes: \(builtIn.keys.sorted().joined(separator: ", "))")
        }
        return try parse(text, name: name, file: "themes/\(name).theme")
    }
}

/// A theme mapped to what this terminal can show.
public struct ResolvedTheme: Sendable {
    public enum Depth: Sendable { case none, eight, palette256 }
    public var depth: Depth
    /// Terminal colour number per role; -1 for the default colour.
    public var index: [ColorRole: Int]
    public var name: String

    public init(_ theme: Theme, colors: Int, noColor: Bool) {
        name = theme.name
        depth = noColor || colors < 8 || theme.isMonochrome ? .none : (colors >= 256 ? .palette256 : .eight)
        index = [:]
        for role in ColorRole.allCases {
            guard let rgb = theme.colors[role] ?? nil else { index[role] = -1; continue }
            switch depth {
            case .none: index[role] = -1
            case .eight: index[role] = Self.nearest8(rgb)
            case .palette256: index[role] = Self.nearest256(rgb)
            }
        }
    }

    /// The xterm 256-colour index closest to a colour (cube or grey ramp).
    public static func nearest256(_ c: Theme.RGB) -> Int {
        let levels = [0, 95, 135, 175, 215, 255]
        func cubeIndex(_ v: Int) -> Int { levels.enumerated().min { abs($0.element - v) < abs($1.element - v) }!.offset }
        let (ri, gi, bi) = (cubeIndex(c.r), cubeIndex(c.g), cubeIndex(c.b))
        let cube = (levels[ri], levels[gi], levels[bi])
        let grey = max(0, min(23, (((c.r + c.g + c.b) / 3) - 8 + 5) / 10))
        let greyValue = 8 + grey * 10
        func dist(_ a: (Int, Int, Int)) -> Int { (a.0 - c.r) * (a.0 - c.r) + (a.1 - c.g) * (a.1 - c.g) + (a.2 - c.b) * (a.2 - c.b) }
        return dist(cube) <= dist((greyValue, greyValue, greyValue)) ? 16 + 36 * ri + 6 * gi + bi : 232 + grey
    }

    /// The closest of the eight basic colours.
    public static func nearest8(_ c: Theme.RGB) -> Int {
        let basic = [(0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229)]
        return basic.enumerated().min { a, b in
            let da = (a.element.0 - c.r) * (a.element.0 - c.r) + (a.element.1 - c.g) * (a.element.1 - c.g) + (a.element.2 - c.b) * (a.element.2 - c.b)
            let db = (b.element.0 - c.r) * (b.element.0 - c.r) + (b.element.1 - c.g) * (b.element.1 - c.g) + (b.element.2 - c.b) * (b.element.2 - c.b)
            return da < db
        }!.offset
    }
}
