import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` with an interim `100 Continue` as soon as the request head
/// arrives (RFC 9110 §10.1.1), so a client that waits for it (curl does, for larger bodies)
/// sends its body at once instead of after its own timeout, a second for curl.
///
/// Sent only when no earlier response on the connection is still being written: an interim
/// response in the middle of another would corrupt it. A pipelining client that also asks
/// for 100-continue (none known) then simply waits for its timeout, as before. Anything
/// else in `Expect` is left to the handlers (the request is answered as usual). HTTP/1.0
/// requests never reach it with an `Expect`: `HTTP1RequestGuard` drops the header, as RFC 9110
/// says a server must ignore it from a 1.0 client.
final class ExpectContinueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Requests whose head has arrived and whose response has not been completely written.
    private var unanswered = 0
    /// A body declared larger than this will be refused (413) from its head alone: no 100, so
    /// the client need not upload it.
    private let maxBodyBytes: Int

    init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            unanswered += 1
            if unanswered == 1, let expect = head.headerFields[.expect], expect.lowercased() == "100-continue",
                (head.headerFields[.contentLength].flatMap(RequestBody.declaredLength) ?? 0) <= maxBodyBytes
            {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { unanswered = max(0, unanswered - 1) }
        context.write(data, promise: promise)
    }
}
