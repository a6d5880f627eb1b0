import FuzzSupport
import SlipwayCore

// params.yaml: nested mappings flattened to dotted keys.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParams(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    do {
        let params = try Params.parse(yaml: Fuzz.text(data, size))
        for key in params.values.keys { _ = Params.environmentName(for: key) }
    } catch {
        Fuzz.requireClear(error, file: "params.yaml", inputSize: size)
    }
    return 0
}
