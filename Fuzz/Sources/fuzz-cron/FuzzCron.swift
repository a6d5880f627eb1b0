import FuzzSupport
import SlipwayCore

// A schedule trigger's cron expression, then its next and previous firings.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCron(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = Fuzz.text(data, size)
    let cron: Cron
    do { cron = try Cron(text) } catch {
        Fuzz.requireClear(error, inputSize: size)
        if error.message.isEmpty { Fuzz.fail("an empty cron error") }
        return 0
    }
    // 2026-11-30T00:00:00Z, a leap day, and the epoch.
    for t: Int64 in [1_795_996_800, 1_709_164_800, 0] {
        guard let next = cron.next(after: t) else { continue }
        if next <= t { Fuzz.fail("'\(text)': next(after: \(t)) is \(next), not after it") }
        if next % 60 != 0 { Fuzz.fail("'\(text)': next firing \(next) is not on a minute") }
        if let again = cron.next(after: next), again <= next { Fuzz.fail("'\(text)': firings go backwards (\(next) then \(again))") }
        if cron.previous(atOrBefore: next, window: 3600) != next { Fuzz.fail("'\(text)': previous(atOrBefore: \(next)) misses the firing at \(next)") }
    }
    return 0
}
