import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// HTTP/1 framing rules the parser lets through, checked where the request's HTTP version and
/// its raw header lines are still visible (before they become an `HTTPRequest`, which has
/// neither). A request that breaks one is answered like any framing error: Hummingbird's
/// `400`, `Connection: close`, and the connection closed, so nothing after it on the same
/// connection is read as a request (the bytes behind a bad frame are where smuggling hides).
///
/// - `CONNECT`: the parser switches the connection to a tunnel after its head and reads no
///   further requests, which left the connection hanging until the idle timeout.
/// - HTTP/1.1 without exactly one `Host` (RFC 9112 §3.2: "MUST respond with a 400").
/// - `Transfer-Encoding` in an HTTP/1.0 request (RFC 9112 §6.1: the framing is faulty), or
///   naming any coding but `chunked` alone: we decode no other, and must not read gzip as JSON.
///
/// And the rules of persistence (RFC 9112 §9.3): an HTTP/1.0 request without `Connection:
/// keep-alive` (or an HTTP/1.1 one with `close` in a list) is handed on with `Connection:
/// close`, the one form Hummingbird checks, so the connection closes after its response; an
/// HTTP/1.0 request that asks to keep it gets `Connection: keep-alive` on its response, without
/// which an HTTP/1.0 client takes the connection as closing.
final class HTTP1RequestGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Set once a request is refused: everything after it on the connection is dropped.
    private var refused = false
    /// For each request handed on and not yet answered, in order: whether its response must
    /// say `Connection: keep-alive`.
    private var keepAliveHeader: CircularBuffer<Bool> = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        if let problem = Self.problem(head) {
            refused = true
            context.fireErrorCaught(problem)
            return
        }
        let keepAlive = head.isKeepAlive
        keepAliveHeader.append(keepAlive && head.version == .http1_0)
        if !keepAlive && head.headers["connection"] != ["close"] {
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.fireChannelRead(wrapInboundOut(.head(head)))
            return
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // A final response's head (not a `100 Continue`) answers the oldest request.
        if case .head(var head) = unwrapOutboundIn(data), head.status.code >= 200, let needed = keepAliveHeader.popFirst() {
            if needed && !head.headers.contains(name: "connection") {
                head.headers.add(name: "Connection", value: "keep-alive")
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
        }
        context.write(data, promise: promise)
    }

    /// Why `head` must be refused, as the parser error Hummingbird answers with 400; nil if it is fine.
    static func problem(_ head: HTTPRequestHead) -> HTTPParserError? {
        if head.method == .CONNECT { return .invalidMethod }
        let modern = head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1)
        if modern && head.headers["host"].count != 1 { return .invalidHeaderToken }
        let codings = head.headers["transfer-encoding"]
        if !codings.isEmpty {
            guard modern else { return .invalidHeaderToken }
            let names = codings.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard names == ["chunked"] else { return .invalidHeaderToken }
        }
        return nil
    }

    /// Puts an `HTTP1RequestGuard` into the pipeline in front of the HTTP/1-to-HTTP-types codec,
    /// then takes itself out. Hummingbird adds a server's extra handlers after that codec,
    /// where the version is gone; this is how the guard gets in front of it.
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = Never

        func handlerAdded(context: ChannelHandlerContext) {
            let pipeline = context.pipeline.syncOperations
            if let codec = try? pipeline.handler(type: HTTP1ToHTTPServerCodec.self) {
                try? pipeline.addHandler(HTTP1RequestGuard(), position: .before(codec))
            }
            pipeline.removeHandler(context: context, promise: nil)
        }
    }
}
