import CNcursesw
import Foundation

/// The real terminal, through ncursesw. One thread (the console's main loop)
/// owns it; nothing else calls curses.
public final class NcursesTerminal: TerminalDevice {
    public private(set) var size: (width: Int, height: Int) = (80, 24)
    public private(set) var colorCount = 0
    private var pairs: [Int: Int16] = [:]   // (fg+1)*512 + (bg+1) → pair number
    private var active = false
    public let utf8: Bool

    /// Puts the terminal in full-screen mode. Call ``shutdown()`` to restore it
    /// (also done on SIGINT, SIGTERM and at exit).
    public init() {
        setlocale(LC_ALL, "")
        var codeset = String(cString: slipway_codeset())
        if codeset.uppercased().replacingOccurrences(of: "-", with: "") != "UTF8" {
            // Box drawing and braille need a UTF-8 locale; C.UTF-8 is always there on Debian.
            if setlocale(LC_CTYPE, "C.UTF-8") != nil { codeset = String(cString: slipway_codeset()) }
        }
        utf8 = codeset.uppercased().replacingOccurrences(of: "-", with: "") == "UTF8"
        // A parent may have left SIGWINCH ignored or blocked (both are inherited);
        // ncurses then never sees a resize. Restore the default and unblock it.
        signal(SIGWINCH, SIG_DFL)
        var winch = sigset_t()
        sigemptyset(&winch)
        sigaddset(&winch, SIGWINCH)
        pthread_sigmask(SIG_UNBLOCK, &winch, nil)
        initscr()
        active = true
        raw()
        noecho()
        keypad(slipway_stdscr(), true)
        nonl()
        curs_set(0)
        set_escdelay(25)
        mousemask(slipway_mouse_mask(), nil)
        mouseinterval(0)
        if has_colors() {
            start_color()
            use_default_colors()
            colorCount = Int(slipway_colors())
        }
        size = (Int(slipway_cols()), Int(slipway_lines()))
        NcursesTerminal.current = self
        atexit { NcursesTerminal.current?.shutdown() }
    }

    nonisolated(unsafe) public static weak var current: NcursesTerminal?

    public func suspend() {
        def_prog_mode()
        endwin()
        fflush(nil)
    }

    public func resume() {
        reset_prog_mode()
        reset()
    }

    public func shutdown() {
        guard active else { return }
        active = false
        endwin()
    }

    public func reset() {
        clear()
    }

    private func pair(_ fg: Int, _ bg: Int) -> Int16 {
        let key = (fg + 1) * 512 + (bg + 1)
        if let p = pairs[key] { return p }
        let n = Int16(pairs.count + 1)
        guard Int(n) < Int(slipway_color_pairs()) else { return 0 }
        init_pair(n, Int16(fg), Int16(bg))
        pairs[key] = n
        return n
    }

    public func draw(_ changes: [(x: Int, y: Int, cell: Cell)], theme: ResolvedTheme) {
        for c in changes {
            if c.cell.text.isEmpty { continue } // right half of a wide character
            var attrs = slipway_a_normal()
            let s = c.cell.style
            if s.bold { attrs |= slipway_a_bold() }
            if s.underline { attrs |= slipway_a_underline() }
            var pairNumber: Int16 = 0
            if theme.depth == .none {
                if s.reverse || s.bg == .selection { attrs |= slipway_a_reverse() }
                if s.fg == .muted { attrs |= slipway_a_dim() }
                if [.accent, .error, .warning].contains(s.fg) { attrs |= slipway_a_bold() }
            } else {
                if s.reverse { attrs |= slipway_a_reverse() }
                pairNumber = pair(theme.index[s.fg] ?? -1, theme.index[s.bg] ?? -1)
            }
            var wide = Array(c.cell.text.unicodeScalars.map { wchar_t(bitPattern: $0.value) })
            wide.append(0)
            _ = slipway_put(Int32(c.y), Int32(c.x), wide, attrs, pairNumber)
        }
        refresh()
    }

    public func nextEvent(timeoutMs: Int) -> InputEvent? {
        timeout(Int32(timeoutMs))
        var ch: wint_t = 0
        let rc = get_wch(&ch)
        if rc == ERR { return nil }
        if rc == slipway_key_code_yes() {
            switch Int32(ch) {
            case KEY_RESIZE:
                size = (Int(slipway_cols()), Int(slipway_lines()))
                return .resize(width: size.width, height: size.height)
            case KEY_UP: return .key(.up)
            case KEY_DOWN: return .key(.down)
            case KEY_LEFT: return .key(.left)
            case KEY_RIGHT: return .key(.right)
            case KEY_HOME: return .key(.home)
            case KEY_END: return .key(.end)
            case KEY_PPAGE: return .key(.pageUp)
            case KEY_NPAGE: return .key(.pageDown)
            case KEY_BTAB: return .key(.backTab)
            case KEY_BACKSPACE: return .key(.backspace)
            case KEY_DC: return .key(.delete)
            case KEY_ENTER: return .key(.enter)
            case KEY_MOUSE:
                var event = MEVENT()
                guard getmouse(&event) == OK else { return nil }
                if slipway_wheel_up(event.bstate) != 0 { return .mouse(x: Int(event.x), y: Int(event.y), kind: .wheelUp) }
                if slipway_wheel_down(event.bstate) != 0 { return .mouse(x: Int(event.x), y: Int(event.y), kind: .wheelDown) }
                if slipway_button1(event.bstate) != 0 { return .mouse(x: Int(event.x), y: Int(event.y), kind: .click) }
                return nil
            default:
                let f0 = Int32(KEY_F0)
                if Int32(ch) > f0 && Int32(ch) <= f0 + 12 { return .key(.function(Int(Int32(ch) - f0))) }
                return nil
            }
        }
        switch ch {
        case 27: return .key(.escape)
        case 9: return .key(.tab)
        case 10, 13: return .key(.enter)
        case 127, 8: return .key(.backspace)
        case 1...26: return .key(.ctrl(Character(UnicodeScalar(UInt8(ch) + 96))))
        default:
            guard let scalar = UnicodeScalar(UInt32(ch)) else { return nil }
            return .key(.char(Character(scalar)))
        }
    }
}
