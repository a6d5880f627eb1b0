import Foundation

/// A table's columns with a priority each, so a narrow terminal drops the
/// least needed ones whole instead of cutting the essential ones: the
/// verdict, the version, the actor stay; a timestamp or a delta goes first.
struct Column {
    var title: String
    var width: Int
    /// 0 is always shown; a higher number is dropped sooner.
    var priority: Int
    var alignRight = false
    /// The last column may take the rest of the line (at least `width`).
    var flexible = false

    init(_ title: String, _ width: Int, priority: Int, alignRight: Bool = false, flexible: Bool = false) {
        self.title = title
        self.width = width
        self.priority = priority
        self.alignRight = alignRight
        self.flexible = flexible
    }
}

struct ColumnLayout {
    var columns: [Column]
    /// Whether each column is shown.
    var shown: [Bool]
    var width: Int

    /// Drops columns, lowest priority (highest number) first, until the rest fit in `width`.
    init(_ columns: [Column], width: Int) {
        self.columns = columns
        self.width = width
        var shown = Array(repeating: true, count: columns.count)
        func used() -> Int { zip(columns, shown).filter(\.1).map { $0.0.width + 1 }.reduce(0, +) - 1 }
        let order = columns.indices.filter { columns[$0].priority > 0 }.sorted { (columns[$0].priority, $0) > (columns[$1].priority, $1) }
        for i in order where used() > width { shown[i] = false }
        self.shown = shown
    }

    /// The width each shown column gets: a flexible one takes what is left.
    var widths: [Int] {
        let fixed = zip(columns, shown).filter { $0.1 && !$0.0.flexible }.map { $0.0.width + 1 }.reduce(0, +)
        return columns.enumerated().map { i, c in
            guard shown[i] else { return 0 }
            return c.flexible ? max(c.width, width - fixed) : c.width
        }
    }

    func line(_ cells: [String], glyphs g: Glyphs) -> String {
        let ws = widths
        var parts: [String] = []
        for (i, c) in columns.enumerated() where shown[i] {
            let cell = i < cells.count ? cells[i] : ""
            parts.append(c.flexible && i == columns.count - 1 ? cell : Widgets.fit(cell, ws[i], glyphs: g, alignRight: c.alignRight))
        }
        return parts.joined(separator: " ")
    }

    func header(glyphs g: Glyphs) -> String { line(columns.map(\.title), glyphs: g) }
}
