/// A five-field cron expression in UTC (`minute hour day-of-month month
/// day-of-week`) with lists, ranges and steps (`*/15`, `1-5`, `0,30`), plus
/// `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly`, `@yearly`.
/// As in Vixie cron, when both day fields are restricted a day matches either.
public struct Cron: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    let minutes: Set<Int>, hours: Set<Int>, days: Set<Int>, months: Set<Int>, weekdays: Set<Int>
    let dayRestricted: Bool, weekdayRestricted: Bool

    public var description: String { text }

    public struct ParseError: Error, Sendable, Hashable { public var message: String }

    public init(_ text: String) throws(ParseError) {
        self.text = text
        let aliases = ["@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
                       "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"]
        let expanded = aliases[text.trimmingWhitespace()] ?? text
        let fields = expanded.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 5 else {
            throw ParseError(message: "'\(text)' is not a cron expression: five fields (minute hour day month weekday) or @hourly/@daily/@weekly")
        }
        func field(_ s: String, _ name: String, _ lo: Int, _ hi: Int, names: [String] = []) throws(ParseError) -> Set<Int> {
            var out = Set<Int>()
            for part in s.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                guard !part.isEmpty else { throw ParseError(message: "'\(text)': an empty list item in the \(name) field") }
                let stepParts = part.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
                guard stepParts.count <= 2 else { throw ParseError(message: "'\(text)': '\(part)' in the \(name) field has two steps") }
                var step = 1
                if stepParts.count == 2 {
                    guard let n = Int(stepParts[1]), n >= 1 else { throw ParseError(message: "'\(text)': '\(stepParts[1])' is not a step (a whole number ≥ 1)") }
                    step = n
                }
                func value(_ v: String) throws(ParseError) -> Int {
                    if let i = names.firstIndex(of: v.lowercased()) { return i + lo }
                    guard let n = Int(v) else { throw ParseError(message: "'\(text)': '\(v)' in the \(name) field is not a number") }
                    // Day of week 7 is Sunday too.
                    let m = (name == "weekday" && n == 7) ? 0 : n
                    guard m >= lo && m <= hi else { throw ParseError(message: "'\(text)': \(n) is outside the \(name) field's \(lo)–\(hi)") }
                    return m
                }
                var a = lo, b = hi
                let range = stepParts[0]
                if range != "*" {
                    let ends = range.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
                    guard ends.count <= 2 else { throw ParseError(message: "'\(text)': '\(range)' is not a range") }
                    a = try value(ends[0])
                    b = ends.count == 2 ? try value(ends[1]) : (stepParts.count == 2 ? hi : a)
                    if name == "weekday", ends.count == 2, ends[1] == "7" { b = 6; out.insert(0) }
                    guard a <= b else { throw ParseError(message: "'\(text)': the range '\(range)' runs backwards") }
                }
                var v = a
                while v <= b { out.insert(v); v += step }
            }
            return out
        }
        minutes = try field(fields[0], "minute", 0, 59)
        hours = try field(fields[1], "hour", 0, 23)
        days = try field(fields[2], "day", 1, 31)
        months = try field(fields[3], "month", 1, 12, names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
        weekdays = try field(fields[4], "weekday", 0, 6, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"])
        dayRestricted = !fields[2].hasPrefix("*")
        weekdayRestricted = !fields[4].hasPrefix("*")
        // With both day fields restricted a day matches either, so the
        // weekday alone can make it fire (`0 0 30 2 mon`: Mondays in February).
        if !(dayRestricted && weekdayRestricted), !days.contains(where: { d in months.contains { m in d <= Self.daysIn(month: m, leap: true) } }) {
            throw ParseError(message: "'\(text)' never fires: no chosen month has day \(days.sorted().map(String.init).joined(separator: ","))")
        }
    }

    static func daysIn(month: Int, leap: Bool) -> Int {
        switch month {
        case 2: return leap ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    /// Days since 1970-01-01 of a civil date (proleptic Gregorian).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civil(fromDays z0: Int) -> (y: Int, m: Int, d: Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    func dayMatches(days z: Int) -> Bool {
        let (y, m, d) = Self.civil(fromDays: z)
        guard months.contains(m), d <= Self.daysIn(month: m, leap: Self.isLeap(y)) else { return false }
        let weekday = ((z % 7) + 11) % 7  // 1970-01-01 was a Thursday (4)
        let dayOK = days.contains(d), weekdayOK = weekdays.contains(weekday)
        if dayRestricted && weekdayRestricted { return dayOK || weekdayOK }
        return dayOK && weekdayOK
    }

    /// The first firing time strictly after `seconds` (Unix time, UTC), to the minute.
    public func next(after seconds: Int64) -> Int64? {
        let startMinute = Int((seconds / 60) + 1)
        var day = startMinute / 1440
        var minuteOfDay = startMinute % 1440
        // At most eight years ahead (covers Feb 29 with a weekday).
        for _ in 0..<(366 * 8) {
            if dayMatches(days: day) {
                for h in hours.sorted() where h * 60 + 59 >= minuteOfDay {
                    for mi in minutes.sorted() where h * 60 + mi >= minuteOfDay {
                        return Int64(day * 1440 + h * 60 + mi) * 60
                    }
                }
            }
            day += 1
            minuteOfDay = 0
        }
        return nil
    }

    /// The last firing time at or before `seconds`, looking back at most `window` seconds.
    public func previous(atOrBefore seconds: Int64, window: Int64) -> Int64? {
        var t = next(after: seconds - window - 60)
        var last: Int64?
        while let x = t, x <= seconds {
            last = x
            t = next(after: x)
        }
        return last
    }
}
