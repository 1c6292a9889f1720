import Foundation
import Testing

@testable import Paylink

/// The store contract, run against every store: what SQLite does, PostgreSQL must do too.
@Suite("Store contract")
struct StoreContractTests {
    struct Fixture {
        let paylink: TestPaylink
        let runtime: PaylinkRuntime
        let agent: Agent

        static func make(_ kind: StoreKind) async throws -> Fixture {
            let paylink = try await TestPaylink.make(kind)
            let runtime = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
            let agent = try #require(try await runtime.store.agents().first { $0.id == paylink.agentID })
            return Fixture(paylink: paylink, runtime: runtime, agent: agent)
        }

        func close() {
            runtime.close()
            paylink.cleanUp()
        }

        func link(expiresIn: TimeInterval = 1800) async throws -> Link {
            let now = paylink.clock.now()
            let (token, _) = try await runtime.keyRing.issue()
            let link = Link(
                id: .generate(), agentID: agent.id, signingKeyID: token.keyID, tokenNonce: token.nonce, status: .open,
                amount: Money(minorUnits: 1999, currency: Currency(code: "GBP")!), reference: "ref", description: nil, locale: "en",
                expiresAt: now.addingTimeInterval(expiresIn), createdAt: now,
                customer: .init(name: "Ada", email: "ada@example.com", phone: nil), metadata: ["k": "v"],
                conversation: .init(channel: "chat", id: "c1"), amountRefunded: 0, lastSeq: 0)
            let event = try await runtime.store.insertLink(link, event: EventDraft(.linkCreated, at: now), idempotency: nil)
            #expect(event.seq == 1)
            var stored = link
            stored.lastSeq = 1
            return stored
        }
    }

    @Test(arguments: StoreKind.available) func linksRoundTripExactly(kind: StoreKind) async throws {
        let fixture = try await Fixture.make(kind)
        defer { fixture.close() }
        let link = try await fixture.link()
        #expect(try await fixture.runtime.store.link(link.id, scope: .all) == link)
        #expect(try await fixture.runtime.store.link(link.id, scope: .own(fixture.agent.id)) == link)
        #expect(try await fixture.runtime.store.link(link.id, scope: .own(fixture.paylink.otherAgentID)) == nil)
        #expect(try await fixture.runtime.store.link(tokenNonce: link.tokenNonce) == link)
    }

    @Test(arguments: StoreKind.available) func updateAppendsEventsAtomicallyWithTheChange(kind: StoreKind) async throws {
        let fixture = try await Fixture.make(kind)
        defer { fixture.close() }
        let store = fixture.runtime.store
        let link = try await fixture.link()
        let now = fixture.paylink.clock.now()
        struct Refused: Error {}
        // A transform that throws changes nothing and appends nothing.
        await #expect(throws: Refused.self) {
            try await store.updateLink(link.id, scope: .all, idempotency: nil) { link in
                link.status = .cancelled
                throw Refused()
            }
        }
        #expect(try await store.link(link.id, scope: .all)?.status == .open)
        let (updated, events) = try await store.updateLink(link.id, scope: .all, idempotency: nil) { link in
            link.status = .cancelled
            return [EventDraft(.linkCancelled, at: now), EventDraft(EventType(rawValue: "test.second"), at: now, data: ["n": .integer(2)])]
        }
        #expect(updated.status == .cancelled)
        #expect(events.map(\.seq) == [2, 3])
        #expect(events[0].cursor < events[1].cursor)
        let read = try await store.events(link: link.id, afterSeq: 0, limit: 10)
        #expect(read.map(\.seq) == [1, 2, 3])
        #expect(read[2].data == ["n": .integer(2)])
        await #expect(throws: StoreError.notFound) {
            try await store.updateLink(link.id, scope: .own(fixture.paylink.otherAgentID), idempotency: nil) { _ in [] }
        }
    }

    @Test(arguments: StoreKind.available) func globalCursorIsScopedAndOrdered(kind: StoreKind) async throws {
        let fixture = try await Fixture.make(kind)
        defer { fixture.close() }
        #expect(try await fixture.runtime.store.latestEventCursor(scope: .all) == 0)
        let first = try await fixture.link()
        let second = try await fixture.link()
        let all = try await fixture.runtime.store.events(afterCursor: 0, scope: .all, limit: 10)
        #expect(all.map(\.linkID) == [first.id, second.id])
        #expect(try await fixture.runtime.store.latestEventCursor(scope: .all) == all.last?.cursor)
        #expect(try await fixture.runtime.store.latestEventCursor(scope: .own(fixture.agent.id)) == all.last?.cursor)
        #expect(try await fixture.runtime.store.latestEventCursor(scope: .own(fixture.paylink.otherAgentID)) == 0)
        let after = try await fixture.runtime.store.events(afterCursor: all[0].cursor, scope: .own(fixture.agent.id), limit: 10)
        #expect(after.map(\.linkID) == [second.id])
        #expect(try await fixture.runtime.store.events(afterCursor: 0, scope: .own(fixture.paylink.otherAgentID), limit: 10).isEmpty)
    }

    @Test(arguments: StoreKind.available) func dueLinksAreFoundOldestFirst(kind: StoreKind) async throws {
        let fixture = try await Fixture.make(kind)
        defer { fixture.close() }
        let later = try await fixture.link(expiresIn: 600)
        let sooner = try await fixture.link(expiresIn: 300)
        _ = try await fixture.link(expiresIn: 3600)
        let due = try await fixture.runtime.store.linksDueToExpire(asOf: fixture.paylink.clock.now().addingTimeInterval(601), limit: 10)
        #expect(due == [sooner.id, later.id])
    }

    @Test(arguments: StoreKind.available) func idempotencyClaimsFollowTheStateMachine(kind: StoreKind) async throws {
        let fixture = try await Fixture.make(kind)
        defer { fixture.close() }
        let store = fixture.runtime.store
        let now = fixture.paylink.clock.now()
        let claim = IdempotencyClaim(agentID: fixture.agent.id, key: "k", requestHash: Data([1]), now: now, lease: 60)
        #expect(try await store.claimIdempotencyKey(claim) == .acquired)
        #expect(try await store.claimIdempotencyKey(claim) == .inProgress)
        let other = IdempotencyClaim(agentID: fixture.agent.id, key: "k", requestHash: Data([2]), now: now, lease: 60)
        #expect(try await store.claimIdempotencyKey(other) == .mismatch)
        // A claim whose holder never finished (a crash) is free once its lease has run out.
        let later = IdempotencyClaim(agentID: fixture.agent.id, key: "k", requestHash: Data([1]), now: now.addingTimeInterval(61), lease: 60)
        #expect(try await store.claimIdempotencyKey(later) == .acquired)
        #expect(try await store.purgeIdempotencyKeys(createdBefore: now.addingTimeInterval(1)) == 1)
        #expect(try await store.claimIdempotencyKey(claim) == .acquired)
    }

    /// PostgreSQL purges in batches (each transaction has to fit the store's deadline): a backlog
    /// of several batches goes in one call, and nothing newer than the cut-off goes with it.
    @Test(arguments: StoreKind.available) func purgingABacklogOfIdempotencyKeysTakesAllOfItAndNoMore(kind: StoreKind) async throws {
        let fixture = try await Fixture.make(kind)
        defer { fixture.close() }
        let store = fixture.runtime.store
        let now = fixture.paylink.clock.now()
        let backlog = 2 * PostgresStore.purgeBatch + 7
        // Eight at a time: enough to be quick, few enough not to crowd the other suites' connections.
        for start in stride(from: 0, to: backlog, by: 8) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in start..<min(start + 8, backlog) {
                    group.addTask {
                        let claim = IdempotencyClaim(agentID: fixture.agent.id, key: "old-\(index)", requestHash: Data([1]), now: now, lease: 60)
                        let result = try await store.claimIdempotencyKey(claim)
                        #expect(result == .acquired)
                    }
                }
                try await group.waitForAll()
            }
        }
        let recent = IdempotencyClaim(
            agentID: fixture.agent.id, key: "recent", requestHash: Data([1]), now: now.addingTimeInterval(10), lease: 60)
        #expect(try await store.claimIdempotencyKey(recent) == .acquired)
        #expect(try await store.purgeIdempotencyKeys(createdBefore: now.addingTimeInterval(1)) == backlog)
        #expect(try await store.claimIdempotencyKey(recent) == .inProgress, "the newer key is still held")
        #expect(try await store.purgeIdempotencyKeys(createdBefore: now.addingTimeInterval(1)) == 0)
    }

    /// Receipts older than the cut-off go (so that delivery is no longer recognised as a
    /// repeat); newer ones stay and still refuse a repeat.
    @Test(arguments: StoreKind.available) func webhookReceiptsArePrunedByAge(kind: StoreKind) async throws {
        let fixture = try await Fixture.make(kind)
        defer { fixture.close() }
        let store = fixture.runtime.store
        let link = try await fixture.link(expiresIn: 600)
        let now = fixture.paylink.clock.now()
        let old = WebhookReceipt(provider: "sandbox", eventID: "evt_old", receivedAt: now.addingTimeInterval(-31 * 86_400))
        let recent = WebhookReceipt(provider: "sandbox", eventID: "evt_recent", receivedAt: now.addingTimeInterval(-86_400))
        for receipt in [old, recent] { _ = try await store.updatePayments(link.id, receipt: receipt) { _ in [] } }
        #expect(try await store.purgeWebhookReceipts(receivedBefore: now.addingTimeInterval(-WebhookReceipt.retention)) == 1)
        _ = try await store.updatePayments(link.id, receipt: old) { _ in [] }  // no longer a duplicate
        await #expect(throws: StoreError.duplicate) { _ = try await store.updatePayments(link.id, receipt: recent) { _ in [] } }
    }

    @Test(arguments: StoreKind.available) func agentsAndSigningKeys(kind: StoreKind) async throws {
        let fixture = try await Fixture.make(kind)
        defer { fixture.close() }
        let store = fixture.runtime.store
        let key = try #require(APIKey(presented: fixture.paylink.agent))
        let (agent, digest) = try #require(try await store.credential(lookupID: key.lookupID))
        #expect(agent.id == fixture.paylink.agentID)
        #expect(key.matches(digest: digest))
        #expect(try await store.credential(lookupID: "nope") == nil)
        #expect(try await store.setAgentDisabled(agent.id, disabled: true)?.disabled == true)
        #expect(try await store.agents().count == 4)
        let before = try await store.signingKeys()
        #expect(before.filter { $0.status == .current }.count == 1)
        let rotated = try await fixture.runtime.keyRing.rotate(now: fixture.paylink.clock.now())
        let after = try await store.signingKeys()
        #expect(after.filter { $0.status == .current }.map(\.id) == [rotated.id])
        #expect(after.count == before.count + 1)
        #expect(try await store.retireSigningKey(id: before[0].id, at: fixture.paylink.clock.now())?.status == .retired)
    }

    @Test(arguments: StoreKind.available) func migrationsAreIdempotentAndReady(kind: StoreKind) async throws {
        let fixture = try await Fixture.make(kind)
        defer { fixture.close() }
        try await fixture.runtime.store.migrate()
        try await fixture.runtime.store.checkReady()
    }
}
