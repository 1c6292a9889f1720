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
/// And the rules of persistence (RFC 9112 §9): the connection closes after the response, which
/// then says `Connection: close`, when the request asks for that (`close` in a list included),
/// for every HTTP/1.0 request, and for an `Upgrade` request (after its head the parser reads
/// nothing more, so a next request would wait for the idle timeout). HTTP/1.0 requests are
/// answered in HTTP/1.0, so a response without a length (an event stream) is delimited by
/// the close rather than chunked, which a 1.0 client cannot read; and their `Expect` is dropped
/// (RFC 9110 §10.1.1: a 100-continue from a 1.0 client must be ignored). Keeping HTTP/1.0
/// connections alive is optional for a server, and no client of this API needs it.
///
/// And no request is run that cannot be answered. Once the connection is being closed (the
/// idle timeout, the end of a graceful shutdown, a broken frame), nothing more it reads is
/// handed on: over TLS the close waits for the peer's `close_notify` and the bytes that arrive
/// meanwhile are still decrypted, so a POST sent just as the idle timeout fired used to be run,
/// its link created, and its 201 never sent. From a graceful shutdown's start
/// (`ChannelShouldQuiesceEvent`) the last response outstanding says `Connection: close`, and a
/// request that starts after it is not run: it gets no answer, as on a connection already closed, and the
/// client may retry it elsewhere (with its `Idempotency-Key`).
final class HTTP1RequestGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// How a request handed on is to be answered.
    private enum Answer { case asIs, closing, closingInHTTP10 }

    /// Set once a request is refused, the connection is closing, or (while shutting down) a
    /// new request starts: everything read after that is dropped.
    private var refused = false
    /// A graceful shutdown has begun, or the framing broke: the last response outstanding says
    /// `Connection: close`. (After a parser error Hummingbird may still write its own 400 with
    /// `Connection: close` behind it; the connection ends either way.)
    private var closingAfterResponses = false
    /// For each request handed on and not yet answered, in order.
    private var answers: CircularBuffer<Answer> = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        if closingAfterResponses {
            // Shutting down: finish what was started, start nothing new.
            refused = true
            return
        }
        if let problem = Self.problem(head) {
            refused = true
            context.fireErrorCaught(problem)
            return
        }
        let http10 = head.version.major == 1 && head.version.minor == 0
        let upgrading = head.headers.contains(name: "upgrade")
            && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
        let answer: Answer = http10 ? .closingInHTTP10 : (upgrading || !head.isKeepAlive) ? .closing : .asIs
        answers.append(answer)
        if answer == .asIs {
            context.fireChannelRead(data)
            return
        }
        // `Connection: close` exactly is what Hummingbird checks to end the connection.
        head.headers.replaceOrAdd(name: "connection", value: "close")
        if http10 { head.headers.remove(name: "expect") }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // A final response's head (not a `100 Continue`) answers the oldest request.
        guard case .head(var head) = unwrapOutboundIn(data), head.status.code >= 200 else {
            context.write(data, promise: promise)
            return
        }
        let answer = answers.popFirst() ?? .asIs
        // Closing after the responses: only the last one outstanding says so (no request starts
        // after the flag is set, so it is the connection's last). An earlier one saying it would
        // tell the client to drop the answers to requests it had already pipelined and we run.
        guard answer != .asIs || (closingAfterResponses && answers.isEmpty) else {
            context.write(data, promise: promise)
            return
        }
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        if answer == .closingInHTTP10 { head.version = .http1_0 }
        context.write(wrapOutboundOut(.head(head)), promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        refused = true
        context.close(mode: mode, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent { closingAfterResponses = true }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The parser failed (a bad chunk size, say): nothing after it is a request, and the
        // answer to the one in progress ends the connection, so it says so.
        refused = true
        closingAfterResponses = true
        context.fireErrorCaught(error)
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
