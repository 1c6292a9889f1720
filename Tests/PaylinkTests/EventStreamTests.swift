import AsyncHTTPClient
import Foundation
import HummingbirdTesting
import Testing

@testable import Paylink

@Suite("Events and live streams")
struct EventStreamTests {
    @Test func pollingReturnsEventsOldestFirstAfterACursor() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let id = try await client.createLink(key: paylink.agent)["id"] as! String
            for _ in 0..<3 {
                try await client.send(.post, "/v1/links/\(id)/extend", key: paylink.agent, json: #"{"expires_in": 300}"#)
            }
            let all = try await client.send(.get, "/v1/links/\(id)/events", key: paylink.agent).jsonObject()
            let events = all["data"] as! [[String: Any]]
            #expect(events.map { $0["seq"] as! Int } == [1, 2, 3, 4])
            #expect(events.map { $0["type"] as! String } == ["link.created", "link.extended", "link.extended", "link.extended"])
            #expect(events.allSatisfy { ($0["id"] as! String).hasPrefix("evt_") && $0["link_id"] as? String == id })
            let later = try await client.send(.get, "/v1/links/\(id)/events?after=2&limit=1", key: paylink.agent).jsonObject()
            #expect((later["data"] as! [[String: Any]]).map { $0["seq"] as! Int } == [3])
            #expect(later["has_more"] as? Bool == true)
        }
    }

    @Test(arguments: StoreKind.available)
    func linkStreamResumesAfterAForcedDisconnectWithoutGapsOrDuplicates(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        let http = HTTPClient.shared
        try await paylink.test(.live) { client in
            let base = "http://127.0.0.1:\(client.port!)"
            let id = try await client.createLink(key: paylink.agent)["id"] as! String
            let extend = { try await client.send(.post, "/v1/links/\(id)/extend", key: paylink.agent, json: #"{"expires_in": 300}"#) }

            let first = SSEClient(url: "\(base)/v1/links/\(id)/events/stream", key: paylink.agent, client: http)
            #expect(await first.wait { $0.ids == [1] })
            try await extend()
            try await extend()
            #expect(await first.wait { $0.ids == [1, 2, 3] })
            #expect(first.messages.first?.event == "link.created")
            first.disconnect()
            #expect(await first.wait { $0.isFinished })

            // Appended while nobody is listening.
            try await extend()
            try await extend()
            let second = SSEClient(url: "\(base)/v1/links/\(id)/events/stream", key: paylink.agent, lastEventID: "3", client: http)
            #expect(await second.wait { $0.ids == [4, 5] })
            try await extend()
            #expect(await second.wait { $0.ids == [4, 5, 6] })
            try await Task.sleep(for: .milliseconds(200))
            #expect(second.ids == [4, 5, 6], "no duplicates after the live event")
            let data = try JSONSerialization.jsonObject(with: Data(second.messages[0].data.utf8)) as! [String: Any]
            #expect(data["seq"] as? Int == 4)
            #expect(data["type"] as? String == "link.extended")
            second.disconnect()

            // An empty Last-Event-ID is no id: `?after=` applies, not a replay from the start.
            let third = SSEClient(url: "\(base)/v1/links/\(id)/events/stream?after=5", key: paylink.agent, lastEventID: "", client: http)
            #expect(await third.wait { $0.ids == [6] })
            try await Task.sleep(for: .milliseconds(200))
            #expect(third.ids == [6])
            third.disconnect()
        }
    }

    @Test(arguments: StoreKind.available)
    func globalStreamShowsOnlyWhatTheCallerMaySee(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        let http = HTTPClient.shared
        try await paylink.test(.live) { client in
            let base = "http://127.0.0.1:\(client.port!)"
            let alice = SSEClient(url: "\(base)/v1/events/stream", key: paylink.agent, client: http)
            let sue = SSEClient(url: "\(base)/v1/events/stream", key: paylink.supervisor, client: http)
            let mine = try await client.createLink(key: paylink.agent)["id"] as! String
            let bobs = try await client.createLink(key: paylink.otherAgent)["id"] as! String
            #expect(await sue.wait { $0.messages.count == 2 })
            #expect(await alice.wait { $0.messages.count == 1 })
            try await Task.sleep(for: .milliseconds(200))
            #expect(alice.messages.count == 1)
            #expect(alice.messages[0].data.contains(mine))
            #expect(!alice.messages.contains { $0.data.contains(bobs) })
            // Resume the global stream from its cursor: only what came after.
            let cursor = try #require(sue.messages.first?.id)
            try await client.send(.post, "/v1/links/\(bobs)/cancel", key: paylink.otherAgent)
            // Alice cannot resume from Bob's newer event: it is past the newest she may see.
            let bobsCursor = try #require(sue.messages.last?.id)
            let beyond = try await client.send(.get, "/v1/events/stream", key: paylink.agent, headers: ["Last-Event-ID": bobsCursor])
            #expect(beyond.status == .badRequest && beyond.errorParam == "Last-Event-ID")
            let resumed = SSEClient(url: "\(base)/v1/events/stream", key: paylink.supervisor, lastEventID: cursor, client: http)
            #expect(await resumed.wait { $0.messages.map(\.event) == ["link.created", "link.cancelled"] })
            #expect(resumed.messages[0].data.contains(bobs))
            for stream in [alice, sue, resumed] { stream.disconnect() }
        }
    }

    @Test func idleStreamsGetHeartbeats() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        let http = HTTPClient.shared
        try await paylink.test(.live) { client in
            let stream = SSEClient(url: "http://127.0.0.1:\(client.port!)/v1/events/stream", key: paylink.admin, client: http)
            #expect(await stream.wait { $0.comments.filter { $0 == "heartbeat" }.count >= 2 })
            #expect(stream.status == 200)
            stream.disconnect()
        }
    }

    @Test(arguments: StoreKind.available)
    func disablingAnAgentEndsItsOpenStreamsBeforeTheNextEvent(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        let runtime = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
        defer { runtime.close() }
        let http = HTTPClient.shared
        try await paylink.test(.live) { client in
            let base = "http://127.0.0.1:\(client.port!)"
            let id = try await client.createLink(key: paylink.agent)["id"] as! String
            let link = SSEClient(url: "\(base)/v1/links/\(id)/events/stream", key: paylink.agent, client: http)
            let all = SSEClient(url: "\(base)/v1/events/stream", key: paylink.agent, client: http)
            let supervisor = SSEClient(url: "\(base)/v1/events/stream", key: paylink.supervisor, client: http)
            #expect(await link.wait { $0.ids == [1] })
            #expect(await all.wait { $0.messages.count == 1 })
            #expect(await supervisor.wait { $0.messages.count == 1 })

            _ = try await runtime.store.setAgentDisabled(paylink.agentID, disabled: true)
            // The supervisor acts on Alice's link: the event must not reach Alice any more.
            try await client.send(.post, "/v1/links/\(id)/extend", key: paylink.supervisor, json: #"{"expires_in": 300}"#)
            #expect(await supervisor.wait { $0.messages.count == 2 })
            #expect(await link.wait { $0.isFinished }, "the disabled agent's link stream ended")
            #expect(await all.wait { $0.isFinished }, "the disabled agent's global stream ended")
            #expect(link.ids == [1])
            #expect(all.messages.count == 1)
            #expect(!supervisor.isFinished)
            let refused = try await client.send(.get, "/v1/events/stream", key: paylink.agent)
            #expect(refused.status == .unauthorized && refused.errorCode == "agent_disabled")
            supervisor.disconnect()
        }
    }

    /// A wake can be lost (the one-deep buffer keeps the newest, and a heartbeat may replace an
    /// events wake; another process may write without ringing this one's doorbell): heartbeats
    /// drain too, so an event never waits for the next unrelated one.
    @Test func eventsWrittenWithoutARingArriveByTheNextHeartbeat() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        let http = HTTPClient.shared
        try await paylink.test(.live) { client in
            let id = try await client.createLink(key: paylink.agent)["id"] as! String
            let stream = SSEClient(url: "http://127.0.0.1:\(client.port!)/v1/links/\(id)/events/stream", key: paylink.agent, client: http)
            #expect(await stream.wait { $0.ids == [1] })
            // Another process on the same database (as `paylink` CLI commands are): its own doorbell.
            let other = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
            let agent = try #require(try await other.store.agents().first { $0.id == paylink.agentID })
            _ = try await other.linkService.extend(LinkID(id)!, by: 600, agent: agent, idempotency: nil)
            other.close()
            #expect(await stream.wait(timeout: .seconds(5)) { $0.ids == [1, 2] }, "delivered at a heartbeat (300 ms in tests)")
            stream.disconnect()
        }
    }

    @Test func gracefulShutdownClosesOpenStreams() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        let http = HTTPClient.shared
        let stream: SSEClient = try await paylink.test(.live) { client in
            let id = try await client.createLink(key: paylink.agent)["id"] as! String
            let stream = SSEClient(url: "http://127.0.0.1:\(client.port!)/v1/links/\(id)/events/stream", key: paylink.agent, client: http)
            #expect(await stream.wait { $0.ids == [1] })
            return stream  // leaving the closure shuts the server down gracefully
        }
        #expect(await stream.wait(timeout: .seconds(5)) { $0.isFinished }, "the server must end streams when it shuts down")
    }

    @Test func streamOfAnotherAgentsLinkIsNotFound() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let id = try await client.createLink(key: paylink.agent)["id"] as! String
            let response = try await client.send(.get, "/v1/links/\(id)/events/stream", key: paylink.otherAgent)
            #expect(response.status == .notFound)
        }
    }
}
