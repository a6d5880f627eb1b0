/// An input event from the terminal.
public enum InputEvent: Sendable, Equatable {
    case key(Key)
    case mouse(x: Int, y: Int, kind: MouseKind)
    case resize(width: Int, height: Int)
}

public enum MouseKind: Sendable, Equatable { case click, wheelUp, wheelDown }

/// Where frames go and events come from: ncursesw on a real terminal, an
/// in-memory grid in tests.
public protocol TerminalDevice: AnyObject {
    var size: (width: Int, height: Int) { get }
    /// Whether colours are available, and how many.
    var colorCount: Int { get }
    /// Writes the given cells and makes them visible.
    func draw(_ changes: [(x: Int, y: Int, cell: Cell)], theme: ResolvedTheme)
    /// Clears the screen and forgets what is on it (after a resize).
    func reset()
    /// Waits up to `timeoutMs` for input.
    func nextEvent(timeoutMs: Int) -> InputEvent?
    func shutdown()
    /// Gives the terminal back (for a program that prompts, like ssh-keygen asking for a passphrase).
    func suspend()
    /// Takes it again; the next frame is drawn whole.
    func resume()
}

extension TerminalDevice {
    public func suspend() {}
    public func resume() { reset() }
}

/// Sends only the cells that changed since the last frame.
public final class Renderer {
    private var previous: ScreenBuffer?
    public private(set) var cellsWritten = 0

    public init() {}

    public func invalidate() { previous = nil }

    public func render(_ frame: ScreenBuffer, to device: TerminalDevice, theme: ResolvedTheme) {
        var changes: [(x: Int, y: Int, cell: Cell)] = []
        if let prev = previous, prev.width == frame.width, prev.height == frame.height {
            for i in frame.cells.indices where frame.cells[i] != prev.cells[i] {
                changes.append((i % frame.width, i / frame.width, frame.cells[i]))
            }
        } else {
            device.reset()
            for i in frame.cells.indices { changes.append((i % frame.width, i / frame.width, frame.cells[i])) }
        }
        previous = frame
        cellsWritten = changes.count
        if !changes.isEmpty { device.draw(changes, theme: theme) }
    }
}

/// A terminal in memory, for tests: events are queued, frames are kept.
public final class MemoryTerminal: TerminalDevice {
    public var size: (width: Int, height: Int)
    public var colorCount: Int
    public private(set) var screen: ScreenBuffer
    public var events: [InputEvent] = []
    public private(set) var resets = 0

    public init(width: Int, height: Int, colors: Int = 256) {
        size = (width, height)
        colorCount = colors
        screen = ScreenBuffer(width: width, height: height)
    }

    public func draw(_ changes: [(x: Int, y: Int, cell: Cell)], theme: ResolvedTheme) {
        for c in changes where c.x < screen.width && c.y < screen.height { screen[c.x, c.y] = c.cell }
    }

    public func reset() {
        resets += 1
        screen = ScreenBuffer(width: size.width, height: size.height)
    }

    public func nextEvent(timeoutMs: Int) -> InputEvent? { events.isEmpty ? nil : events.removeFirst() }

    public func shutdown() {}

    public func resize(width: Int, height: Int) {
        size = (width, height)
        events.append(.resize(width: width, height: height))
    }
}
