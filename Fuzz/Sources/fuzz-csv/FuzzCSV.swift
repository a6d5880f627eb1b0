import Foundation
import FuzzSupport
import SlipwayCore
import SlipwayEngine

// A dataset checked as `slipway data check` does: DATA \0 REFERENCE \0
// SCHEMA.yaml (the last two optional; data starting with `{` is read as JSON
// Lines, the rest as CSV): the readers, number parsing,
// schema checks, drift statistics against the reference, the JSON report and
// an inferred schema.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = Fuzz.parts(data, size, limit: 3)
    let ext = parts[0].first == UInt8(ascii: "{") ? "jsonl" : "csv"
    let dataName = "data." + ext, referenceName = "reference." + ext
    let dataPath = Fuzz.scratch + "/" + dataName, referencePath = Fuzz.scratch + "/" + referenceName
    Fuzz.write(parts[0], to: dataPath)
    if parts.count > 1 { Fuzz.write(parts[1], to: referencePath) }
    var schema: DataSchema?
    if parts.count > 2 {
        do { schema = try DataSchema.parse(yaml: String(decoding: parts[2], as: UTF8.self), file: "schema.yaml") } catch {
            Fuzz.requireClear(error, file: "schema.yaml", inputSize: size)
        }
    }
    do {
        let report = try DataValidator.validate(dataPath: dataPath, dataName: dataName, schema: schema,
                                                referencePath: parts.count > 1 ? referencePath : nil,
                                                referenceName: parts.count > 1 ? referenceName : nil)
        do { _ = try ValidationReport.encoder().encode(report) } catch { Fuzz.fail("the report cannot be written as JSON: \(error)") }
        if !report.passed && report.failures.isEmpty && report.drift.allSatisfy({ !$0.drifted }) {
            Fuzz.fail("a failed report that names no failure")
        }
    } catch {
        let message = "\(error)"
        if !message.contains(dataName) && !message.contains(referenceName) && !(error is SpecErrors) {
            Fuzz.fail("the error names neither file: \(message.prefix(300))")
        }
        Fuzz.requireClear(error, inputSize: size)
    }
    do {
        let profile = try DatasetProfile.read(path: dataPath, displayName: dataName, types: [:])
        _ = SchemaInference.infer([profile])
    } catch {
        Fuzz.requireClear(error, file: dataName, inputSize: size)
    }
    return 0
}
