import Foundation
import FuzzSupport
import SlipwayCore

// A stage's output, line by line (`::metric`, `::progress`), and the same
// bytes as a JSON metrics file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMetric(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = Fuzz.text(data, size)
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        switch MetricParsing.classify(line) {
        case .metric(let point):
            if point.key.isEmpty { Fuzz.fail("a metric without a name from \(line.prefix(200))") }
            // (NaN is a value too, and NaN != NaN: compare the bits.)
            let again = MetricParsing.parseLine(line)
            if again?.key != point.key || again?.step != point.step || again?.value.bitPattern != point.value.bitPattern {
                Fuzz.fail("classify and parseLine disagree on \(line.prefix(200))")
            }
        case .progress(let done, let total):
            if total <= 0 || done < 0 || done > total { Fuzz.fail("progress \(done)/\(total) from \(line.prefix(200))") }
        case .malformed(let shown):
            if shown.isEmpty { Fuzz.fail("a malformed line reported as empty text") }
        case .text:
            break
        }
    }
    do {
        _ = try MetricParsing.parseJSON(Data(Fuzz.bytes(data, size)))
    } catch {
        Fuzz.requireClear(error, inputSize: size)
    }
    return 0
}
