import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Paylink

/// The guard in front of the HTTP codec, driven part by part: what it hands on, and what the
/// responses going out say, once the connection is closing or the server is shutting down.
@Suite("HTTP/1 request guard")
struct HTTP1RequestGuardTests {
    static func request(_ path: String) -> HTTPServerRequestPart {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: "127.0.0.1")
        head.headers.add(name: "Content-Length", value: "2")
        return .head(head)
    }

    static func send(_ path: String, on channel: EmbeddedChannel) throws {
        try channel.writeInbound(request(path))
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "{}")))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
    }

    /// The paths of the request heads the guard handed on.
    static func handedOn(_ channel: EmbeddedChannel) throws -> [String] {
        var paths: [String] = []
        while let part = try channel.readInbound(as: HTTPServerRequestPart.self) {
            if case .head(let head) = part { paths.append(head.uri) }
        }
        return paths
    }

    static func answer(on channel: EmbeddedChannel) throws -> HTTPResponseHead {
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .created)))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        guard case .head(let head) = try #require(try channel.readOutbound(as: HTTPServerResponsePart.self)) else {
            Issue.record("no response head")
            return HTTPResponseHead(version: .http1_1, status: .internalServerError)
        }
        _ = try channel.readOutbound(as: HTTPServerResponsePart.self)
        return head
    }

    /// Over TLS a close waits for the peer's `close_notify`, and what the peer sent meanwhile
    /// is still decrypted: a request read after the close began must not run (its answer could
    /// never be sent, so its link would be created behind the client's back).
    @Test func nothingReadAfterTheCloseBeganIsHandedOn() throws {
        let channel = EmbeddedChannel(handler: HTTP1RequestGuard())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try Self.send("/v1/links?first", on: channel)
        #expect(try Self.handedOn(channel) == ["/v1/links?first"])
        #expect(try Self.answer(on: channel).headers["connection"].isEmpty, "keep-alive as usual")

        // What the idle timeout does: close from further down the pipeline.
        channel.pipeline.close(promise: nil)
        try Self.send("/v1/links?second", on: channel)
        #expect(try Self.handedOn(channel) == [])
    }

    /// From a graceful shutdown's start, the answer in progress says `Connection: close`, and a
    /// request that begins after it is not run.
    @Test func aShutdownFinishesTheRequestInProgressAndStartsNoOther() throws {
        let channel = EmbeddedChannel(handler: HTTP1RequestGuard())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(Self.request("/v1/links?slow"))
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "{}")))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        #expect(try Self.handedOn(channel) == ["/v1/links?slow"], "the request begun before the shutdown is run")
        #expect(try Self.answer(on: channel).headers["connection"] == ["close"])

        try Self.send("/v1/links?next", on: channel)
        #expect(try Self.handedOn(channel) == [], "a request begun after it is not")
    }

    /// Requests pipelined before the shutdown began are all run and answered; only the last
    /// answer says `Connection: close`, or the client would drop the answers after it.
    @Test func pipelinedRequestsBeforeAShutdownAreAnsweredAndOnlyTheLastSaysClose() throws {
        let channel = EmbeddedChannel(handler: HTTP1RequestGuard())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try Self.send("/v1/links?a", on: channel)
        try Self.send("/v1/links?b", on: channel)
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(try Self.handedOn(channel) == ["/v1/links?a", "/v1/links?b"])
        #expect(try Self.answer(on: channel).headers["connection"].isEmpty)
        #expect(try Self.answer(on: channel).headers["connection"] == ["close"])
    }

    /// A parser error (a bad chunk size, say) ends the connection: the answer says so.
    @Test func aBrokenFrameIsAnsweredWithConnectionClose() throws {
        let channel = EmbeddedChannel(handler: HTTP1RequestGuard())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(Self.request("/v1/links?chunked"))
        channel.pipeline.fireErrorCaught(HTTPParserError.invalidChunkSize)
        #expect(throws: HTTPParserError.self) { try channel.throwIfErrorCaught() }
        #expect(try Self.handedOn(channel) == ["/v1/links?chunked"])
        #expect(try Self.answer(on: channel).headers["connection"] == ["close"])
        try Self.send("/v1/links?after", on: channel)
        #expect(try Self.handedOn(channel) == [])
    }
}
