import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import HummingbirdTesting
import Testing

@testable import Paylink

/// Two `paylink serve` instances on one PostgreSQL, driven over real HTTP: what one writes,
/// the other streams; ordering and exactly-once hold whichever instance a request lands on.
@Suite(
    "Several instances on PostgreSQL",
    .enabled(if: ProcessInfo.processInfo.environment["PAYLINK_TEST_DATABASE_URL"] != nil, "needs PAYLINK_TEST_DATABASE_URL"))
struct MultiInstanceTests {
    /// Runs `body` with two live instances sharing one database.
    static func withTwoInstances(
        _ body: @Sendable (_ paylink: TestPaylink, _ a: any TestClientProtocol, _ b: any TestClientProtocol) async throws -> Void
    ) async throws {
        let paylink = try await TestPaylink.make(.postgres)
        defer { paylink.cleanUp() }
        let second = paylink.secondInstance()
        try await paylink.test(.live) { a in
            try await second.test(.live) { b in
                try await body(paylink, a, b)
            }
        }
    }

    @Test func eventWrittenOnBIsStreamedByA() async throws {
        try await Self.withTwoInstances { paylink, a, b in
            let stream = SSEClient(url: "http://127.0.0.1:\(a.port!)/v1/events/stream", key: paylink.supervisor, client: .shared)
            #expect(await stream.wait { $0.comments.contains("heartbeat") || $0.status == 200 })
            let id = try await b.createLink(key: paylink.agent)["id"] as! String
            #expect(await stream.wait { $0.messages.contains { $0.data.contains(id) && $0.event == "link.created" } })
            try await b.send(.post, "/v1/links/\(id)/cancel", key: paylink.agent)
            #expect(await stream.wait { $0.messages.contains { $0.event == "link.cancelled" } })
            // Resume on B from A's last id: nothing missed, nothing twice.
            let resumed = SSEClient(
                url: "http://127.0.0.1:\(b.port!)/v1/events/stream", key: paylink.supervisor, lastEventID: stream.messages[0].id,
                client: .shared)
            #expect(await resumed.wait { $0.messages.map(\.event) == ["link.cancelled"] })
            stream.disconnect()
            resumed.disconnect()
        }
    }

    @Test func concurrentWritesOnBothInstancesKeepSeqGapless() async throws {
        try await Self.withTwoInstances { paylink, a, b in
            let id = try await a.createLink(key: paylink.agent, #"{"amount": 100, "currency": "EUR", "reference": "r", "expires_in": 300}"#)["id"] as! String
            let stream = SSEClient(url: "http://127.0.0.1:\(b.port!)/v1/links/\(id)/events/stream", key: paylink.agent, client: .shared)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<30 {
                    let client = index.isMultiple(of: 2) ? a : b
                    group.addTask {
                        Int(try await client.send(.post, "/v1/links/\(id)/extend", key: paylink.agent, json: #"{"expires_in": 300}"#).status.code)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == 200 })
            let events = try await b.send(.get, "/v1/links/\(id)/events?limit=100", key: paylink.agent).jsonObject()["data"] as! [[String: Any]]
            #expect(events.map { $0["seq"] as! Int } == Array(1...31))
            #expect(await stream.wait { $0.ids == Array(1...31) }, "the stream on B sees every event once, in order")
            stream.disconnect()
        }
    }

    @Test func anIdempotencyKeyIsHonouredOnWhicheverInstanceGetsTheRetry() async throws {
        try await Self.withTwoInstances { paylink, a, b in
            let body = #"{"amount": 1999, "currency": "GBP", "reference": "retry"}"#
            for round in 0..<5 {
                let responses = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                    for client in [a, b] {
                        group.addTask {
                            let response = try await client.send(.post, "/v1/links", key: paylink.agent, json: body, headers: ["Idempotency-Key": "r-\(round)"])
                            return (Int(response.status.code), response.text)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(responses.contains { $0.0 == 201 })
                #expect(responses.allSatisfy { $0.0 == 201 || $0.0 == 409 })
                let created = Set(responses.filter { $0.0 == 201 }.map(\.1))
                #expect(created.count == 1, "a replay on the other instance is byte-for-byte the original")
                // A later retry on either instance replays.
                let replay = try await b.send(.post, "/v1/links", key: paylink.agent, json: body, headers: ["Idempotency-Key": "r-\(round)"])
                #expect(replay.status == .created)
                #expect(created.contains(replay.text))
            }
            let list = try await a.send(.get, "/v1/links?limit=100", key: paylink.agent).jsonObject()
            #expect((list["data"] as! [Any]).count == 5)
        }
    }

    /// SPEC §2: a duplicate of a request still running elsewhere is 409. The key is claimed in
    /// the change's own transaction, so "running" is the key's advisory lock, held here by a
    /// transaction standing for another instance's request; once it ends the key is free.
    @Test func aKeyInUseOnAnotherInstanceIs409() async throws {
        let paylink = try await TestPaylink.make(.postgres)
        defer { paylink.cleanUp() }
        let runtime = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
        defer { runtime.close() }
        let store = try #require(runtime.store as? PostgresStore)
        let claim = IdempotencyClaim(agentID: paylink.agentID, key: "held", requestHash: Data(), now: paylink.clock.now(), lease: 60)
        let holding = AsyncStream.makeStream(of: Void.self)
        let release = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await store.transaction { connection in
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(\(PostgresStore.idempotencyLockClass), \(PostgresStore.lockHash(claim)))", logger: store.logger)
                holding.continuation.yield()
                for await _ in release.stream { break }
            }
        }
        try await paylink.test { client in
            for await _ in holding.stream { break }
            let busy = try await client.send(.post, "/v1/links", key: paylink.agent, json: #"{"amount": 100, "currency": "EUR", "reference": "held"}"#, headers: ["Idempotency-Key": "held"])
            #expect(busy.status == .conflict && busy.errorCode == "idempotency_key_in_use")
            release.continuation.yield()
            try await holder.value
            let free = try await client.send(.post, "/v1/links", key: paylink.agent, json: #"{"amount": 100, "currency": "EUR", "reference": "held"}"#, headers: ["Idempotency-Key": "held"])
            #expect(free.status == .created)
        }
    }

    @Test func expiryRunsOnceAcrossInstances() async throws {
        try await Self.withTwoInstances { paylink, a, b in
            var ids: [String] = []
            for _ in 0..<10 {
                ids.append(try await a.createLink(key: paylink.agent, #"{"amount": 100, "currency": "EUR", "reference": "r", "expires_in": 300}"#)["id"] as! String)
            }
            paylink.clock.advance(by: 301)  // both instances share this clock, so both sweepers race
            for id in ids {
                var types: [String] = []
                for _ in 0..<50 {
                    types = (try await b.send(.get, "/v1/links/\(id)/events", key: paylink.agent).jsonObject()["data"] as! [[String: Any]]).map { $0["type"] as! String }
                    if types.count >= 2 { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await Task.sleep(for: .milliseconds(50))
                types = (try await a.send(.get, "/v1/links/\(id)/events", key: paylink.agent).jsonObject()["data"] as! [[String: Any]]).map { $0["type"] as! String }
                #expect(types == ["link.created", "link.expired"])
            }
        }
    }

    /// `paylink` reaching its PostgreSQL through a proxy the test can cut or freeze, waiting at
    /// most 1 s for a connection.
    static func behindProxy(_ paylink: TestPaylink) async throws -> (TestPaylink, TCPProxy) {
        let url = try #require(URLComponents(string: paylink.configuration.databaseURL!))
        let proxy = try await TCPProxy(to: url.port!)
        var viaProxy = paylink
        var proxied = url
        proxied.port = proxy.port
        viaProxy.configuration.databaseURL = proxied.string
        viaProxy.configuration.databaseTimeout = .seconds(1)
        return (viaProxy, proxy)
    }

    /// Whether `/readyz` turns 200 again within about 10 s.
    static func readyAgain(_ client: any TestClientProtocol) async throws -> Bool {
        for _ in 0..<50 {
            if try await client.send(.get, "/readyz", key: nil).status == .ok { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    /// The database goes away (a proxy closes every connection and refuses new ones) and comes
    /// back. It used to stall the suite: a lease granted on a connection that had just closed sent
    /// a query postgres-nio dropped, and the request waited for it forever (see `withLease`).
    /// The time limit turns any such regression into a failure rather than a stuck suite.
    @Test(.timeLimit(.minutes(2)))
    func theServiceRecoversByItselfWhenTheDatabaseReturns() async throws {
        let paylink = try await TestPaylink.make(.postgres)
        defer { paylink.cleanUp() }
        let (viaProxy, proxy) = try await Self.behindProxy(paylink)
        try await viaProxy.test(.live) { client in
            #expect(try await client.send(.get, "/readyz", key: nil).status == .ok)
            _ = try await client.createLink(key: paylink.agent)

            proxy.cut()
            var sawOutage = false
            for _ in 0..<20 where !sawOutage {
                let ready = try await client.send(.get, "/readyz", key: nil)
                let list = try await client.send(.get, "/v1/links", key: paylink.agent)
                sawOutage = ready.status == .serviceUnavailable && list.errorCode == "storage_unavailable"
            }
            #expect(sawOutage, "readiness fails and requests answer 503 while the database is gone")

            proxy.restore()
            #expect(try await Self.readyAgain(client), "no restart needed")
            let list = try await client.send(.get, "/v1/links", key: paylink.agent).jsonObject()
            #expect((list["data"] as? [Any])?.count == 1, "what was acknowledged before the outage is still there")
        }
        try await proxy.close()
    }

    /// A database that stops answering but keeps its connections open (SIGSTOP, a black-holed
    /// network) used to hold every request and `/readyz` for as long as it stayed silent: only
    /// the wait for a connection was bounded. Work on a connection now has a deadline
    /// (`databaseQueryTimeout`; `/readyz` uses `databaseTimeout`); the connection is closed and
    /// the request answers 503. The time limit is what fails if
    /// a request hangs again.
    @Test(.timeLimit(.minutes(2)))
    func aDatabaseThatStopsAnsweringCostsA503NotAHang() async throws {
        let paylink = try await TestPaylink.make(.postgres)
        defer { paylink.cleanUp() }
        let (behind, proxy) = try await Self.behindProxy(paylink)
        var viaProxy = behind
        viaProxy.configuration.databaseQueryTimeout = .seconds(5)
        try await viaProxy.test(.live) { client in
            // On a loaded test machine (the whole suite shares one PostgreSQL and its append lock)
            // a create may itself hit the deadline: retried as a client should, with one
            // Idempotency-Key, past the 409 its abandoned attempt holds until PostgreSQL ends it.
            var before: [String: Any] = [:]
            for _ in 0..<40 where before.isEmpty {
                let response = try await client.send(
                    .post, "/v1/links", key: paylink.agent, json: #"{"amount": 100, "currency": "EUR", "reference": "before"}"#,
                    headers: ["Idempotency-Key": "before-freeze"])
                if response.status == .created { before = try response.jsonObject() } else { try await Task.sleep(for: .milliseconds(250)) }
            }
            #expect(before["id"] is String)
            #expect(try await client.send(.get, "/readyz", key: nil).status == .ok)

            proxy.freeze()
            let ready = try await client.send(.get, "/readyz", key: nil)
            #expect(ready.status == .serviceUnavailable)
            let list = try await client.send(.get, "/v1/links", key: paylink.agent)
            #expect(list.status == .serviceUnavailable)
            #expect(list.errorCode == "storage_unavailable")
            #expect(list.headers[.retryAfter] != nil)
            let create = try await client.send(
                .post, "/v1/links", key: paylink.agent, json: #"{"amount": 100, "currency": "EUR", "reference": "during-freeze"}"#)
            #expect(create.status == .serviceUnavailable)

            proxy.thaw()
            #expect(try await Self.readyAgain(client), "no restart needed")
            let links = try await client.send(.get, "/v1/links", key: paylink.agent).jsonObject()["data"] as? [[String: Any]]
            #expect(links?.compactMap { $0["id"] as? String }.contains(before["id"] as? String ?? "") == true, "acknowledged before the stall")
            // The create that got a 503 had sent no more than BEGIN when the database stopped
            // reading; its connection was closed, so it never committed.
            #expect(links?.contains { $0["reference"] as? String == "during-freeze" } == false)
        }
        try await proxy.close()
    }

    /// The first `serve` on an empty database: the background sweepers start with the service
    /// group, before the server has migrated. They used to query tables that did not exist yet
    /// and log an outage ("expiry sweep failed", SQLSTATE 42P01); they now wait for the migrations.
    @Test(.timeLimit(.minutes(1)))
    func aFirstStartOnAnEmptyDatabaseLogsNoOutage() async throws {
        var configuration = PaylinkConfiguration()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        configuration.dataDirectory = directory.appendingPathComponent("data").path
        configuration.tlsDisabled = true
        configuration.pspPort = 0
        configuration.expirySweepInterval = .milliseconds(50)
        configuration.databaseURL = ProcessInfo.processInfo.environment["PAYLINK_TEST_DATABASE_URL"]
        configuration.databaseSchema = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        configuration.masterKey = Data(repeating: 7, count: 32).base64EncodedString()
        let capture = CardCanaryTests.LogCapture()
        let app = try await buildApplication(configuration, logger: capture.logger("paylink"), onBootstrapKey: { _, _, _ in })
        try await app.test(.live) { client in
            var ready = false
            for _ in 0..<100 where !ready {
                ready = try await client.send(.get, "/readyz", key: nil).status == .ok
                if !ready { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(ready)
            try await Task.sleep(for: .milliseconds(300))  // several sweeps after the migrations
        }
        let logs = String(decoding: capture.lines.withLock { $0 }, as: UTF8.self)
        #expect(logs.contains("created bootstrap admin"), "the capture saw the start")
        #expect(!logs.contains("sweep failed") && !logs.contains("pass failed") && !logs.contains("database unavailable"), "\(logs)")
    }

    @Test func losingTheDatabaseAnswers503AndReadinessFails() async throws {
        // An instance whose database is not there: readiness says so and requests get a clear 503.
        let paylink = try await TestPaylink.make(.postgres)
        defer { paylink.cleanUp() }
        var unreachable = paylink
        unreachable.configuration.databaseURL = "postgres://paylink@127.0.0.1:1/paylink_test?sslmode=disable"
        unreachable.configuration.databaseTimeout = .seconds(1)
        var quiet = Logger(label: "paylink-test")
        quiet.logLevel = .error
        let runtime = try PaylinkRuntime.make(unreachable.configuration, clock: paylink.clock, logger: quiet)
        let router = try buildRouter(runtime)
        let app = Application(router: router, services: runtime.services)
        try await app.test(.router) { client in
            let ready = try await client.send(.get, "/readyz", key: nil)
            #expect(ready.status == .serviceUnavailable)
            let create = try await client.send(.get, "/v1/links", key: paylink.agent)
            #expect(create.status == .serviceUnavailable)
            #expect(create.errorCode == "storage_unavailable")
            #expect(create.headers[.retryAfter] != nil)
            let page = try await client.send(.get, "/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", key: nil)
            #expect(page.status == .serviceUnavailable)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true, "customers get a page, not JSON")
        }
    }
}
