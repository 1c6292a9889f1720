import Foundation
import HummingbirdTesting
import Testing

@testable import Paylink

@Suite("Links API")
struct LinksAPITests {
    @Test(arguments: StoreKind.available) func createdLinkHasTheContractShape(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let link = try await client.createLink(
                key: paylink.agent,
                #"{"amount": 1999, "currency": "GBP", "reference": "order-1", "description": "Boiler service", "locale": "zh-Hans", "expires_in": 900, "customer": {"name": "Ada", "email": "ada@example.com", "phone": "+447700900123"}, "metadata": {"crm": "42"}, "conversation": {"channel": "chat", "id": "conv-9"}}"#
            )
            #expect((link["id"] as? String)?.hasPrefix("lnk_") == true)
            #expect(link["object"] as? String == "link")
            #expect(link["status"] as? String == "open")
            #expect(link["amount"] as? Int == 1999)
            #expect(link["currency"] as? String == "GBP")
            #expect(link["locale"] as? String == "zh-Hans")
            #expect(link["agent_id"] as? String == paylink.agentID.rawValue)
            #expect(link["amount_refunded"] as? Int == 0)
            #expect(link["payment"] is NSNull)
            #expect((link["customer"] as? [String: Any])?["phone"] as? String == "+447700900123")
            #expect((link["metadata"] as? [String: String]) == ["crm": "42"])
            #expect((link["conversation"] as? [String: String]) == ["channel": "chat", "id": "conv-9"])
            let created = try #require(link["created_at"] as? String)
            let expires = try #require(link["expires_at"] as? String)
            let createdDate = try #require(ISO8601DateFormatter().date(from: created))
            let expiresDate = try #require(ISO8601DateFormatter().date(from: expires))
            #expect(expiresDate.timeIntervalSince(createdDate) == 900)
            let url = try #require(link["url"] as? String)
            #expect(url.hasPrefix("https://pay.example.test/p/"))
            #expect(url.split(separator: "/").last!.count <= 64)

            let fetched = try await client.send(.get, "/v1/links/\(link["id"]!)", key: paylink.agent)
            #expect(fetched.status == .ok)
            #expect(try fetched.jsonObject()["url"] as? String == url)

            // `%5F` is `_` (RFC 3986 §6.2.2.2): the same link, on every route that takes an id.
            let id = try #require(link["id"] as? String)
            let encoded = id.replacingOccurrences(of: "_", with: "%5F")
            #expect(try await client.send(.get, "/v1/links/\(encoded)", key: paylink.agent).jsonObject()["id"] as? String == id)
            #expect(try await client.send(.get, "/v1/links/\(encoded)/events", key: paylink.agent).status == .ok)
            let malformed = try await client.send(.get, "/v1/links/lnk%zz", key: paylink.agent)
            #expect(malformed.status == .notFound && malformed.errorCode == "resource_missing")
        }
    }

    /// A cancel meets the payment's admission under the link's row lock: while an attempt holds
    /// the link (being charged, or waiting for 3-D Secure) the cancel's own transaction refuses,
    /// and nothing changes: no event, no stored idempotency key. (The API then cancels a 3-D
    /// Secure attempt at the PSP and asks again: PaymentFlowTests.)
    @Test(arguments: StoreKind.available) func cancelIsRefusedWhileAnAttemptHoldsTheLink(store: StoreKind) async throws {
        for status in [Payment.Status.processing, .requiresAction] {
            let paylink = try await TestPaylink.make(store)
            defer { paylink.cleanUp() }
            let link = try await paylink.test { client in try await client.createLink(key: paylink.agent) }
            try await PaymentPageTests.setPayment(paylink, link, status)
            let runtime = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
            defer { runtime.close() }
            let agent = Agent(id: paylink.agentID, name: "test", role: .agent, createdAt: paylink.clock.now())
            let id = try #require(LinkID(link["id"] as! String))
            let claim = IdempotencyClaim(
                agentID: agent.id, key: "cancel-\(status.rawValue)", requestHash: Data([1]), now: paylink.clock.now(), lease: 60)
            await #expect(throws: PaymentRefusal.paymentInProgress) {
                _ = try await runtime.linkService.cancel(id, by: agent, idempotency: claim)
            }
            #expect(try await runtime.store.link(id, scope: .all)?.status == .open)
            #expect(try await runtime.store.events(link: id, afterSeq: 0, limit: 10).map(\.type) == [.linkCreated])
            #expect(try await runtime.store.claimIdempotencyKey(claim) == .acquired, "the refused cancel left its key free")
        }
    }

    @Test(arguments: StoreKind.available) func defaultExpiryIsThirtyMinutesAndLocaleEnglish(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let link = try await client.createLink(key: paylink.agent)
            #expect(link["locale"] as? String == "en")
            let expected = paylink.clock.now().addingTimeInterval(1800).formatted(.iso8601)
            #expect(link["expires_at"] as? String == expected)
            #expect(link["customer"] is NSNull)
        }
    }

    @Test(arguments: StoreKind.available) func minorUnitsFollowTheCurrency(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            for currency in ["JPY", "GBP", "KWD"] {
                let link = try await client.createLink(key: paylink.agent, #"{"amount": 500, "currency": "\#(currency)", "reference": "r"}"#)
                #expect(link["currency"] as? String == currency)
            }
            #expect(Currency(code: "JPY")?.minorUnits == 0)
            #expect(Currency(code: "GBP")?.minorUnits == 2)
            #expect(Currency(code: "KWD")?.minorUnits == 3)
            #expect(Currency(code: "XAU") == nil)
            #expect(Currency(code: "CLF") == nil, "fund codes cannot be charged")
        }
    }

    @Test(arguments: StoreKind.available) func agentsSeeOnlyTheirOwnLinksAndSupervisorsSeeAll(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let mine = try await client.createLink(key: paylink.agent)
            let id = try #require(mine["id"] as? String)
            let other = try await client.send(.get, "/v1/links/\(id)", key: paylink.otherAgent)
            #expect(other.status == .notFound)
            #expect(other.errorCode == "resource_missing")
            // Same answer as a link that does not exist at all: no existence oracle.
            let missing = try await client.send(.get, "/v1/links/lnk_000000000000000000000000", key: paylink.otherAgent)
            #expect(missing.status == .notFound)
            #expect(missing.errorCode == other.errorCode)
            for action in ["cancel", "extend"] {
                #expect(try await client.send(.post, "/v1/links/\(id)/\(action)", key: paylink.otherAgent).status == .notFound)
            }
            #expect(try await client.send(.get, "/v1/links/\(id)/events", key: paylink.otherAgent).status == .notFound)
            let otherList = try await client.send(.get, "/v1/links", key: paylink.otherAgent).jsonObject()
            #expect((otherList["data"] as? [Any])?.isEmpty == true)
            for key in [paylink.supervisor, paylink.admin] {
                #expect(try await client.send(.get, "/v1/links/\(id)", key: key).status == .ok)
            }
            // Still open: bob's attempts changed nothing.
            let after = try await client.send(.get, "/v1/links/\(id)", key: paylink.agent).jsonObject()
            #expect(after["status"] as? String == "open")
        }
    }

    @Test(arguments: StoreKind.available) func listIsNewestFirstWithCursorPages(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            var ids: [String] = []
            for index in 0..<5 {
                let link = try await client.createLink(key: paylink.agent, #"{"amount": 100, "currency": "EUR", "reference": "ref-\#(index)"}"#)
                ids.append(link["id"] as! String)
            }
            var seen: [String] = []
            var cursor: String? = nil
            var pages = 0
            repeat {
                let uri = "/v1/links?limit=2" + (cursor.map { "&starting_after=\($0)" } ?? "")
                let page = try await client.send(.get, uri, key: paylink.agent).jsonObject()
                let data = try #require(page["data"] as? [[String: Any]])
                seen += data.map { $0["id"] as! String }
                cursor = seen.last
                pages += 1
                if page["has_more"] as? Bool != true { break }
            } while pages < 10
            #expect(seen == ids.reversed())
            #expect(pages == 3)
        }
    }

    @Test(arguments: StoreKind.available) func listFilters(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let a = try await client.createLink(
                key: paylink.agent, #"{"amount": 100, "currency": "EUR", "reference": "A", "customer": {"email": "a@example.com"}}"#)
            _ = try await client.createLink(
                key: paylink.agent, #"{"amount": 100, "currency": "EUR", "reference": "B", "customer": {"phone": "+14155550100"}}"#)
            let b = try await client.createLink(key: paylink.agent, #"{"amount": 100, "currency": "EUR", "reference": "C"}"#)
            try await client.send(.post, "/v1/links/\(b["id"]!)/cancel", key: paylink.agent)
            func ids(_ query: String) async throws -> [String] {
                let page = try await client.send(.get, "/v1/links?\(query)", key: paylink.agent).jsonObject()
                return (page["data"] as! [[String: Any]]).map { $0["reference"] as! String }
            }
            #expect(try await ids("reference=A") == ["A"])
            #expect(try await ids("customer_email=a@example.com") == ["A"])
            #expect(try await ids("customer_phone=%2B14155550100") == ["B"])
            #expect(try await ids("status=cancelled") == ["C"])
            #expect(try await ids("status=open") == ["B", "A"])
            // The query is form-encoded, as HTML forms, `urlencode` and `URLSearchParams` write it:
            // `+` is a space and `%2B` a plus; empty pairs are nothing.
            _ = try await client.createLink(key: paylink.agent, #"{"amount": 100, "currency": "EUR", "reference": "D 1"}"#)
            _ = try await client.createLink(key: paylink.agent, #"{"amount": 100, "currency": "EUR", "reference": "D+1"}"#)
            #expect(try await ids("reference=D+1") == ["D 1"])
            #expect(try await ids("reference=D%201") == ["D 1"])
            #expect(try await ids("reference=D%2B1") == ["D+1"])
            #expect(try await ids("&reference=A&&") == ["A"])
            // Exact means exact: SQLite binds text only up to a NUL, so `A%00…` matched `A`
            // (PostgreSQL refuses NUL in text outright). Control characters are refused, as in the field.
            for query in ["reference=A%00anything", "customer_email=a@example.com%00x", "customer_phone=%2B14155550100%00", "reference=A%0A"] {
                let response = try await client.send(.get, "/v1/links?\(query)", key: paylink.agent)
                #expect(response.status == .badRequest, "\(query)")
                #expect(response.errorCode == "parameter_invalid", "\(query)")
                #expect(try response.jsonObject()["error"].flatMap { ($0 as? [String: Any])?["param"] as? String } == String(query.prefix { $0 != "=" }))
            }
            _ = a
        }
    }

    @Test(arguments: StoreKind.available) func cancelThenCancelAgainIsAConflict(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let link = try await client.createLink(key: paylink.agent)
            let id = link["id"] as! String
            let cancelled = try await client.send(.post, "/v1/links/\(id)/cancel", key: paylink.agent)
            #expect(cancelled.status == .ok)
            #expect(try cancelled.jsonObject()["status"] as? String == "cancelled")
            let again = try await client.send(.post, "/v1/links/\(id)/cancel", key: paylink.agent)
            #expect(again.status == .conflict)
            #expect(again.errorCode == "link_cancelled")
            let extend = try await client.send(.post, "/v1/links/\(id)/extend", key: paylink.agent, json: #"{"expires_in": 600}"#)
            #expect(extend.status == .conflict)
            let events = try await client.send(.get, "/v1/links/\(id)/events", key: paylink.agent).jsonObject()
            #expect((events["data"] as! [[String: Any]]).map { $0["type"] as! String } == ["link.created", "link.cancelled"])
        }
    }

    @Test(arguments: StoreKind.available) func extendPushesExpiryOutAndRefusesExpiredLinks(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let link = try await client.createLink(key: paylink.agent, #"{"amount": 100, "currency": "EUR", "reference": "r", "expires_in": 300}"#)
            let id = link["id"] as! String
            let extended = try await client.send(.post, "/v1/links/\(id)/extend", key: paylink.agent, json: #"{"expires_in": 600}"#)
            #expect(extended.status == .ok)
            let expected = paylink.clock.now().addingTimeInterval(900).formatted(.iso8601)
            #expect(try extended.jsonObject()["expires_at"] as? String == expected)
            let tooFar = try await client.send(.post, "/v1/links/\(id)/extend", key: paylink.agent, json: #"{"expires_in": 604800}"#)
            #expect(tooFar.status == .badRequest)
            #expect(tooFar.errorCode == "expires_in_out_of_range")

            paylink.clock.advance(by: 901)
            let expired = try await client.send(.post, "/v1/links/\(id)/extend", key: paylink.agent, json: #"{"expires_in": 600}"#)
            #expect(expired.status == .conflict)
            #expect(expired.errorCode == "link_expired")
            let read = try await client.send(.get, "/v1/links/\(id)", key: paylink.agent).jsonObject()
            #expect(read["status"] as? String == "expired")
        }
    }
}
