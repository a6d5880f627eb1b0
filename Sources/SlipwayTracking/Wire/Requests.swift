import Foundation

// The request bodies of the endpoints served, as the MLflow client writes
// them (`message_to_json` of the protos in `mlflow/protos/service.proto`):
// snake_case names, int64 as JSON numbers (strings accepted too, as protobuf's
// own JSON mapping writes them), doubles as numbers or "NaN"/"Infinity"/"-Infinity".
// Unknown fields are ignored, as the client's parser ignores them.

/// An int64 written as a JSON number or a numeric string.
struct WireInt64: Decodable, Sendable {
    var value: Int64
    init(_ value: Int64) { self.value = value }
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int64.self) { value = i; return }
        if let s = try? c.decode(String.self), let i = Int64(s) { value = i; return }
        if let d = try? c.decode(Double.self), d.rounded() == d, abs(d) < 9.2e18 { value = Int64(d); return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a 64-bit integer")
    }
}

/// A double as a JSON number, or protobuf's strings for the values JSON lacks.
struct WireDouble: Decodable, Sendable {
    var value: Double
    init(_ value: Double) { self.value = value }
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let d = try? c.decode(Double.self) { value = d; return }
        if let s = try? c.decode(String.self), let d = Self.parse(s) { value = d; return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a number")
    }

    /// A double written as a string.
    static func parse(_ s: String) -> Double? {
        switch s {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return Double(s)
        }
    }
}

/// An enum written by name (`"FINISHED"`) or by number.
struct WireEnum: Decodable, Sendable {
    var name: String?
    var number: Int?
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { number = i } else { name = try c.decode(String.self) }
    }
}

struct WireKeyValue: Decodable, Sendable {
    var key: String?
    var value: String?
}

struct WireMetric: Decodable, Sendable {
    var key: String?
    var value: WireDouble?
    var timestamp: WireInt64?
    var step: WireInt64?
    var model_id: String?
    var dataset_name: String?
    var dataset_digest: String?
}

struct CreateExperimentRequest: Decodable, Sendable {
    var name: String?
    var artifact_location: String?
    var tags: [WireKeyValue]?
}

struct CreateRunRequest: Decodable, Sendable {
    var experiment_id: String?
    var user_id: String?
    var run_name: String?
    var start_time: WireInt64?
    var tags: [WireKeyValue]?
}

/// Every request naming a run: `run_id`, or the older `run_uuid`.
struct RunRef: Decodable, Sendable {
    var run_id: String?
    var run_uuid: String?
    var id: String? { run_id.flatMap { $0.isEmpty ? nil : $0 } ?? run_uuid.flatMap { $0.isEmpty ? nil : $0 } }
}

struct UpdateRunRequest: Decodable, Sendable {
    var run_id: String?
    var run_uuid: String?
    var status: WireEnum?
    var end_time: WireInt64?
    var run_name: String?
}

struct LogMetricRequest: Decodable, Sendable {
    var run_id: String?
    var run_uuid: String?
    var key: String?
    var value: WireDouble?
    var timestamp: WireInt64?
    var step: WireInt64?
    var model_id: String?
}

struct KeyValueRequest: Decodable, Sendable {
    var run_id: String?
    var run_uuid: String?
    var key: String?
    var value: String?
}

struct LogBatchRequest: Decodable, Sendable {
    var run_id: String?
    var metrics: [WireMetric]?
    var params: [WireKeyValue]?
    var tags: [WireKeyValue]?
}

struct WireDataset: Decodable, Sendable {
    var name: String?
    var digest: String?
    var source_type: String?
    var source: String?
    var schema: String?
    var profile: String?
}

struct WireDatasetInput: Decodable, Sendable {
    var tags: [WireKeyValue]?
    var dataset: WireDataset?
}

struct WireModelRef: Decodable, Sendable {
    var model_id: String?
    var step: WireInt64?
}

struct LogInputsRequest: Decodable, Sendable {
    var run_id: String?
    var datasets: [WireDatasetInput]?
    var models: [WireModelRef]?
}

struct LogOutputsRequest: Decodable, Sendable {
    var run_id: String?
    var models: [WireModelRef]?
}

struct LogModelRequest: Decodable, Sendable {
    var run_id: String?
    var model_json: String?
}

struct SearchRunsRequest: Decodable, Sendable {
    var experiment_ids: [String]?
    var filter: String?
    var max_results: WireInt64?
    var page_token: String?
}

struct CreateLoggedModelRequest: Decodable, Sendable {
    var experiment_id: String?
    var name: String?
    var model_type: String?
    var source_run_id: String?
    var params: [WireKeyValue]?
    var tags: [WireKeyValue]?
}

struct FinalizeLoggedModelRequest: Decodable, Sendable {
    var model_id: String?
    var status: WireEnum?
}

struct LoggedModelTagsRequest: Decodable, Sendable {
    var tags: [WireKeyValue]?
}

struct LoggedModelParamsRequest: Decodable, Sendable {
    var params: [WireKeyValue]?
}

struct SearchLoggedModelsRequest: Decodable, Sendable {
    var experiment_ids: [String]?
    var filter: String?
    var max_results: WireInt64?
    var page_token: String?
}
