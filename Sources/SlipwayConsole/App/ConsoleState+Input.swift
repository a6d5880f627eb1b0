import Foundation

/// Keys while a dialog, the filter or the command line is open, and the mouse.
extension ConsoleState {
    mutating func dialogKey(_ key: Key) -> [Effect] {
        guard var d = dialog else { return [] }
        // A dialog with a text field takes printable keys as text.
        if var field = d.field {
            switch key {
            case .char(let c):
                field.text.append(c)
                d.field = field
                dialog = d
                return []
            case .backspace:
                if !field.text.isEmpty { field.text.removeLast() }
                d.field = field
                dialog = d
                return []
            default: break
            }
        }
        switch key {
        case .escape: dialog = nil; return []
        case .char("j"), .down: if !d.choices.isEmpty { d.choice = min(d.choices.count - 1, d.choice + 1); dialog = d; refreshPromoteDialog(); return [] }
        case .char("k"), .up: if !d.choices.isEmpty { d.choice = max(0, d.choice - 1); dialog = d; refreshPromoteDialog(); return [] }
        case .tab, .right, .char("l"): d.button = (d.button + 1) % d.buttons.count
        case .backTab, .left, .char("h"): d.button = (d.button + d.buttons.count - 1) % d.buttons.count
        case .enter:
            if d.button == 0, case .vote(_, false) = d.purpose, (d.field?.text ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
                notice = ("a rejection needs a comment saying why", true)
                return []
            }
            dialog = nil
            guard d.button == 0 else { return [] }
            return confirm(d)
        default: break
        }
        dialog = d
        return []
    }

    /// The effect of confirming a dialog.
    func confirm(_ d: Dialog) -> [Effect] {
        switch d.purpose {
        case .startRun(let pipelines): return [.startRun(pipeline: pipelines[d.choice])]
        case .cancelRun(let id): return [.cancelRun(runID: id)]
        case .promote(let model, let version, let envs):
            return [.promote(model: model, version: version, environment: envs[d.choice], reason: d.field?.text.trimmingWhitespace() ?? "")]
        case .vote(let id, let approve): return [.vote(requestID: id, approve: approve, comment: d.field?.text ?? "")]
        case .rollback(let env): return [.rollback(environment: env, reason: d.field?.text ?? "")]
        case .abortCanary(let env): return [.abortCanary(environment: env, reason: d.field?.text ?? "")]
        case .continueCanary(let env): return [.continueCanary(environment: env)]
        case .info: return []
        }
    }

    mutating func filterKey(_ key: Key) -> [Effect] {
        switch key {
        case .escape: editingFilter = false; filter = ""
        case .enter: editingFilter = false
        case .backspace: if !filter.isEmpty { filter.removeLast() }
        case .char(let c): filter.append(c); rows[tab] = 0
        default: break
        }
        clampRow()
        return []
    }

    mutating func commandKey(_ key: Key) -> [Effect] {
        guard var line = commandLine else { return [] }
        switch key {
        case .escape: commandLine = nil; return []
        case .backspace: if line.isEmpty { commandLine = nil; return [] }; line.removeLast()
        case .char(let c): line.append(c)
        case .enter:
            commandLine = nil
            return run(command: line.trimmingWhitespace())
        default: break
        }
        commandLine = line
        return []
    }

    /// `:runs`, `:evals` … `:audit`, `:theme NAME`, `:ascii`, `:q`.
    mutating func run(command: String) -> [Effect] {
        let parts = command.split(separator: " ").map(String.init)
        guard let name = parts.first else { return [] }
        if let t = Tab.allCases.first(where: { $0.title.lowercased() == name.lowercased() }) { switchTab(t); return selectionEffects() }
        switch name {
        case "q", "quit": quit = true; return [.quit]
        case "theme":
            guard parts.count == 2 else { notice = ("usage: :theme NAME (dark, light, high-contrast, monochrome)", true); return [] }
            return [.setTheme(parts[1])]
        case "ascii": ascii.toggle(); return []
        case "help": pager = helpPager(); return []
        case "run": return perform(.startRun)
        default:
            notice = ("unknown command :\(name); try :runs, :evals, :drift, :approvals, :registry, :deployments, :audit, :theme NAME, :ascii, :q", true)
            return []
        }
    }

    mutating func mouse(x: Int, y: Int, kind: MouseKind) -> [Effect] {
        if dialog == nil, pager != nil {
            if kind == .wheelDown { _ = pager!.key(.down, width: width, height: height) }
            if kind == .wheelUp { _ = pager!.key(.up, width: width, height: height) }
            return []
        }
        if dialog == nil, let v = runView {
            switch kind {
            case .wheelDown: return runViewKey(.char("]"))
            case .wheelUp: return runViewKey(.char("["))
            case .click:
                // The row clicked, in the picker as it is drawn (scrolled, members under their matrix stage).
                if x < RunViewScreen.pickerWidth(width), y >= 3, let d = snapshot.detail, d.run.id == v.runID {
                    let lines = d.index.pickerWindow(stage: v.stage, visible: height - 6)
                    if y - 3 < lines.count, case .stage(let i, _) = lines[y - 3] {
                        runView?.stage = i
                        runView?.logTop = nil
                        return [Self.showStage(i, d)]
                    }
                }
                return []
            }
        }
        switch kind {
        case .wheelDown: return perform(.down)
        case .wheelUp: return perform(.up)
        case .click:
            if y == 1 {
                // The tab bar: find which title was clicked.
                var col = 1
                let labels = ConsoleView.tabLabels(width: width)
                for t in Tab.allCases {
                    let label = labels[t.rawValue]
                    if x >= col && x < col + label.count { switchTab(t); return selectionEffects() }
                    col += label.count + 1
                }
                return []
            }
            if let d = dialog, let (bx, by, bw) = ConsoleView.dialogFrame(d, width: width, height: height) {
                let buttonsY = by + ConsoleView.dialogHeight(d, width: bw) - 2
                if y == buttonsY {
                    var col = bx + 2
                    for (i, label) in d.buttons.enumerated() {
                        let w = label.count + 4
                        if x >= col && x < col + w { dialog?.button = i; return dialogKey(.enter) }
                        col += w + 2
                    }
                }
                return []
            }
            // A row of the main list.
            let listTop = ConsoleView.listTop
            if y >= listTop && y < height - 2 {
                let offset = ConsoleView.scrollOffset(row: row, visible: height - 2 - listTop - 1)
                let target = y - listTop + offset
                if target < listCount { rows[tab] = target; return selectionEffects() }
            }
            return []
        }
    }
}
