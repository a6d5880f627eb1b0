import SlipwayCore

/// A failure talking to PostgreSQL. Server errors carry their SQLSTATE
/// (``sqlState``), so callers match on a code (`PGError.SQLState.uniqueViolation`),
/// never on a message.
///
/// No error ever holds a password: URLs with one are refused before libpq sees
/// them, and connection targets are described by ``PGURL/redacted``.
public struct PGError: SlipwayError, Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// libpq itself is missing or unusable on this machine.
        case library
        /// The URL is malformed or not allowed (it holds a password, say).
        case badURL
        /// Connecting failed, or the connection was lost.
        case connection
        /// The server refused or failed a statement (see ``PGError/sqlState``).
        case server
        /// A value in a result row is not of the type asked for.
        case decoding
        /// The caller used the API wrongly (a result of the wrong shape, say).
        case usage
    }

    public var kind: Kind
    /// The five-character SQLSTATE for server errors (`23505`, `40001` …).
    public var sqlState: String?
    /// The server's (or libpq's) one-line message.
    public var message: String
    public var detail: String?
    public var hint: String?
    /// The constraint a constraint violation names.
    public var constraint: String?
    /// What was being done, for the description (`connecting to postgres://ana@db:5432/team`).
    public var context: String?

    public init(kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil,
                constraint: String? = nil, context: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
        self.context = context
    }

    public var exitStatus: ExitStatus { kind == .badURL ? .usage : .internalError }

    public var description: String {
        var text = context.map { "\($0): " } ?? ""
        text += message
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let detail, !detail.isEmpty { text += "; \(detail)" }
        if let hint, !hint.isEmpty { text += "; hint: \(hint)" }
        return text
    }

    /// The SQLSTATE codes this project matches on.
    public enum SQLState {
        public static let uniqueViolation = "23505"
        public static let foreignKeyViolation = "23503"
        public static let checkViolation = "23514"
        public static let serializationFailure = "40001"
        public static let deadlockDetected = "40P01"
        public static let lockNotAvailable = "55P03"
        public static let undefinedTable = "42P01"
        public static let invalidSchemaName = "3F000"
        public static let queryCanceled = "57014"
        public static let adminShutdown = "57P01"
        public static let crashShutdown = "57P02"
        public static let cannotConnectNow = "57P03"
        public static let raiseException = "P0001"
    }

    /// A transient conflict between transactions: running the transaction again may succeed.
    public var isTransactionConflict: Bool {
        sqlState == SQLState.serializationFailure || sqlState == SQLState.deadlockDetected
    }

    /// The connection is gone or the server is going away or not yet up:
    /// a new connection, later, may succeed.
    public var isConnectionLoss: Bool {
        if kind == .connection { return true }
        guard let s = sqlState else { return false }
        return s.hasPrefix("08") || s == SQLState.adminShutdown || s == SQLState.crashShutdown || s == SQLState.cannotConnectNow
    }
}
