/// An error answered in MLflow's shape: `{"error_code": "…", "message": "…"}`
/// with the HTTP status MLflow gives that code, so the MLflow client raises
/// the same `MlflowException` it would against MLflow's own server (and does
/// not retry: codes it retries, 429 and 5xx, are used only where MLflow uses them).
public struct MLflowError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidParameterValue = "INVALID_PARAMETER_VALUE"
        case resourceDoesNotExist = "RESOURCE_DOES_NOT_EXIST"
        case resourceAlreadyExists = "RESOURCE_ALREADY_EXISTS"
        case endpointNotFound = "ENDPOINT_NOT_FOUND"
        case badRequest = "BAD_REQUEST"
        case unauthenticated = "UNAUTHENTICATED"
        case permissionDenied = "PERMISSION_DENIED"
        case internalError = "INTERNAL_ERROR"
        case notImplemented = "NOT_IMPLEMENTED"

        /// The status MLflow's server answers with (`mlflow/exceptions.py`).
        public var httpStatus: Int {
            switch self {
            case .invalidParameterValue, .resourceAlreadyExists, .badRequest: return 400
            case .unauthenticated: return 401
            case .permissionDenied: return 403
            case .resourceDoesNotExist, .endpointNotFound: return 404
            case .internalError: return 500
            case .notImplemented: return 501
            }
        }
    }

    public var code: Code
    public var message: String
    /// The HTTP status: the code's own, or 413 for a body over the limit.
    public var httpStatus: Int

    public init(_ code: Code, _ message: String, httpStatus: Int? = nil) {
        self.code = code
        self.message = message
        self.httpStatus = httpStatus ?? code.httpStatus
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public var body: [UInt8] {
        var w = JSONWriter()
        w.object { o in
            o.field("error_code", code.rawValue)
            o.field("message", message)
        }
        return w.bytes
    }

    static func invalid(_ message: String) -> MLflowError { MLflowError(.invalidParameterValue, message) }
    static func missing(_ message: String) -> MLflowError { MLflowError(.resourceDoesNotExist, message) }
}
