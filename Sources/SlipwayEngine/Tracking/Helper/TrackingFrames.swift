import Foundation

/// What a run and its `slipway-mlflow` helper say to each other over the socket pair
/// between them (docs/mlflow.md). The run opens and closes stage scopes; the helper
/// passes on what the stages log, and each such call is answered (``done``) once the
/// run has kept it, so a stage's request is answered only after its data is in the run.
public enum TrackingFrame: Sendable, Equatable {
    // run → helper
    /// The first frame: the workspace the helper writes artifacts into, the pipeline.
    case hello(root: String, pipeline: String)
    /// A stage's scope. `call` 0 asks for no answer (scopes sent before ``serve``).
    case open(call: UInt64, token: String, runID: String, stage: TrackedStageInfo)
    /// Start answering connections (every scope open so far has been sent).
    case serve
    case close(call: UInt64, token: String)
    /// Stop serving and exit.
    case stop
    // helper → run
    case summary(call: UInt64, TrackedStageSummary)
    case metrics(call: UInt64, token: String, [TrackedMetric])
    case params(call: UInt64, token: String, [KeyValue])
    case tags(call: UInt64, token: String, [KeyValue])
    case artifact(call: UInt64, token: String, TrackedArtifact)
    case inputs(call: UInt64, token: String, [TrackedInput])
    case note(token: String, String)
    // both ways
    /// A call was carried out (`error` nil) or refused.
    case done(call: UInt64, error: String?)
}

public struct MalformedTrackingFrame: Error, CustomStringConvertible {
    public var description: String
}

extension TrackingFrame {
    /// Frames larger than this are refused (a log-batch request is at most 1 MB).
    static let maxLength = 16 << 20

    /// The frame's bytes: a 4-byte little-endian length, then a kind byte and the fields.
    public var encoded: [UInt8] {
        var w = FrameWriter()
        switch self {
        case .hello(let root, let pipeline): w.u8(1); w.string(root); w.string(pipeline)
        case .open(let call, let token, let runID, let s):
            w.u8(2); w.u64(call); w.string(token); w.string(runID)
            w.i64(s.runID); w.i64(s.stageRunID); w.string(s.pipeline); w.string(s.stage); w.string(s.user)
            w.string(s.artifactArea); w.i64(s.startedAt)
        case .serve: w.u8(3)
        case .close(let call, let token): w.u8(4); w.u64(call); w.string(token)
        case .stop: w.u8(5)
        case .summary(let call, let s): w.u8(6); w.u64(call); w.pairs(s.params); w.i64(Int64(s.requests))
        case .metrics(let call, let token, let points):
            w.u8(7); w.u64(call); w.string(token); w.u32(points.count)
            for p in points { w.string(p.key); w.u64(p.value.bitPattern); w.i64(p.timestamp); w.i64(p.step) }
        case .params(let call, let token, let kv): w.u8(8); w.u64(call); w.string(token); w.pairs(kv)
        case .tags(let call, let token, let kv): w.u8(9); w.u64(call); w.string(token); w.pairs(kv)
        case .artifact(let call, let token, let a):
            w.u8(10); w.u64(call); w.string(token); w.string(a.path); w.string(a.digest); w.i64(a.size)
        case .inputs(let call, let token, let inputs):
            w.u8(11); w.u64(call); w.string(token); w.u32(inputs.count)
            for i in inputs { w.string(i.name); w.string(i.digest); w.string(i.source) }
        case .note(let token, let message): w.u8(12); w.string(token); w.string(message)
        case .done(let call, let error):
            w.u8(13); w.u64(call); w.u8(error == nil ? 0 : 1); if let error { w.string(error) }
        }
        return w.finished()
    }

    /// Reads one frame's body (the bytes after its length).
    public init(body: ArraySlice<UInt8>) throws {
        var r = FrameReader(bytes: body)
        let kind = try r.u8()
        switch kind {
        case 1: self = .hello(root: try r.string(), pipeline: try r.string())
        case 2:
            let call = try r.u64(), token = try r.string(), runID = try r.string()
            let stage = TrackedStageInfo(runID: try r.i64(), stageRunID: try r.i64(), pipeline: try r.string(),
                                         stage: try r.string(), user: try r.string(), artifactArea: try r.string(),
                                         startedAt: try r.i64())
            self = .open(call: call, token: token, runID: runID, stage: stage)
        case 3: self = .serve
        case 4: self = .close(call: try r.u64(), token: try r.string())
        case 5: self = .stop
        case 6:
            let call = try r.u64(), params = try r.pairs()
            self = .summary(call: call, TrackedStageSummary(params: params, requests: Int(try r.i64())))
        case 7:
            let call = try r.u64(), token = try r.string(), count = try r.count(minimumBytesEach: 28)
            var points: [TrackedMetric] = []
            points.reserveCapacity(count)
            for _ in 0..<count {
                points.append(TrackedMetric(key: try r.string(), value: Double(bitPattern: try r.u64()),
                                            timestamp: try r.i64(), step: try r.i64()))
            }
            self = .metrics(call: call, token: token, points)
        case 8: self = .params(call: try r.u64(), token: try r.string(), try r.pairs())
        case 9: self = .tags(call: try r.u64(), token: try r.string(), try r.pairs())
        case 10:
            self = .artifact(call: try r.u64(), token: try r.string(),
                             TrackedArtifact(path: try r.string(), digest: try r.string(), size: try r.i64()))
        case 11:
            let call = try r.u64(), token = try r.string(), count = try r.count(minimumBytesEach: 12)
            var inputs: [TrackedInput] = []
            for _ in 0..<count { inputs.append(TrackedInput(name: try r.string(), digest: try r.string(), source: try r.string())) }
            self = .inputs(call: call, token: token, inputs)
        case 12: self = .note(token: try r.string(), try r.string())
        case 13:
            let call = try r.u64()
            self = .done(call: call, error: try r.u8() == 0 ? nil : try r.string())
        default: throw MalformedTrackingFrame(description: "unknown frame kind \(kind)")
        }
        guard r.atEnd else { throw MalformedTrackingFrame(description: "\(r.remaining) bytes after a frame of kind \(kind)") }
    }
}

struct FrameWriter {
    private(set) var bytes: [UInt8] = [0, 0, 0, 0]

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: Int) { withUnsafeBytes(of: UInt32(truncatingIfNeeded: v).littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { u32($0.count); bytes.append(contentsOf: $0) }
    }
    mutating func pairs(_ kv: [KeyValue]) {
        u32(kv.count)
        for p in kv { string(p.key); string(p.value) }
    }

    /// The bytes with the body's length in front.
    func finished() -> [UInt8] {
        var out = bytes
        let n = UInt32(out.count - 4).littleEndian
        withUnsafeBytes(of: n) { for i in 0..<4 { out[i] = $0[i] } }
        return out
    }
}

struct FrameReader {
    let bytes: ArraySlice<UInt8>
    var at: Int

    init(bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        at = bytes.startIndex
    }

    var atEnd: Bool { at == bytes.endIndex }
    var remaining: Int { bytes.endIndex - at }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, remaining >= n else { throw MalformedTrackingFrame(description: "a frame ends inside a field") }
        defer { at += n }
        return bytes[at..<at + n]
    }

    mutating func u8() throws -> UInt8 { try take(1).first! }
    mutating func u32() throws -> UInt32 {
        try take(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }
    mutating func u64() throws -> UInt64 {
        try take(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
    mutating func i64() throws -> Int64 { Int64(bitPattern: try u64()) }
    mutating func string() throws -> String {
        let n = Int(try u32())
        return String(decoding: try take(n), as: UTF8.self)
    }
    /// A count of items, each at least `minimumBytesEach` long: a count the rest of the
    /// frame cannot hold is refused before anything is reserved for it.
    mutating func count(minimumBytesEach: Int) throws -> Int {
        let n = Int(try u32())
        guard n <= remaining / minimumBytesEach else { throw MalformedTrackingFrame(description: "a count of \(n) longer than its frame") }
        return n
    }
    mutating func pairs() throws -> [KeyValue] {
        let n = try count(minimumBytesEach: 8)
        var out: [KeyValue] = []
        for _ in 0..<n { out.append(KeyValue(try string(), try string())) }
        return out
    }
}

/// One end of the socket pair between a run and its helper. Frames are written whole
/// under a lock (any thread may send); one thread receives.
public final class FrameChannel: @unchecked Sendable {
    public let fd: Int32
    private let writeLock = NSLock()
    private var closed = false
    private var buffer: [UInt8] = []
    private var start = 0

    public init(fd: Int32) { self.fd = fd }

    public struct Broken: Error, CustomStringConvertible {
        public var description: String
    }

    public func send(_ frame: TrackingFrame) throws {
        let bytes = frame.encoded
        try writeLock.withLock {
            guard !closed else { throw Broken(description: "the tracking helper's socket is closed") }
            var sent = 0
            while sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Broken(description: "cannot write to the tracking helper's socket: \(String(cString: strerror(errno)))")
                }
                sent += n
            }
        }
    }

    /// The next frame; nil when the other end closed the socket between frames.
    public func receive() throws -> TrackingFrame? {
        while true {
            let available = buffer.count - start
            if available >= 4 {
                let length = buffer[start..<start + 4].reversed().reduce(0) { $0 << 8 | Int($1) }
                guard length <= TrackingFrame.maxLength else {
                    throw MalformedTrackingFrame(description: "a frame of \(length) bytes (at most \(TrackingFrame.maxLength))")
                }
                if available >= 4 + length {
                    let body = buffer[start + 4..<start + 4 + length]
                    start += 4 + length
                    return try TrackingFrame(body: body)
                }
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Broken(description: "cannot read the tracking helper's socket: \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                guard buffer.isEmpty else { throw Broken(description: "the socket closed inside a frame") }
                return nil
            }
            buffer.append(contentsOf: chunk[..<n])
        }
    }

    /// Closes the socket; a later ``send(_:)`` throws rather than write to a descriptor
    /// whose number may have been given to another file.
    public func close() {
        writeLock.withLock {
            guard !closed else { return }
            closed = true
            _ = Foundation.close(fd)
        }
    }
}
