import FuzzSupport
import SlipwayCore

// slipway.yaml, optionally followed by a NUL and a params.yaml the spec's
// `params:` are checked against.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpec(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = Fuzz.parts(data, size, limit: 2)
    let specText = String(decoding: parts[0], as: UTF8.self)
    var params: Params?
    if parts.count > 1 {
        do { params = try Params.parse(yaml: String(decoding: parts[1], as: UTF8.self)) } catch {
            Fuzz.requireClear(error, file: "params.yaml", inputSize: size)
        }
    }
    do {
        let spec = try SpecParser.parse(specText, file: "slipway.yaml", params: params)
        // What the rest of Slipway reads from a parsed spec.
        for pipeline in spec.pipelines { _ = spec.pipeline(named: pipeline.name) }
        _ = spec.environments.map(\.plan)
    } catch {
        Fuzz.requireClear(error, file: "slipway.yaml", inputSize: size)
    }
    return 0
}
