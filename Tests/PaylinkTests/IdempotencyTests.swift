import Foundation
import HummingbirdTesting
import Testing

@testable import Paylink

@Suite("Idempotency-Key")
struct IdempotencyTests {
    static let body = #"{"amount": 1999, "currency": "GBP", "reference": "order-7"}"#

    @Test(arguments: StoreKind.available) func sameKeyAndBodyReplaysTheFirstResponseByteForByte(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let first = try await client.send(.post, "/v1/links", key: paylink.agent, json: Self.body, headers: ["Idempotency-Key": "k-1"])
            #expect(first.status == .created)
            paylink.clock.advance(by: 5)
            let second = try await client.send(.post, "/v1/links", key: paylink.agent, json: Self.body, headers: ["Idempotency-Key": "k-1"])
            #expect(second.status == .created)
            #expect(second.text == first.text)
            #expect(second.headers[.init("Idempotent-Replayed")!] == "true")
            let list = try await client.send(.get, "/v1/links", key: paylink.agent).jsonObject()
            #expect((list["data"] as! [Any]).count == 1)
        }
    }

    @Test(arguments: StoreKind.available) func sameKeyWithAnotherBodyIsRejected(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            try await client.send(.post, "/v1/links", key: paylink.agent, json: Self.body, headers: ["Idempotency-Key": "k-2"])
            let other = try await client.send(
                .post, "/v1/links", key: paylink.agent, json: #"{"amount": 2000, "currency": "GBP", "reference": "order-7"}"#,
                headers: ["Idempotency-Key": "k-2"])
            #expect(other.status == .unprocessableContent)
            #expect(other.errorCode == "idempotency_key_reused")
            let list = try await client.send(.get, "/v1/links", key: paylink.agent).jsonObject()
            #expect((list["data"] as! [Any]).count == 1)
        }
    }

    @Test(arguments: StoreKind.available) func keysAreScopedPerAgent(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let alice = try await client.send(.post, "/v1/links", key: paylink.agent, json: Self.body, headers: ["Idempotency-Key": "shared"])
            let bob = try await client.send(.post, "/v1/links", key: paylink.otherAgent, json: Self.body, headers: ["Idempotency-Key": "shared"])
            #expect(alice.status == .created)
            #expect(bob.status == .created)
            #expect(try alice.jsonObject()["id"] as? String != bob.jsonObject()["id"] as? String)
        }
    }

    @Test(arguments: StoreKind.available) func aFailedRequestFreesTheKey(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let id = try await client.createLink(key: paylink.agent)["id"] as! String
            try await client.send(.post, "/v1/links/\(id)/cancel", key: paylink.agent)
            let refused = try await client.send(.post, "/v1/links/\(id)/extend", key: paylink.agent, json: "{}", headers: ["Idempotency-Key": "x"])
            #expect(refused.status == .conflict)
            // Nothing was stored for "x": a different, valid request may now use it.
            let created = try await client.send(.post, "/v1/links", key: paylink.agent, json: Self.body, headers: ["Idempotency-Key": "x"])
            #expect(created.status == .created)
        }
    }

    @Test(arguments: StoreKind.available) func concurrentDuplicatesCreateOneLink(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            for round in 0..<10 {
                let key = "race-\(round)"
                let statuses = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                    for _ in 0..<2 {
                        group.addTask {
                            let response = try await client.send(.post, "/v1/links", key: paylink.agent, json: Self.body, headers: ["Idempotency-Key": key])
                            return (Int(response.status.code), response.status == .created ? try response.jsonObject()["id"] as? String : response.errorCode)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                // SPEC §2: a concurrent duplicate is 409; one that comes after the first finished
                // is its replay, naming the same link.
                let created = statuses.filter { $0.0 == 201 }
                #expect(!created.isEmpty)
                #expect(Set(created.map(\.1)).count == 1, "a replay must name the same link")
                for other in statuses where other.0 != 201 {
                    #expect(other.0 == 409 && other.1 == "idempotency_key_in_use")
                }
            }
            let list = try await client.send(.get, "/v1/links?limit=100", key: paylink.agent).jsonObject()
            #expect((list["data"] as! [Any]).count == 10)
        }
    }

    @Test(arguments: StoreKind.available) func anAbandonedClaimCanBeRetriedAfterItsLease(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        let runtime = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
        defer { runtime.close() }
        // A claim taken by a process that then crashed before committing anything.
        let hash = IdempotencyClaim.hash(method: "POST", path: "/v1/links", body: Data(Self.body.utf8))
        let claim = IdempotencyClaim(agentID: paylink.agentID, key: "crash", requestHash: hash, now: paylink.clock.now(), lease: 60)
        #expect(try await runtime.store.claimIdempotencyKey(claim) == .acquired)
        try await paylink.test { client in
            let blocked = try await client.send(.post, "/v1/links", key: paylink.agent, json: Self.body, headers: ["Idempotency-Key": "crash"])
            #expect(blocked.status == .conflict)
            paylink.clock.advance(by: 61)
            let retried = try await client.send(.post, "/v1/links", key: paylink.agent, json: Self.body, headers: ["Idempotency-Key": "crash"])
            #expect(retried.status == .created)
        }
    }

    @Test(arguments: StoreKind.available) func recordsArePurgedAfterTwentyFourHours(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            try await client.send(.post, "/v1/links", key: paylink.agent, json: Self.body, headers: ["Idempotency-Key": "old"])
            paylink.clock.advance(by: 24 * 3600 + 10)
            // The sweeper runs every 100 ms in tests; wait for it, bounded.
            var status = 0
            for _ in 0..<50 {
                let response = try await client.send(
                    .post, "/v1/links", key: paylink.agent, json: #"{"amount": 5, "currency": "GBP", "reference": "new"}"#,
                    headers: ["Idempotency-Key": "old"])
                status = Int(response.status.code)
                if status == 201 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(status == 201)
        }
    }

    /// The gate's record of keys running on this instance: a second entry is refused until the
    /// first leaves; keys are the agent's own.
    @Test func aKeyRunningOnThisInstanceIsRefusedUntilItFinishes() throws {
        let running = InFlightKeys()
        let alice = AgentID.generate(), bob = AgentID.generate()
        #expect(running.enter(alice, "k"))
        #expect(!running.enter(alice, "k"))
        #expect(running.enter(bob, "k"))
        running.leave(alice, "k")
        #expect(running.enter(alice, "k"))
    }
}
