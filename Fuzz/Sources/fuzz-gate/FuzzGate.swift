import Foundation
import FuzzSupport
import SlipwayCore

// Gate and analysis conditions (`>= production - 0.01`), durations (`10m`),
// and an analysis source's answer read through a value path: the bytes are
// CONDITION \0 DURATION \0 VALUE-PATH \0 JSON.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGate(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = Fuzz.parts(data, size, limit: 4).map { String(decoding: $0, as: UTF8.self) }
    do {
        let condition = try GateCondition(parsing: parts[0])
        for production: Double? in [nil, 0, 1, -1, .nan, .infinity, 1e308] {
            for candidate: Double? in [nil, 0.5, .nan, -.infinity] {
                let r = Gates.evaluate(metric: "m", condition: condition, candidate: candidate, production: production,
                                       hasBaseline: production != nil, onNoBaseline: .pass)
                if r.explanation.isEmpty { Fuzz.fail("a gate decision without its arithmetic: \(parts[0])") }
            }
        }
    } catch {
        Fuzz.requireClear(error, inputSize: size)
    }
    if parts.count > 1, let seconds = Durations.seconds(from: parts[1]) {
        if !seconds.isFinite || seconds < 0 { Fuzz.fail("duration '\(parts[1])' is \(seconds) s") }
        _ = Durations.format(seconds)
        _ = Durations.clock(seconds)
    }
    if parts.count > 2 {
        do {
            let steps = try JSONValuePath.parse(parts[2])
            if parts.count > 3, let json = try? JSONSerialization.jsonObject(with: Data(parts[3].utf8), options: [.fragmentsAllowed]) {
                _ = JSONValuePath.number(in: json, at: steps)
            }
        } catch {
            Fuzz.requireClear(error, inputSize: size)
        }
    }
    return 0
}
