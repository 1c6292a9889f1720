import AsyncHTTPClient
import Foundation
import HummingbirdTesting
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import Testing

@testable import Paylink

@Suite("Operations: TLS, health, metrics, logs")
struct OperationsTests {
    @Test func servesHTTPSWithTheGeneratedDevelopmentCertificateAndHSTS() async throws {
        let paylink = try await TestPaylink.make(tls: true)
        defer { paylink.cleanUp() }
        let certificates = DevelopmentCertificates.paths(in: paylink.configuration.certificatesDirectory)
        try await paylink.test(.ahc(.https)) { client in
            // The client in .ahc(.https) does not verify; verify for real with the dev CA below.
            let health = try await client.send(.get, "/healthz", key: nil)
            #expect(health.status == .ok)
            #expect(health.headers[.strictTransportSecurity]?.contains("max-age=") == true)

            /// Whether `/healthz` answers 200 over a verified connection made with `tls`.
            func served(_ tls: TLSConfiguration) async throws -> Bool {
                let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
                let request = HTTPClientRequest(url: "https://localhost:\(client.port!)/healthz")
                let response = try? await http.execute(request, timeout: .seconds(5))
                try await http.shutdown()
                return response?.status == .ok
            }
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(certificates.caCertificate)
            tls.certificateVerification = .fullVerification
            tls.maximumTLSVersion = .tlsv11
            #expect(try await !served(tls), "TLS 1.1 must be refused")
            // TLS 1.2 with a CBC suite (SHA-1 MAC) is refused too: AEAD suites only.
            tls.maximumTLSVersion = .tlsv12
            tls.cipherSuites = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256"
            #expect(try await !served(tls), "TLS 1.2 with a CBC cipher suite must be refused")
            tls.cipherSuites = "ECDHE-ECDSA-AES128-GCM-SHA256"
            #expect(try await served(tls), "TLS 1.2 with AES-GCM is served")
            tls.cipherSuites = defaultCipherSuites
            tls.maximumTLSVersion = nil
            #expect(try await served(tls), "the dev CA verifies the server certificate for localhost")
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: certificates.privateKey)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(certificates.privateKey.hasSuffix(".key"), ".gitignore keeps *.key out of commits")
    }

    @Test func readinessAndMetrics() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            #expect(try await client.send(.get, "/readyz", key: nil).status == .ok)
            _ = try await client.createLink(key: paylink.agent)
            _ = try await client.send(.get, "/v1/links", key: nil)
            let metrics = try await client.send(.get, "/metrics", key: nil).text
            #expect(metrics.contains(#"paylink_http_requests_total{route="/v1/links",method="POST",status="201"} 1"#))
            #expect(metrics.contains(#"paylink_http_requests_total{route="/v1/links",method="GET",status="401"} 1"#))
            #expect(metrics.contains("paylink_http_request_duration_seconds_bucket"))
            #expect(metrics.contains(#"paylink_events_appended_total{type="link.created"} 1"#))
            #expect(metrics.contains("paylink_sse_open_streams 0"))
        }
    }

    @Test func acknowledgedWritesAreFsyncedByDefault() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-sync-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let full = try SQLiteStore(path: directory.appendingPathComponent("full.sqlite").path)
        #expect(try await full.writerSynchronous() == 2, "the default must be FULL on the writing connection")
        let normal = try SQLiteStore(path: directory.appendingPathComponent("normal.sqlite").path, synchronous: .normal)
        #expect(try await normal.writerSynchronous() == 1)
    }

    /// Slow or silent clients must not hold connections (and file descriptors) forever.
    @Test func connectionsThatStopSendingAreClosedButStreamsAreNot() async throws {
        let paylink = try await TestPaylink.make { $0.idleTimeout = .seconds(1) }
        defer { paylink.cleanUp() }
        try await paylink.test(.live) { client in
            let port = try #require(client.port)
            let stalled = [
                "",  // connected, said nothing
                "GET /v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bear",  // headers that never finish
                "POST /v1/links HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"amount\"",  // body that stops
                "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",  // answered, then an idle keep-alive
            ]
            var connections: [any Channel] = []
            for text in stalled {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
                // On a loaded machine the server may already have closed it: that is the outcome checked below.
                if !text.isEmpty { try? await channel.writeAndFlush(ByteBuffer(string: text)).get() }
                connections.append(channel)
            }
            // An event stream sends nothing after its request and must outlive many timeouts.
            let stream = SSEClient(url: "http://127.0.0.1:\(port)/v1/events/stream", key: paylink.admin, client: HTTPClient.shared)
            #expect(await Self.eventually { connections.allSatisfy { !$0.isActive } }, "the server closed every stalled connection")
            try await Task.sleep(for: .seconds(1.5))
            #expect(stream.status == 200 && !stream.isFinished, "a stream being answered is not idle")
            // (The test client's own kept-alive connection was idle too, so ask on a new one.)
            #expect(try await HTTPClient.shared.get(url: "http://127.0.0.1:\(port)/healthz").get().status == .ok)
            stream.disconnect()
        }
    }

    /// A client that hangs up halfway through its body is the client's doing: counted as a 400,
    /// never as a 500 a client could use to inflate the error rate.
    @Test func aClientHangingUpMidBodyIsNotA500() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test(.live) { client in
            let port = try #require(client.port)
            for _ in 0..<3 {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
                let head = "POST /v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(paylink.agent)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"amount\": 1999"
                try await channel.writeAndFlush(ByteBuffer(string: head)).get()
                try await channel.close()
            }
            let metricsURL = "http://127.0.0.1:\(port)/metrics"
            func requestLines() async throws -> [Substring] {
                let body = try await HTTPClient.shared.get(url: metricsURL).get().body.map { String(buffer: $0) } ?? ""
                return body.split(separator: "\n").filter { $0.hasPrefix("paylink_http_requests_total{") && $0.contains("\"/v1/links\"") }
            }
            var counted = false
            for _ in 0..<100 where !counted {
                counted = try await requestLines().contains { $0.contains(#"status="400""#) && $0.hasSuffix(" 3") }
                if !counted { try await Task.sleep(for: .milliseconds(50)) }
            }
            let lines = try await requestLines()
            #expect(counted, "three 400s: \(lines)")
            #expect(lines.allSatisfy { !$0.contains(#"status="5"#) })
            #expect(try await client.send(.get, "/v1/links", key: paylink.agent).jsonObject()["data"] as? [Any] != nil)
        }
    }

    @Test func aTLSHandshakeNeverBegunIsClosed() async throws {
        let paylink = try await TestPaylink.make(tls: true) { $0.idleTimeout = .milliseconds(400) }
        defer { paylink.cleanUp() }
        try await paylink.test(.ahc(.https)) { client in
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: try #require(client.port)).get()
            #expect(await Self.eventually { !channel.isActive }, "the server closed a connection that never sent a ClientHello")
        }
    }

    /// RFC 9110 §9.1: HEAD wherever GET is, with GET's headers and no body.
    @Test func headIsAnsweredWhereverGetIs() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test(.live) { client in
            let id = try await client.createLink(key: paylink.agent)["id"] as! String
            for path in ["/healthz", "/v1/openapi.json", "/v1/links/\(id)", "/v1/links", "/v1/links/\(id)/events"] {
                let get = try await client.send(.get, path, key: paylink.agent)
                let head = try await client.send(.head, path, key: paylink.agent)
                #expect(head.status == .ok, "\(path)")
                #expect(head.body.readableBytes == 0, "\(path)")
                #expect(head.headers[.contentLength] == String(get.body.readableBytes), "\(path)")
                #expect(head.headers[.contentType] == get.headers[.contentType], "\(path)")
            }
            #expect(try await client.send(.head, "/v1/links/\(id)", key: nil).status == .unauthorized)
            #expect(try await client.send(.head, "/v1/links/\(id)", key: paylink.otherAgent).status == .notFound)
        }
    }

    /// `Expect: 100-continue` gets its interim answer before the body is sent, so clients that
    /// wait for it (curl for large bodies, and any client that sets the header) do not sit out their timeout.
    @Test func expectContinueIsAnsweredBeforeTheBody() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test(.live) { client in
            let received = RawBytes()
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(received) } }
                .connect(host: "127.0.0.1", port: try #require(client.port)).get()
            defer { channel.close(promise: nil) }
            let body = #"{"amount": 1999, "currency": "GBP", "reference": "order-1"}"#
            let head = "POST /v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(paylink.agent)\r\n"
                + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n"
            try await channel.writeAndFlush(ByteBuffer(string: head)).get()
            #expect(await Self.eventually { received.text.hasPrefix("HTTP/1.1 100 Continue\r\n\r\n") }, "\(received.text)")
            try await channel.writeAndFlush(ByteBuffer(string: body)).get()
            #expect(await Self.eventually { received.text.contains("HTTP/1.1 201 Created") }, "\(received.text)")
            // The same connection goes on: a plain request, then another with Expect.
            try await channel.writeAndFlush(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")).get()
            #expect(await Self.eventually { received.text.contains(#"{"status":"ok"}"#) })
            try await channel.writeAndFlush(ByteBuffer(string: head)).get()
            #expect(await Self.eventually { received.text.components(separatedBy: "100 Continue").count == 3 })
            try await channel.writeAndFlush(ByteBuffer(string: body)).get()
            #expect(await Self.eventually { received.text.components(separatedBy: "201 Created").count == 3 })
            // A body declared too large is refused from its head: no 100, so nothing is uploaded.
            let huge = "POST /v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(paylink.agent)\r\n"
                + "Content-Type: application/json\r\nContent-Length: 10485760\r\nExpect: 100-continue\r\n\r\n"
            try await channel.writeAndFlush(ByteBuffer(string: huge)).get()
            #expect(await Self.eventually { received.text.contains("413 Content Too Large") || received.text.contains("413 Payload Too Large") })
            #expect(received.text.components(separatedBy: "100 Continue").count == 3)
        }
    }

    /// Framing the HTTP/1 parser lets through is refused like a parse error: a 400, and the
    /// connection closed, so the request behind it on the same connection is never read.
    @Test func framingTheParserLetsThroughIsRefusedAndClosesTheConnection() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test(.live) { client in
            let port = try #require(client.port)
            let body = #"{"amount": 1999, "currency": "GBP", "reference": "smuggled"}"#
            let chunked = String(body.utf8.count, radix: 16) + "\r\n" + body + "\r\n0\r\n\r\n"
            let post = "Authorization: Bearer \(paylink.agent)\r\nContent-Type: application/json\r\n"
            let cases = [
                "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n",
                "GET /healthz HTTP/1.1\r\n\r\n",  // no Host
                "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                "POST /v1/links HTTP/1.1\r\nHost: x\r\n\(post)Transfer-Encoding: gzip, chunked\r\n\r\n\(chunked)",
                "POST /v1/links HTTP/1.1\r\nHost: x\r\n\(post)Transfer-Encoding: gzip\r\n\r\n\(body)",
                "POST /v1/links HTTP/1.0\r\n\(post)Transfer-Encoding: chunked\r\n\r\n\(chunked)",
            ]
            for text in cases {
                let (answer, closed) = try await Self.exchange(text + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", port: port)
                #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(text.prefix(40)): \(answer)")
                #expect(!answer.contains("200 OK") && !answer.contains("201 Created"), "nothing after it was read: \(answer)")
                #expect(closed, "\(text.prefix(40))")
            }
            let list = try await client.send(.get, "/v1/links", key: paylink.agent).jsonObject()
            #expect((list["data"] as? [Any])?.isEmpty == true, "no link was created")
            // The same chunked body on HTTP/1.1 is fine.
            let (created, _) = try await Self.exchange(
                "POST /v1/links HTTP/1.1\r\nHost: x\r\n\(post)Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\(chunked)", port: port)
            #expect(created.hasPrefix("HTTP/1.1 201 Created"), "\(created)")
        }
    }

    /// RFC 9112 §9: HTTP/1.0 is answered in HTTP/1.0 and closed (so a response without a length,
    /// an event stream, is delimited by the close, not chunked); so is an `Upgrade` request, after
    /// which the parser reads nothing more; a response that closes says so.
    @Test func http10AndUpgradeRequestsAreAnsweredThenClosed() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test(.live) { client in
            let port = try #require(client.port)
            for text in ["GET /healthz HTTP/1.0\r\n\r\n", "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"] {
                let (answer, closed) = try await Self.exchange(text + "GET /healthz HTTP/1.0\r\n\r\n", port: port)
                #expect(answer.hasPrefix("HTTP/1.0 200 OK") && answer.hasSuffix(#"{"status":"ok"}"#), "\(answer)")
                #expect(answer.components(separatedBy: "200 OK").count == 2, "one answer, then the close: \(answer)")
                #expect(answer.lowercased().contains("connection: close") && closed)
            }
            let (stream, _) = try await Self.exchange(
                "GET /v1/events/stream HTTP/1.0\r\nAuthorization: Bearer \(paylink.agent)\r\n\r\n", port: port,
                until: { $0.contains("retry:") })
            #expect(stream.hasPrefix("HTTP/1.0 200 OK") && !stream.lowercased().contains("transfer-encoding"), "\(stream)")
            #expect(stream.contains("\r\n\r\nretry:"), "the stream's bytes come unframed: \(stream)")
            let upgrade = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                + "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
            let (upgraded, upgradeClosed) = try await Self.exchange(upgrade, port: port)
            #expect(upgraded.hasPrefix("HTTP/1.1 200 OK") && upgraded.lowercased().contains("connection: close"), "\(upgraded)")
            #expect(upgradeClosed, "closed at once, not after the idle timeout")
            let (closing, closedToo) = try await Self.exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n", port: port)
            #expect(closing.hasPrefix("HTTP/1.1 200 OK") && closedToo)
            // HTTP/1.1 keeps the connection: two answers, and it stays open.
            let (kept, keptClosed) = try await Self.exchange(
                "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", port: port,
                until: { $0.components(separatedBy: "200 OK").count == 3 })
            #expect(kept.components(separatedBy: "200 OK").count == 3 && !keptClosed && !kept.lowercased().contains("connection: close"))
        }
    }

    /// A Content-Length beyond 2^63 − 1 (the parser takes up to 2^64 − 1) is too large, not unknown.
    @Test func aContentLengthTooBigForAnIntegerIs413() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test(.live) { client in
            let (answer, _) = try await Self.exchange(
                "POST /v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(paylink.agent)\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 18446744073709551615\r\nExpect: 100-continue\r\n\r\n{}",
                port: try #require(client.port), until: { $0.contains("body_too_large") })
            #expect(!answer.contains("100 Continue"), "\(answer)")
            #expect(answer.hasPrefix("HTTP/1.1 413"), "\(answer)")
        }
    }

    /// Sends `text` on a new connection; returns what came back once the server closed it (or
    /// `until` holds, or 10 s pass) and whether it was closed.
    static func exchange(_ text: String, port: Int, until done: (String) -> Bool = { _ in false }) async throws -> (String, Bool) {
        let received = RawBytes()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(received) } }
            .connect(host: "127.0.0.1", port: port).get()
        defer { channel.close(promise: nil) }
        try await channel.writeAndFlush(ByteBuffer(string: text)).get()
        let closed = await eventually { !channel.isActive || done(received.text) } && !channel.isActive
        return (received.text, closed)
    }

    /// Polls `condition` every 50 ms for at most `limit`.
    static func eventually(within limit: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    @Test func disabledAgentIsLockedOutAtOnce() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        let runtime = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
        try await paylink.test { client in
            #expect(try await client.send(.get, "/v1/links", key: paylink.agent).status == .ok)
            _ = try await runtime.store.setAgentDisabled(paylink.agentID, disabled: true)
            let refused = try await client.send(.get, "/v1/links", key: paylink.agent)
            #expect(refused.status == .unauthorized)
            #expect(refused.errorCode == "agent_disabled")
        }
    }

    @Test func apiKeysAreStoredOnlyAsDigests() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        let files = try FileManager.default.contentsOfDirectory(atPath: paylink.configuration.dataDirectory)
        for file in files {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: paylink.configuration.dataDirectory).appendingPathComponent(file))
            for key in [paylink.agent, paylink.admin, paylink.supervisor] {
                #expect(bytes.range(of: Data(key.utf8)) == nil, "\(file) holds an API key")
                #expect(bytes.range(of: Data(key.dropFirst(16).utf8)) == nil, "\(file) holds the secret part of an API key")
            }
        }
        #expect(APIKey(presented: paylink.agent)!.description.contains("redacted"))
    }

    @Test func bootstrapAdminIsCreatedOnceOnAnEmptyDatabase() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-boot-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = PaylinkConfiguration()
        configuration.dataDirectory = directory.path
        configuration.tlsDisabled = true
        configuration.port = 0
        let printed = BootstrapRecorder()
        for _ in 0..<2 {
            let app = try await buildApplication(configuration, onBootstrapKey: { agent, key, console in printed.record(key.secret, console) })
            let status = try await app.test(.router) { client in try await client.send(.get, "/healthz", key: nil).status }
            #expect(status == .ok)
        }
        #expect(printed.keys.count == 1)
        #expect(printed.keys.first?.hasPrefix("plk_") == true)
        #expect(printed.consoles.first?.hasSuffix("/console") == true)
    }
}

final class BootstrapRecorder: Sendable {
    private let state = Mutex<([String], [String])>(([], []))
    func record(_ key: String, _ console: String) { state.withLock { $0.0.append(key); $0.1.append(console) } }
    var keys: [String] { state.withLock { $0.0 } }
    var consoles: [String] { state.withLock { $0.1 } }
}

/// Collects what a raw client connection receives, as text.
final class RawBytes: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let bytes = Mutex<[UInt8]>([])

    var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
    }
}
