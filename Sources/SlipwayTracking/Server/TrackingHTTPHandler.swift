import Foundation
import NIOCore
import NIOHTTP1

/// One connection: each request is checked for its token as soon as its head
/// arrives (a request without one is answered 401 at once, its body never
/// kept, and the connection closed), a JSON body is collected up to its limit, an artifact's body is
/// streamed to its file as it arrives, and a downloaded artifact is sent in
/// chunks, each after the previous one was written (memory stays bounded
/// whatever the file's size).
final class TrackingHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// An artifact larger than this is refused.
    static let maxArtifactBytes: Int64 = 64 << 30
    static let chunkSize = 256 * 1024

    private enum State {
        case idle
        case collecting(HTTPRequestHead, StageScope, TrackingRequest)
        case uploading(HTTPRequestHead, StageScope, ArtifactUpload)
        /// The answer is decided; the rest of the body is read and dropped.
        case answered(HTTPRequestHead, TrackingResponse)
        /// Answered before the body ended (a refusal): the connection closes once the
        /// answer is written, and nothing more of the request is read into anything.
        case closing
    }

    private let service: TrackingService
    private var state = State.idle

    init(service: TrackingService) { self.service = service }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            begin(head)
            // Refused with a body still to come: answered now, not after the body.
            let framed = head.headers.first(name: "content-length").map { $0 != "0" } ?? head.headers.contains(name: "transfer-encoding")
            if framed { answerEarly(context: context) }
        case .body(let buffer):
            receive(buffer)
            answerEarly(context: context)
        case .end: end(context: context)
        }
    }

    /// Sends a refusal decided before the body ended, and closes the connection after it.
    private func answerEarly(context: ChannelHandlerContext) {
        guard case .answered(let head, let response) = state else { return }
        state = .closing
        respond(context: context, head: head, response, keepAlive: false)
    }

    private func begin(_ head: HTTPRequestHead) {
        let (rawPath, query) = URLParts.split(head.uri)
        guard let path = URLParts.percentDecoded(rawPath) else {
            state = .answered(head, .error(.invalid("the request path is not valid percent-encoded UTF-8")))
            return
        }
        let scope: StageScope, rest: String
        switch service.access(path: path, authorization: head.headers.first(name: "authorization")) {
        case .refused(let e):
            state = .answered(head, .error(e))
            return
        case .scope(let s, let p):
            scope = s
            rest = p
        }
        let length = head.headers.first(name: "content-length").flatMap { Int64($0) }
        if TrackingService.isUpload(method: head.method.rawValue, path: rest) {
            if let length, length > Self.maxArtifactBytes {
                state = .answered(head, .error(MLflowError(.invalidParameterValue, "an artifact may be at most \(Self.maxArtifactBytes) bytes", httpStatus: 413)))
                return
            }
            do {
                state = .uploading(head, scope, try service.upload(scope, path: rest))
            } catch let e as MLflowError {
                state = .answered(head, .error(e))
            } catch {
                state = .answered(head, .error(MLflowError(.internalError, "\(error)")))
            }
            return
        }
        if let length, length > TrackingService.maxJSONBody {
            state = .answered(head, .error(Self.tooLarge(length)))
            return
        }
        state = .collecting(head, scope, TrackingRequest(method: head.method.rawValue, path: rest, query: query))
    }

    static func tooLarge(_ n: Int64) -> MLflowError {
        MLflowError(.invalidParameterValue, "The request body is \(n) bytes; at most \(TrackingService.maxJSONBody) are accepted", httpStatus: 413)
    }

    private func receive(_ buffer: ByteBuffer) {
        switch state {
        case .collecting(let head, let scope, var request):
            guard request.body.count + buffer.readableBytes <= TrackingService.maxJSONBody else {
                state = .answered(head, .error(Self.tooLarge(Int64(request.body.count + buffer.readableBytes))))
                return
            }
            state = .idle  // the request's body is not copied while it grows
            request.body.append(contentsOf: buffer.readableBytesView)
            state = .collecting(head, scope, request)
        case .uploading(let head, _, let upload):
            do {
                guard upload.size + Int64(buffer.readableBytes) <= Self.maxArtifactBytes else {
                    throw MLflowError(.invalidParameterValue, "an artifact may be at most \(Self.maxArtifactBytes) bytes", httpStatus: 413)
                }
                try buffer.withUnsafeReadableBytes { try upload.write($0) }
            } catch {
                upload.abort()
                state = .answered(head, .error(error as? MLflowError ?? MLflowError(.internalError, "\(error)")))
            }
        case .answered, .idle, .closing:
            return
        }
    }

    private func end(context: ChannelHandlerContext) {
        let current = state
        state = .idle
        switch current {
        case .idle: return
        case .closing:
            state = .closing
        case .answered(let head, let response): respond(context: context, head: head, response)
        case .collecting(let head, let scope, let request): respond(context: context, head: head, service.handle(request, scope: scope))
        case .uploading(let head, let scope, let upload): respond(context: context, head: head, service.finished(scope, upload: upload))
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, _ response: TrackingResponse, keepAlive: Bool? = nil) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.contentType)
        let keepAlive = keepAlive ?? head.isKeepAlive
        headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
        let status = HTTPResponseStatus(statusCode: response.status)
        switch response.body {
        case .bytes(let bytes):
            headers.add(name: "content-length", value: String(bytes.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            if !bytes.isEmpty {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
            }
            finish(context: context, keepAlive: keepAlive)
        case .file(let fd, let size):
            headers.add(name: "content-length", value: String(size))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            sendFile(context: context, fd: fd, offset: 0, size: size, keepAlive: keepAlive)
        }
    }

    private func finish(context: ChannelHandlerContext, keepAlive: Bool) {
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// Sends the file a chunk at a time: the next is read once the last was written.
    private func sendFile(context: ChannelHandlerContext, fd: Int32, offset: Int64, size: Int64, keepAlive: Bool) {
        guard offset < size else {
            close(fd)
            finish(context: context, keepAlive: keepAlive)
            return
        }
        let want = Int(min(Int64(Self.chunkSize), size - offset))
        var buffer = context.channel.allocator.buffer(capacity: want)
        let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
            max(0, pread(fd, raw.baseAddress, want, off_t(offset)))
        }
        guard n > 0 else {
            // The file shrank under us: the length promised cannot be kept.
            close(fd)
            context.close(promise: nil)
            return
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer)))).whenComplete { result in
            let (handler, context) = loopBound.value
            switch result {
            case .success: handler.sendFile(context: context, fd: fd, offset: offset + Int64(n), size: size, keepAlive: keepAlive)
            case .failure: close(fd)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .uploading(_, _, let upload) = state { upload.abort() }
        state = .idle
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case .uploading(_, _, let upload) = state { upload.abort() }
        state = .idle
        context.close(promise: nil)
    }
}

/// Splitting and decoding a request target.
enum URLParts {
    static func split(_ uri: String) -> (path: String, query: [(String, String)]) {
        guard let q = uri.firstIndex(of: "?") else { return (uri, []) }
        let path = String(uri[..<q])
        var query: [(String, String)] = []
        for pair in uri[uri.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = percentDecoded(String(kv[0]), plusIsSpace: true) ?? String(kv[0])
            let value = kv.count > 1 ? (percentDecoded(String(kv[1]), plusIsSpace: true) ?? String(kv[1])) : ""
            query.append((key, value))
        }
        return (path, query)
    }

    /// Percent-decodes; nil when the escapes are malformed or the bytes are
    /// not UTF-8, or when they decode to a NUL.
    static func percentDecoded(_ s: String, plusIsSpace: Bool = false) -> String? {
        guard s.contains("%") || (plusIsSpace && s.contains("+")) else { return s }
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let hi = hex(it.removeFirst()), let lo = hex(it.removeFirst()) else { return nil }
                let v = hi << 4 | lo
                if v == 0 { return nil }
                out.append(v)
            } else if plusIsSpace && b == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else {
                out.append(b)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
