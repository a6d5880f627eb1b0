import CLibPQ

/// One connection to a PostgreSQL server, through libpq, synchronous.
///
/// A connection is used by one thread at a time (``PGPool`` hands them out);
/// it is closed when released. Statements take parameters (`$1` …) sent
/// apart from the SQL, so values are never spliced into statement text.
public final class PGConnection: @unchecked Sendable {
    let pq: slipway_libpq
    private var handle: OpaquePointer?
    /// Where this connection goes (no password).
    public let url: PGURL

    /// Settings every connection gets unless the URL sets them: the
    /// application name shown in `pg_stat_activity`, a connect timeout, and
    /// TCP keepalives that notice a silently dropped peer in about 30 seconds.
    public static let defaultParameters: [(String, String)] = [
        ("application_name", "slipway"), ("connect_timeout", "10"),
        ("keepalives", "1"), ("keepalives_idle", "15"), ("keepalives_interval", "5"), ("keepalives_count", "3"),
    ]

    /// Connects. The password, when the server asks for one, comes from libpq's
    /// own sources (`PGPASSWORD`, `PGPASSFILE`, `~/.pgpass`, a `passfile=` parameter).
    public init(_ url: PGURL) throws(PGError) {
        self.pq = try LibPQ.api()
        self.url = url
        let parameters = url.connectParameters(defaults: Self.defaultParameters)
        let conn = withCStringArray(parameters.map(\.0)) { keywords in
            withCStringArray(parameters.map(\.1)) { values in
                pq.PQconnectdbParams!(keywords + [nil], values + [nil], 1)
            }
        }
        guard let conn else {
            throw PGError(kind: .connection, message: "libpq could not allocate a connection", context: "connecting to \(url)")
        }
        guard pq.PQstatus!(conn) == CONNECTION_OK else {
            let message = Self.oneLine(pq.PQerrorMessage!(conn))
            pq.PQfinish!(conn)
            throw PGError(kind: .connection, message: message.isEmpty ? "connection failed" : message, context: "connecting to \(url)")
        }
        // libpq prints notices ("schema … already exists, skipping") to stderr by default.
        _ = pq.PQsetNoticeProcessor!(conn, { _, _ in }, nil)
        handle = conn
    }

    deinit { close() }

    /// Closes the connection (idempotent).
    public func close() {
        if let handle { pq.PQfinish!(handle) }
        handle = nil
    }

    /// Whether the connection is open and was healthy at its last use.
    public var isOpen: Bool {
        guard let handle else { return false }
        return pq.PQstatus!(handle) == CONNECTION_OK
    }

    /// The socket, to wait on with `poll` (see ``PGListener``); -1 when closed.
    public var socket: Int32 { handle.map { pq.PQsocket!($0) } ?? -1 }

    /// The server process serving this connection.
    public var backendPID: Int32 { handle.map { pq.PQbackendPID!($0) } ?? 0 }

    /// The server's version as a number (150018 for 15.18).
    public var serverVersion: Int { handle.map { Int(pq.PQserverVersion!($0)) } ?? 0 }

    /// Whether the server asked for a password and libpq supplied one.
    public var usedPassword: Bool { handle.map { pq.PQconnectionUsedPassword!($0) != 0 } ?? false }

    /// Whether a transaction is open (or failed and not yet rolled back).
    public var inTransaction: Bool {
        guard let handle else { return false }
        let status = pq.PQtransactionStatus!(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    func live() throws(PGError) -> OpaquePointer {
        guard let handle else { throw PGError(kind: .connection, message: "the connection is closed", context: url.redacted) }
        return handle
    }

    // MARK: - Statements

    /// Runs one statement with parameters (`$1` …, in text format) and returns its result.
    @discardableResult
    public func execute(_ sql: String, _ parameters: PGParameters = []) throws(PGError) -> PGResult {
        let conn = try live()
        var texts: [String?] = []
        texts.reserveCapacity(parameters.count)
        for p in parameters {
            let text = p?.pgText
            if let text, text.utf8.contains(0) {
                throw PGError(kind: .usage, message: "a text value holds a NUL byte, which PostgreSQL text cannot store")
            }
            texts.append(text)
        }
        let result = withCStringArray(texts) { values in
            pq.PQexecParams!(conn, sql, Int32(values.count), nil, values, nil, nil, 0)
        }
        return try check(result)
    }

    /// Runs one or more statements separated by semicolons, without parameters
    /// (for schema changes); returns the last statement's result.
    @discardableResult
    public func executeScript(_ sql: String) throws(PGError) -> PGResult {
        let conn = try live()
        return try check(pq.PQexec!(conn, sql))
    }

    /// Runs `body` in a transaction (`BEGIN` … `COMMIT`), rolling back if it
    /// throws. No retries: see ``PGPool/write(_:_:)`` for those.
    public func transaction<T>(_ begin: String = "BEGIN", _ body: (PGConnection) throws -> T) throws -> T {
        try executeScript(begin)
        do {
            let value = try body(self)
            try executeScript("COMMIT")
            return value
        } catch {
            rollbackQuietly()
            throw error
        }
    }

    /// Rolls back whatever transaction is open, ignoring failures (the
    /// connection may already be gone; then it is closed).
    func rollbackQuietly() {
        guard let handle else { return }
        if pq.PQstatus!(handle) != CONNECTION_OK { close(); return }
        if pq.PQtransactionStatus!(handle) != PQTRANS_IDLE {
            if let r = pq.PQexec!(handle, "ROLLBACK") { pq.PQclear!(r) }
        }
        if pq.PQstatus!(handle) != CONNECTION_OK { close() }
    }

    /// Quotes an identifier (a schema or channel name) for use in SQL text.
    public func quoteIdentifier(_ name: String) throws(PGError) -> String {
        let conn = try live()
        guard let quoted = pq.PQescapeIdentifier!(conn, name, name.utf8.count) else {
            throw PGError(kind: .usage, message: Self.oneLine(pq.PQerrorMessage!(conn)))
        }
        defer { pq.PQfreemem!(quoted) }
        return String(cString: quoted)
    }

    // MARK: - Results and errors

    func check(_ result: OpaquePointer?) throws(PGError) -> PGResult {
        guard let result else { throw connectionError() }
        let wrapped = PGResult(pq: pq, handle: result)
        switch pq.PQresultStatus!(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_COPY_IN, PGRES_SINGLE_TUPLE:
            return wrapped
        default:
            throw error(from: result)
        }
    }

    /// The error a failed result describes, with its SQLSTATE; a lost
    /// connection is reported as such whatever libpq's message.
    func error(from result: OpaquePointer) -> PGError {
        func field(_ code: Int32) -> String? {
            pq.PQresultErrorField!(result, code).map { String(cString: $0) }
        }
        let message = field(PGDiagnostic.message) ?? Self.oneLine(pq.PQresultErrorMessage!(result))
        let lost = handle.map { pq.PQstatus!($0) != CONNECTION_OK } ?? true
        let sqlState = field(PGDiagnostic.sqlState)
        var error = PGError(kind: lost && sqlState == nil ? .connection : .server, sqlState: sqlState,
                            message: message.isEmpty ? "the statement failed" : message,
                            detail: field(PGDiagnostic.detail), hint: field(PGDiagnostic.hint),
                            constraint: field(PGDiagnostic.constraint))
        if lost { error.context = "connection to \(url) lost" }
        return error
    }

    func connectionError() -> PGError {
        let message = handle.map { Self.oneLine(pq.PQerrorMessage!($0)) } ?? "the connection is closed"
        let lost = handle.map { pq.PQstatus!($0) != CONNECTION_OK } ?? true
        return PGError(kind: lost ? .connection : .server, message: message.isEmpty ? "no result" : message,
                       context: lost ? "connection to \(url) lost" : nil)
    }

    /// libpq's messages end in newlines and may span lines; errors are one line.
    static func oneLine(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "" }
        return String(cString: text).split(whereSeparator: \.isNewline)
            .map { String($0).trimmingWhitespace }.filter { !$0.isEmpty }.joined(separator: "; ")
    }
}

/// The `PG_DIAG_*` field codes of libpq (character literals, which Swift does not import).
enum PGDiagnostic {
    static let sqlState = Int32(UInt8(ascii: "C"))
    static let message = Int32(UInt8(ascii: "M"))
    static let detail = Int32(UInt8(ascii: "D"))
    static let hint = Int32(UInt8(ascii: "H"))
    static let constraint = Int32(UInt8(ascii: "n"))
}

/// Calls `body` with C strings for `strings` (nil stays NULL), all in one buffer.
func withCStringArray<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) throws -> R) rethrows -> R {
    // One buffer for every parameter, each copied in whole (a parameter may
    // be a text array of thousands of elements).
    var buffer: [UInt8] = []
    buffer.reserveCapacity(strings.reduce(0) { $0 + ($1?.utf8.count ?? 0) + 1 })
    var offsets: [Int?] = []
    offsets.reserveCapacity(strings.count)
    for s in strings {
        guard let s else { offsets.append(nil); continue }
        offsets.append(buffer.count)
        buffer.append(contentsOf: s.utf8)
        buffer.append(0)
    }
    return try buffer.withUnsafeBufferPointer { bytes in
        try bytes.withMemoryRebound(to: CChar.self) { base in
            try body(offsets.map { offset in offset.map { UnsafePointer(base.baseAddress! + $0) } })
        }
    }
}
