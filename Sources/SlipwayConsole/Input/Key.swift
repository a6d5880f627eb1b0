/// A key press, independent of the terminal library.
public enum Key: Sendable, Hashable, CustomStringConvertible {
    case char(Character)
    case up, down, left, right, home, end, pageUp, pageDown
    case enter, escape, tab, backTab, backspace, delete
    case ctrl(Character)
    case function(Int)

    public var description: String {
        switch self {
        case .char(" "): return "Space"
        case .char(let c): return String(c)
        case .up: return "↑"
        case .down: return "↓"
        case .left: return "←"
        case .right: return "→"
        case .home: return "Home"
        case .end: return "End"
        case .pageUp: return "PgUp"
        case .pageDown: return "PgDn"
        case .enter: return "Enter"
        case .escape: return "Esc"
        case .tab: return "Tab"
        case .backTab: return "Shift-Tab"
        case .backspace: return "Backspace"
        case .delete: return "Del"
        case .ctrl(let c): return "Ctrl-\(c.uppercased())"
        case .function(let n): return "F\(n)"
        }
    }

    /// Parses the names used in key files: `j`, `Enter`, `Ctrl-R`, `PgDn`, `F5`.
    public init?(name: String) {
        let table: [String: Key] = ["up": .up, "down": .down, "left": .left, "right": .right, "home": .home, "end": .end,
                                    "pgup": .pageUp, "pgdn": .pageDown, "pageup": .pageUp, "pagedown": .pageDown,
                                    "enter": .enter, "esc": .escape, "escape": .escape, "tab": .tab, "shift-tab": .backTab,
                                    "backspace": .backspace, "del": .delete, "space": .char(" ")]
        if let k = table[name.lowercased()] { self = k; return }
        if name.count == 1 { self = .char(name.first!); return }
        if name.lowercased().hasPrefix("ctrl-"), name.count == 6 { self = .ctrl(Character(name.suffix(1).lowercased())); return }
        if name.lowercased().hasPrefix("f"), let n = Int(name.dropFirst()), (1...12).contains(n) { self = .function(n); return }
        return nil
    }
}
