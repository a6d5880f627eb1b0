import Foundation

/// The built-in `uses: validate` stage: checks `data:` against `schema:` and,
/// with `reference:`, for drift. A failed check fails the stage as a check
/// failure (exit 3), before any dependent stage starts.
public struct ValidateStage: BuiltinStageHandler {
    public init() {}

    public func execute(stage: StageSpec, context: BuiltinContext) throws -> StageFailure? {
        let ws = context.workspace
        let data = stage.options["data"]?.stringValue ?? ""
        let schemaPath = stage.options["schema"]?.stringValue
        let referencePath = stage.options["reference"]?.stringValue
        var log = ""
        var json = "", passed = false, summary = ""
        defer { try? FileSystem.writeFile(context.logPath, Data(log.utf8)) }
        let files = ContainedFiles(root: ws.root)
        do {
            // Each file is checked where it is read: none may lead out of the workspace.
            var schema: DataSchema?
            if let schemaPath {
                let text = String(decoding: try FileSystem.readFile(try files.readable(schemaPath)), as: UTF8.self)
                schema = try DataSchema.parse(yaml: text, file: schemaPath)
            }
            if let share = stage.options["drift_share"]?.numberValue {
                if schema == nil { schema = DataSchema() }
                schema?.driftShare = share
            }
            // `method:` / `threshold:` on the stage set the drift rule of every
            // column the schema gives no rule of its own.
            if let name = stage.options["method"]?.stringValue {
                guard let method = DataSchema.DriftMethod(rawValue: name) else {
                    return .slipway("unknown drift method '\(name)'; methods: " + DataSchema.DriftMethod.allCases.map(\.rawValue).joined(separator: ", "))
                }
                if schema == nil { schema = DataSchema() }
                schema?.driftMethod = DataSchema.DriftRule(method: method, threshold: stage.options["threshold"]?.numberValue ?? method.defaultThreshold)
            }
            let report = try DataValidator.validate(dataPath: try files.readable(data), dataName: data, schema: schema,
                                                    referencePath: try referencePath.map(files.readable), referenceName: referencePath)
            log = ValidationText.render(report)
            json = String(decoding: try ValidationReport.encoder().encode(report), as: UTF8.self)
            passed = report.passed
            summary = report.failureSummary
        } catch let e as SpecErrors {
            log = e.description + "\n"
            return .slipway("bad schema: " + e.issues.map(\.description).joined(separator: "; "))
        } catch let e as DataFileError {
            log = e.description + "\n"
            return .input(e.description)
        } catch let e as ContainedFiles.Refused {
            log = e.description + "\n"
            return .input(e.description)
        } catch {
            log = "\(error)\n"
            return .slipway("\(error)")
        }
        // The report is evidence for the audit trail: a failure to record it fails the run.
        try context.registry.recordValidation(ValidationRecord(runID: context.run.id, stageRunID: context.stageRun.id,
                                                               dataset: data, passed: passed, report: json))
        return passed ? nil : .check("validation failed: " + summary)
    }
}

/// The human-readable form of a report (logs, `slipway data check`).
public enum ValidationText {
    public static func render(_ r: ValidationReport) -> String {
        var out = "\(r.dataset): \(r.rows) rows" + (r.reference.map { " · reference \($0) (\(r.referenceRows ?? 0) rows)" } ?? "")
        out += " · " + (r.passed ? "PASS" : "FAIL") + "\n"
        for c in r.checks {
            let mark = c.passed ? "✓" : (c.warning ? "!" : "✗")
            out += "  \(mark) \((c.column.map { $0 + " " } ?? ""))\(c.check): \(c.message)\n"
        }
        if !r.drift.isEmpty {
            out += "drift (\(r.drift.filter(\.drifted).count) of \(r.drift.count) columns)\n"
            for d in r.drift {
                out += "  \(d.drifted ? "▲" : "·") \(d.column) [\(d.kind)] \(d.detail)\n"
            }
        }
        return out
    }
}
