import Foundation

/// What a key does. Bindings map keys to actions; the footer, the `?` overlay
/// and docs/keybindings.md are all generated from the same table.
public enum Action: String, Sendable, CaseIterable, Hashable {
    case down, up, top, bottom, pageDown, pageUp, open, back
    case nextTab, previousTab, tab1, tab2, tab3, tab4, tab5, tab6, tab7
    case filter, nextMatch, previousMatch, command, help, quit, forceQuit
    case startRun, cancelRun, promote, follow, logUp, logDown, refresh, approve, reject
    case rollback, abortCanary, continueCanary
    case logWrap, logLeft, logRight, controlLines
    case toggleSweep
}

public enum Scope: String, Sendable, Hashable {
    case global = "everywhere"
    case runs = "Runs"
    case evals = "Evals"
    case registry = "Registry"
    case approvals = "Approvals"
    case deployments = "Deployments"
}

public struct Binding: Sendable, Hashable {
    public var keys: [Key]
    public var action: Action
    public var help: String
    public var scope: Scope
    /// Shown in the footer.
    public var hint: Bool
    /// Opens a confirmation dialog before anything changes.
    public var dangerous: Bool
    /// The footer's one-word label.
    public var short: String

    public init(_ keys: [Key], _ action: Action, _ help: String, scope: Scope = .global, hint: String? = nil, dangerous: Bool = false) {
        self.keys = keys
        self.action = action
        self.help = help
        self.scope = scope
        self.hint = hint != nil
        self.short = hint ?? action.rawValue
        self.dangerous = dangerous
    }
}

public struct KeyMap: Sendable {
    public var bindings: [Binding]

    public static let defaults = KeyMap(bindings: [
        Binding([.char("j"), .down], .down, "move down", hint: "down"),
        Binding([.char("k"), .up], .up, "move up", hint: "up"),
        Binding([.char("g"), .home], .top, "go to the first row"),
        Binding([.char("G"), .end], .bottom, "go to the last row"),
        Binding([.pageDown, .ctrl("f")], .pageDown, "page down"),
        Binding([.pageUp, .ctrl("b")], .pageUp, "page up"),
        Binding([.enter], .open, "open the selected item (what each tab opens: below)", hint: "open"),
        Binding([.escape], .back, "back: close a dialog, the help, the filter"),
        Binding([.tab, .char("l")], .nextTab, "next tab"),
        Binding([.backTab, .char("h")], .previousTab, "previous tab"),
        Binding([.char("1")], .tab1, "Runs tab"),
        Binding([.char("2")], .tab2, "Evals tab"),
        Binding([.char("3")], .tab3, "Drift tab"),
        Binding([.char("4")], .tab4, "Approvals tab"),
        Binding([.char("5")], .tab5, "Registry tab"),
        Binding([.char("6")], .tab6, "Deployments tab"),
        Binding([.char("7")], .tab7, "Audit tab"),
        Binding([.char("/")], .filter, "filter the list", hint: "filter"),
        Binding([.char("n")], .nextMatch, "next match of the filter"),
        Binding([.char("N")], .previousMatch, "previous match of the filter"),
        Binding([.char(":")], .command, "command line (:runs, :theme light, :q)", hint: "command"),
        Binding([.char("?")], .help, "this help", hint: "help"),
        Binding([.char("q")], .quit, "quit", hint: "quit"),
        Binding([.ctrl("c")], .forceQuit, "quit at once, restoring the terminal"),
        Binding([.char("r")], .startRun, "start a run (choose the pipeline)", scope: .runs, hint: "run", dangerous: true),
        Binding([.char("c")], .cancelRun, "cancel the selected running run", scope: .runs, hint: "cancel", dangerous: true),
        Binding([.char("f")], .follow, "follow the log / stop following", scope: .runs),
        Binding([.char("[")], .logUp, "scroll the log up (stops following)", scope: .runs),
        Binding([.char("]")], .logDown, "scroll the log down (follows again at the end)", scope: .runs),
        Binding([.char("w")], .logWrap, "wrap the log's long lines / show them whole (then ←/→ scroll sideways)", scope: .runs),
        Binding([.left, .char("<")], .logLeft, "scroll the log sideways, to the left", scope: .runs),
        Binding([.right, .char(">")], .logRight, "scroll the log sideways, to the right (when not wrapping)", scope: .runs),
        Binding([.char("m")], .controlLines, "show / hide ::metric and ::progress lines in the log (hidden by default)", scope: .runs),
        Binding([.char("s")], .toggleSweep, "switch between the newest sweep (its runs ranked, the metric against the swept param) and candidate vs production", scope: .evals),
        Binding([.char("p")], .promote, "promote the selected version to an environment", scope: .registry, hint: "promote", dangerous: true),
        Binding([.ctrl("r")], .refresh, "reload from the registry now"),
        Binding([.char("a")], .approve, "approve the selected request, signed with your key (comment optional)", scope: .approvals, hint: "approve", dangerous: true),
        Binding([.char("x")], .reject, "reject the selected request, signed with your key (comment required)", scope: .approvals, hint: "reject", dangerous: true),
        Binding([.char("r")], .rollback, "roll back the selected environment: the previous version live again, now", scope: .deployments, hint: "rollback", dangerous: true),
        Binding([.char("x")], .abortCanary, "abort the canary in flight: the stable version back at 100%", scope: .deployments, hint: "abort", dangerous: true),
        Binding([.char("c")], .continueCanary, "continue a paused canary to its next step", scope: .deployments, hint: "continue", dangerous: true),
    ])

    public func action(for key: Key, scope: Scope) -> Action? {
        bindings.first { $0.keys.contains(key) && $0.scope == scope }?.action
            ?? bindings.first { $0.keys.contains(key) && $0.scope == .global }?.action
    }

    public func keys(for action: Action) -> [Key] { bindings.first { $0.action == action }?.keys ?? [] }

    /// Applies a user's key file: lines `action = key[, key…]` (e.g. `down = j, Down`).
    public mutating func apply(overrides text: String, file: String) throws {
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw).trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: "=", maxSplits: 1).map { String($0).trimmingWhitespace() }
            guard parts.count == 2, let action = Action(rawValue: parts[0]) else {
                throw Theme.ParseError(file: file, line: i + 1, message: "expected `action = key, key` with an action of: "
                                       + Action.allCases.map(\.rawValue).joined(separator: ", "))
            }
            var keys: [Key] = []
            for name in parts[1].split(separator: ",").map({ String($0).trimmingWhitespace() }) {
                guard let k = Key(name: name) else { throw Theme.ParseError(file: file, line: i + 1, message: "unknown key '\(name)'") }
                keys.append(k)
            }
            if let idx = bindings.firstIndex(where: { $0.action == action }) { bindings[idx].keys = keys }
        }
    }

    /// docs/keybindings.md, generated from the table (a test keeps the file current).
    public var markdown: String {
        var out = "# Console key bindings\n\nGenerated from the console's binding table (`KeyMap.defaults`); "
        out += "a test fails when this file is stale.\nOverride keys in `~/.config/slipway/keys.conf` with lines `action = key, key` "
        out += "(e.g. `down = j, Down`).\n\n| keys | action | where | does |\n|---|---|---|---|\n"
        for b in bindings {
            let keys = b.keys.map { "`\($0.description)`" }.joined(separator: " ")
            out += "| \(keys) | \(b.action.rawValue) | \(b.scope.rawValue) | \(b.help)\(b.dangerous ? " (asks to confirm)" : "") |\n"
        }
        out += "\n## What Enter opens\n\nWhat is opened scrolls (`j`/`k`, PgUp/PgDn, `g`/`G`), wraps long lines, says which lines show "
        out += "and how many there are, and closes with Esc.\n\n| tab | Enter |\n|---|---|\n"
        for tab in Tab.allCases { if let text = ConsoleState.enterHelp(tab) { out += "| \(tab.title) | \(text) |\n" } }
        out += "\n## Mouse\n\n" + ConsoleState.mouseHelp(.runs).map { "- \($0)\n" }.joined()
        return out
    }
}
