import Foundation

/// The names of MLflow's `RunStatus` and `LoggedModelStatus` enums.
enum RunStatusName {
    static let runStatuses = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]
    static let modelStatuses = ["LOGGED_MODEL_STATUS_UNSPECIFIED", "LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"]

    static func name(_ e: WireEnum) -> String? {
        if let n = e.name { return runStatuses.contains(n) ? n : nil }
        if let i = e.number, (1...5).contains(i) { return runStatuses[i - 1] }
        return nil
    }

    static func modelName(_ e: WireEnum) -> String? {
        if let n = e.name { return modelStatuses.contains(n) ? n : nil }
        if let i = e.number, (0..<4).contains(i) { return modelStatuses[i] }
        return nil
    }
}
