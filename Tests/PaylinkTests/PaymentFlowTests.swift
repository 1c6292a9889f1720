import AsyncHTTPClient
import Foundation
import Testing

@testable import Paylink

/// The payment flow end to end: a live Paylink, a real sandbox PSP on its own port, the
/// customer's page calls made over HTTP, webhooks signed and delivered by the sandbox.
@Suite("Paying a link")
struct PaymentFlowTests {
    /// Runs `body` with a sandbox, a live Paylink using it, an agent client and a new link.
    func withPayment(
        _ store: StoreKind = .sqlite, mode: SandboxModeChoice = .normal, amount: Int = 1999, clock: ManualClock = ManualClock(Date()),
        configure: @escaping (inout PaylinkConfiguration) -> Void = { _ in },
        _ body: @Sendable (AgentClient, Customer) async throws -> Void
    ) async throws {
        let sandbox = try await RunningSandbox.start(mode: mode.mode)
        let paylink = try await TestPaylink.withPSP(store, sandbox: sandbox, clock: clock, configure: configure)
        defer { paylink.cleanUp() }
        do {
            try await paylink.live(sandbox: sandbox) { base, http in
                let agent = AgentClient(http: http, base: base, key: paylink.agent)
                let link = try await agent.createLink(#"{"amount": \#(amount), "currency": "GBP", "reference": "order-7"}"#)
                try await body(agent, Customer(http: http, sandbox: sandbox, paylink: base, link: link))
            }
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }

    @Test("4242 pays: the link is paid, the payment shows brand and last four, events in order", arguments: StoreKind.available)
    func successfulCardPaysTheLink(store: StoreKind) async throws {
        try await withPayment(store) { agent, customer in
            #expect(try await customer.progress("link.opened").0 == 200)
            #expect(try await customer.progress("payment.card_entry_started").0 == 200)
            for field in ["number", "expiry", "cvc"] {
                #expect(try await customer.progress("payment.card_field_completed", field: field).0 == 200)
            }
            #expect(try await customer.progress("payment.card_entry_completed").0 == 200)
            let token = try await customer.tokenise("4242 4242 4242 4242")
            let (status, paid) = try await customer.pay(token, brand: "visa", last4: "4242")
            #expect(status == 200, "\(paid)")
            #expect(paid["link_status"] as? String == "paid")

            let link = try await agent.link(customer.linkID)
            #expect(link["status"] as? String == "paid")
            let payment = try #require(link["payment"] as? [String: Any])
            #expect((payment["id"] as? String)?.hasPrefix("pay_") == true)
            #expect(payment["status"] as? String == "succeeded")
            #expect(payment["card"] as? [String: String] == ["brand": "visa", "last4": "4242"])
            #expect((payment["fraud"] as? [String: Any])?["outcome"] as? String == "pass")
            #expect(payment["late"] as? Bool == false)

            // The sandbox's webhook arrives a moment later and must not record a second success.
            try await Task.sleep(for: .milliseconds(600))
            let types = try await agent.eventTypes(customer.linkID)
            #expect(
                types == [
                    "link.created", "link.opened", "payment.card_entry_started", "payment.card_field_completed",
                    "payment.card_field_completed", "payment.card_field_completed", "payment.card_entry_completed",
                    "payment.submitted", "payment.fraud_check", "payment.succeeded",
                ])
            let events = try await agent.events(customer.linkID)
            #expect(events.map { $0["seq"] as? Int } == Array(1...events.count).map { Optional($0) }, "seq 1, 2, 3… without gaps")

            // Paid is final: another card is refused, and the page's progress too.
            let again = try await customer.pay(try await customer.tokenise("4242 4242 4242 4242"))
            #expect(again.0 == 409)
            #expect((again.1["error"] as? [String: Any])?["code"] as? String == "link_paid")
        }
    }

    @Test("a declined card records the decline code; the link stays open for another card")
    func declinedCardIsRecorded() async throws {
        try await withPayment { agent, customer in
            let (_, declined) = try await customer.pay(try await customer.tokenise("4000 0000 0000 9995"))
            #expect(declined["link_status"] as? String == "open")
            let payment = try #require(declined["payment"] as? [String: Any])
            #expect(payment["status"] as? String == "declined")
            #expect(payment["decline_code"] as? String == "insufficient_funds")
            let events = try await agent.events(customer.linkID)
            let decline = try #require(events.last)
            #expect(decline["type"] as? String == "payment.declined")
            #expect((decline["data"] as? [String: Any])?["decline_code"] as? String == "insufficient_funds")
            // Then a good card pays.
            let (_, paid) = try await customer.pay(try await customer.tokenise("4242 4242 4242 4242"))
            #expect(paid["link_status"] as? String == "paid")
        }
    }

    @Test("five declines lock the link; a sixth attempt is refused with link_locked")
    func fiveDeclinesLockTheLink() async throws {
        try await withPayment { agent, customer in
            for _ in 0..<5 {
                let (status, _) = try await customer.pay(try await customer.tokenise("4000 0000 0000 0002"))
                #expect(status == 200)
            }
            let link = try await agent.link(customer.linkID)
            #expect(link["locked"] as? Bool == true)
            #expect(link["status"] as? String == "open")
            #expect(try await agent.eventTypes(customer.linkID).last == "link.locked")
            let (status, refused) = try await customer.pay(try await customer.tokenise("4242 4242 4242 4242"))
            #expect(status == 409)
            #expect((refused["error"] as? [String: Any])?["code"] as? String == "link_locked")
            // The customer can still ask for help.
            #expect(try await customer.progress("link.customer_needs_help").0 == 200)
        }
    }

    @Test("the PSP's highest risk blocks before any charge; the token stays unspent")
    func highRiskIsBlockedBeforeCharging() async throws {
        try await withPayment { agent, customer in
            let token = try await customer.tokenise("4100 0000 0000 0019")
            let (_, blocked) = try await customer.pay(token)
            let payment = try #require(blocked["payment"] as? [String: Any])
            #expect(payment["status"] as? String == "blocked")
            let link = try await agent.link(customer.linkID)
            let fraud = try #require((link["payment"] as? [String: Any])?["fraud"] as? [String: Any])
            #expect(fraud["outcome"] as? String == "block")
            #expect(fraud["reasons"] as? [String] == ["psp_risk_highest"])
            let check = try #require(try await agent.events(customer.linkID).first { $0["type"] as? String == "payment.fraud_check" })
            #expect((check["data"] as? [String: Any])?["outcome"] as? String == "block")
            // Nothing was charged: the PSP still holds the token as unused.
            let (_, tokenAtPSP) = try await customer.send(
                "GET", customer.sandbox.url + "/v1/tokens/\(token)", json: nil, headers: ["Authorization": "Bearer \(customer.sandbox.secretKey)"])
            #expect(tokenAtPSP["used"] as? Bool == false)
            // Presenting it again is refused as a used token (enter the card again), not as a
            // payment in progress: nothing is in progress, and nothing changes.
            let before = try await agent.events(customer.linkID).count
            let (status, again) = try await customer.pay(token)
            #expect(status == 400)
            #expect((again["error"] as? [String: Any])?["code"] as? String == "psp_token_used")
            #expect(try await agent.events(customer.linkID).count == before)
        }
    }

    @Test("an amount over the configured limit is blocked with amount_over_limit")
    func amountOverLimitIsBlocked() async throws {
        try await withPayment(amount: 5000, configure: { $0.payments.amountLimit = 4999 }) { agent, customer in
            let (_, blocked) = try await customer.pay(try await customer.tokenise("4242 4242 4242 4242"))
            #expect((blocked["payment"] as? [String: Any])?["status"] as? String == "blocked")
            let fraud = (try await agent.link(customer.linkID)["payment"] as? [String: Any])?["fraud"] as? [String: Any]
            #expect(fraud?["reasons"] as? [String] == ["amount_over_limit"])
        }
    }

    @Test("velocity per card: the same card beyond the limit is blocked with velocity_card")
    func velocityPerCardBlocks() async throws {
        try await withPayment(configure: { $0.payments.maxAttemptsPerCard = 2 }) { agent, customer in
            for _ in 0..<2 { _ = try await customer.pay(try await customer.tokenise("4000 0000 0000 0002")) }
            let (_, third) = try await customer.pay(try await customer.tokenise("4000 0000 0000 0002"))
            #expect((third["payment"] as? [String: Any])?["status"] as? String == "blocked")
            let fraud = (try await agent.link(customer.linkID)["payment"] as? [String: Any])?["fraud"] as? [String: Any]
            #expect((fraud?["reasons"] as? [String])?.contains("velocity_card") == true)
        }
    }

    @Test("velocity per IP, behind a trusted proxy: the customer's address comes from X-Forwarded-For")
    func velocityPerForwardedIPBlocks() async throws {
        try await withPayment(configure: { $0.payments.maxAttemptsPerIP = 2; $0.trustForwardedFor = true }) { agent, customer in
            func pay(from address: String) async throws -> String? {
                let token = try await customer.tokenise("4000 0000 0000 0002")
                let (_, answer) = try await customer.send(
                    "POST", "\(customer.paylink)/p/\(customer.token)/pay", json: ["psp_token": token],
                    headers: ["X-Forwarded-For": "198.51.100.1, \(address)"])
                return (answer["payment"] as? [String: Any])?["status"] as? String
            }
            #expect(try await pay(from: "203.0.113.7") == "declined")
            #expect(try await pay(from: "203.0.113.7") == "declined")
            #expect(try await pay(from: "203.0.113.8") == "declined", "another customer behind the same proxy is not blocked")
            #expect(try await pay(from: "203.0.113.7") == "blocked")
            let fraud = (try await agent.link(customer.linkID)["payment"] as? [String: Any])?["fraud"] as? [String: Any]
            #expect(fraud?["reasons"] as? [String] == ["velocity_ip"])
        }
    }

    @Test("3-D Secure: authentication_required, the customer approves, the webhook settles it")
    func threeDSecureApprovedSettlesByWebhook() async throws {
        try await withPayment { agent, customer in
            let (_, pending) = try await customer.pay(try await customer.tokenise("4000 0000 0000 3220"))
            let payment = try #require(pending["payment"] as? [String: Any])
            #expect(payment["status"] as? String == "requires_action")
            let redirect = try #require(payment["redirect_url"] as? String)
            #expect(try await agent.eventTypes(customer.linkID).last == "payment.authentication_required")
            // While 3-D Secure is pending, a second payment is refused.
            let (second, _) = try await customer.pay(try await customer.tokenise("4242 4242 4242 4242"))
            #expect(second == 409)
            try await customer.completeThreeDS(redirect, approve: true)
            let settled = try await customer.waitForStatus { $0["link_status"] as? String == "paid" }
            #expect((settled["payment"] as? [String: Any])?["status"] as? String == "succeeded")
            #expect(try await agent.eventTypes(customer.linkID).filter { $0 == "payment.succeeded" }.count == 1)
        }
    }

    @Test("3-D Secure failed: payment.failed with authentication_failed, the link stays open")
    func threeDSecureFailed() async throws {
        try await withPayment { agent, customer in
            let (_, pending) = try await customer.pay(try await customer.tokenise("4000 0000 0000 3220"))
            let redirect = try #require((pending["payment"] as? [String: Any])?["redirect_url"] as? String)
            try await customer.completeThreeDS(redirect, approve: false)
            let settled = try await customer.waitForStatus { ($0["payment"] as? [String: Any])?["status"] as? String == "failed" }
            #expect((settled["payment"] as? [String: Any])?["failure_code"] as? String == "authentication_failed")
            #expect(settled["link_status"] as? String == "open")
        }
    }

    @Test("a success after the link expired is recorded as late, never dropped")
    func lateSuccessIsRecorded() async throws {
        let clock = ManualClock(Date())
        // The challenge outlives the link; it is not abandoned (that timeout is far away here).
        try await withPayment(clock: clock, configure: { $0.payments.authenticationTimeout = .seconds(86_400) }) { agent, customer in
            let (_, pending) = try await customer.pay(try await customer.tokenise("4000 0000 0000 3220"))
            let redirect = try #require((pending["payment"] as? [String: Any])?["redirect_url"] as? String)
            clock.advance(by: 1801)
            try await customer.completeThreeDS(redirect, approve: true)
            _ = try await customer.waitForStatus { ($0["payment"] as? [String: Any])?["status"] as? String == "succeeded" }
            let link = try await agent.link(customer.linkID)
            #expect((link["payment"] as? [String: Any])?["late"] as? Bool == true)
            let success = try #require(try await agent.events(customer.linkID).last { $0["type"] as? String == "payment.succeeded" })
            #expect((success["data"] as? [String: Any])?["late"] as? Bool == true)
            #expect((success["data"] as? [String: Any])?["link_status"] as? String == "expired")
        }
    }

    @Test("an agent's cancel during 3-D Secure cancels the attempt at the PSP: it can no longer pay")
    func cancelDuringThreeDSCancelsTheCharge() async throws {
        try await withPayment { agent, customer in
            let (_, pending) = try await customer.pay(try await customer.tokenise("4000 0027 6000 3184"))
            let redirect = try #require((pending["payment"] as? [String: Any])?["redirect_url"] as? String)
            let (status, cancelled) = try await agent.send("POST", "/v1/links/\(customer.linkID)/cancel", body: nil)
            #expect(status == 200 && cancelled["status"] as? String == "cancelled")
            #expect((cancelled["payment"] as? [String: Any])?["failure_code"] as? String == "canceled")
            #expect(try await agent.eventTypes(customer.linkID).suffix(3) == ["payment.authentication_required", "payment.failed", "link.cancelled"])
            // The customer approves afterwards: the PSP no longer takes the money.
            let location = try await customer.completeThreeDS(redirect, approve: true)
            #expect(location?.hasSuffix("redirect_status=failed") == true, "\(location ?? "no redirect")")
            try await Task.sleep(for: .milliseconds(300))
            let link = try await agent.link(customer.linkID)
            #expect(link["status"] as? String == "cancelled")
            #expect((link["payment"] as? [String: Any])?["status"] as? String == "failed")
            #expect(try await agent.eventTypes(customer.linkID).contains("payment.succeeded") == false)
        }
    }

    @Test("a 3-D Secure challenge left open is canceled after the timeout; the link takes another card")
    func abandonedThreeDSIsCanceled() async throws {
        let clock = ManualClock(Date())
        try await withPayment(clock: clock, configure: { $0.payments.reconcileAfter = .seconds(10) }) { agent, customer in
            let (_, pending) = try await customer.pay(try await customer.tokenise("4000 0000 0000 3220"))
            let redirect = try #require((pending["payment"] as? [String: Any])?["redirect_url"] as? String)
            clock.advance(by: 601)
            let freed = try await customer.waitForStatus { ($0["payment"] as? [String: Any])?["status"] as? String == "failed" }
            #expect((freed["payment"] as? [String: Any])?["failure_code"] as? String == "canceled")
            #expect(freed["link_status"] as? String == "open")
            let (paid, answer) = try await customer.pay(try await customer.tokenise("4242 4242 4242 4242"))
            #expect(paid == 200 && (answer["payment"] as? [String: Any])?["status"] as? String == "succeeded")
            // Approving the old challenge now changes nothing: the link is paid once.
            let location = try await customer.completeThreeDS(redirect, approve: true)
            #expect(location?.hasSuffix("redirect_status=failed") == true, "the PSP canceled it: \(location ?? "no redirect")")
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await agent.eventTypes(customer.linkID).filter { $0 == "payment.succeeded" }.count == 1)
        }
    }

    @Test("a dropped webhook is reconciled by asking the PSP")
    func droppedWebhookIsReconciled() async throws {
        let clock = ManualClock(Date())
        try await withPayment(mode: .drop, clock: clock, configure: { $0.payments.reconcileAfter = .seconds(10) }) { agent, customer in
            let (_, pending) = try await customer.pay(try await customer.tokenise("4000 0000 0000 3220"))
            let redirect = try #require((pending["payment"] as? [String: Any])?["redirect_url"] as? String)
            try await customer.completeThreeDS(redirect, approve: true)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await customer.status()["link_status"] as? String == "open", "no webhook came, so nothing settled yet")
            clock.advance(by: 11)
            let settled = try await customer.waitForStatus { $0["link_status"] as? String == "paid" }
            #expect((settled["payment"] as? [String: Any])?["status"] as? String == "succeeded")
        }
    }

    @Test("duplicate and out-of-order webhooks change nothing twice")
    func duplicateAndReorderedWebhooks() async throws {
        for mode in [SandboxModeChoice.duplicate, .reverse] {
            try await withPayment(mode: mode) { agent, customer in
                let (_, pending) = try await customer.pay(try await customer.tokenise("4000 0000 0000 3220"))
                let redirect = try #require((pending["payment"] as? [String: Any])?["redirect_url"] as? String)
                try await customer.completeThreeDS(redirect, approve: true)
                _ = try await customer.waitForStatus { $0["link_status"] as? String == "paid" }
                try await Task.sleep(for: .milliseconds(800))
                let types = try await agent.eventTypes(customer.linkID)
                #expect(types.filter { $0 == "payment.succeeded" }.count == 1, "\(mode): \(types)")
            }
        }
    }

    @Test("50 concurrent submissions with 50 good cards: exactly one payment", arguments: StoreKind.available)
    func fiftyConcurrentSubmissionsPayOnce(store: StoreKind) async throws {
        try await withPayment(store, configure: { $0.payments.maxAttemptsPerLink = 100; $0.payments.maxAttemptsPerCard = 100 }) {
            agent, customer in
            var tokens: [String] = []
            for _ in 0..<50 { tokens.append(try await customer.tokenise("4242 4242 4242 4242")) }
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for token in tokens { group.addTask { try await customer.pay(token).0 } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 200 }.count >= 1)
            #expect(statuses.allSatisfy { $0 == 200 || $0 == 409 }, "\(statuses)")
            try await Task.sleep(for: .milliseconds(500))
            let types = try await agent.eventTypes(customer.linkID)
            #expect(types.filter { $0 == "payment.succeeded" }.count == 1)
            #expect(types.filter { $0 == "payment.submitted" }.count == 1, "only one attempt was admitted")
            #expect(try await agent.link(customer.linkID)["status"] as? String == "paid")
        }
    }
}

/// The sandbox's webhook modes, spelt out so test names read well.
enum SandboxModeChoice: Sendable {
    case normal, duplicate, reverse, drop
}
