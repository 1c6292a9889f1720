import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import Testing

@testable import Paylink

/// What the page endpoints and the webhook receiver do with input they must refuse: a precise
/// 4xx with a code, and nothing changed (the link's events are compared before and after).
@Suite("Payment bad input")
struct PaymentBadInputTests {
    func withCustomer(
        clock: ManualClock = ManualClock(Date()), configure: @escaping (inout PaylinkConfiguration) -> Void = { _ in },
        _ body: @Sendable (AgentClient, Customer) async throws -> Void
    ) async throws {
        let sandbox = try await RunningSandbox.start()
        let paylink = try await TestPaylink.withPSP(sandbox: sandbox, clock: clock, configure: configure)
        defer { paylink.cleanUp() }
        do {
            try await paylink.live(sandbox: sandbox) { base, http in
                let agent = AgentClient(http: http, base: base, key: paylink.agent)
                let link = try await agent.createLink()
                try await body(agent, Customer(http: http, sandbox: sandbox, paylink: base, link: link))
            }
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }

    static func code(_ object: [String: Any]) -> String? { (object["error"] as? [String: Any])?["code"] as? String }

    @Test("progress: unknown kinds, values, wrong types and junk are 400 and record nothing")
    func progressRefusals() async throws {
        try await withCustomer { agent, customer in
            let before = try await agent.eventTypes(customer.linkID)
            let url = "\(customer.paylink)/p/\(customer.token)/progress"
            for (body, code) in [
                (["type": "payment.succeeded"], "parameter_invalid"),
                (["type": "link.opened", "value": "4242"], "parameter_unknown"),
                (["type": "payment.card_field_completed", "field": "pin"], "parameter_invalid"),
                (["type": "payment.card_field_completed"], "parameter_missing"),
                (["type": "link.opened", "field": "number"], "parameter_unknown"),
                (["type": 7], "parameter_invalid_type"),
                ([:], "parameter_missing"),
            ] as [([String: Any], String)] {
                let (status, answer) = try await customer.send("POST", url, json: body)
                #expect(status == 400, "\(body)")
                #expect(Self.code(answer) == code, "\(body) → \(answer)")
            }
            let (wrongType, _) = try await customer.send("POST", url, json: nil, headers: ["Content-Type": "text/plain"])
            #expect(wrongType == 400 || wrongType == 415)
            let changed = (customer.token.first == "A" ? "B" : "A") + customer.token.dropFirst()
            let (tampered, answer) = try await customer.send("POST", "\(customer.paylink)/p/\(changed)/progress", json: ["type": "link.opened"])
            #expect(tampered == 404)
            #expect(Self.code(answer) == "link_not_found")
            #expect(try await agent.eventTypes(customer.linkID) == before, "nothing was recorded")
        }
    }

    @Test("progress is idempotent: a repeated step is told once")
    func progressIsIdempotent() async throws {
        try await withCustomer { agent, customer in
            func recorded(_ type: String, field: String? = nil) async throws -> Bool? {
                try await customer.progress(type, field: field).1["recorded"] as? Bool
            }
            let first = try await recorded("link.opened")
            let again = try await recorded("link.opened")
            let field = try await recorded("payment.card_field_completed", field: "cvc")
            let fieldAgain = try await recorded("payment.card_field_completed", field: "cvc")
            #expect([first, again, field, fieldAgain] == [true, false, true, false])
            #expect(try await agent.eventTypes(customer.linkID) == ["link.created", "link.opened", "payment.card_field_completed"])
        }
    }

    @Test("a flood of progress reports is cut off with 429 and Retry-After; the help button has its own budget")
    func progressFloodIsRateLimited() async throws {
        try await withCustomer(configure: { $0.payments.progressReportsPerMinute = 5 }) { agent, customer in
            var statuses: [Int] = []
            for _ in 0..<8 { statuses.append(try await customer.progress("link.opened").0) }
            #expect(statuses.prefix(5).allSatisfy { $0 == 200 })
            #expect(statuses.suffix(3).allSatisfy { $0 == 429 }, "\(statuses)")
            // A page that used up its reports can still call for help...
            let (help, answer) = try await customer.progress("link.customer_needs_help")
            #expect(help == 200 && answer["recorded"] as? Bool == true)
            // ...within a budget of its own.
            var helps: [Int] = []
            for _ in 0..<ProgressRateLimiter.helpPerMinute { helps.append(try await customer.progress("link.customer_needs_help").0) }
            #expect(helps.prefix(ProgressRateLimiter.helpPerMinute - 1).allSatisfy { $0 == 200 } && helps.last == 429, "\(helps)")
            #expect(try await agent.eventTypes(customer.linkID).filter { $0 == "link.customer_needs_help" }.count == 1)
        }
    }

    @Test("a cancelled link's page endpoints answer 410")
    func cancelledLinkRefusesProgressAndPay() async throws {
        try await withCustomer { agent, customer in
            let token = try await customer.tokenise("4242 4242 4242 4242")
            #expect(try await agent.send("POST", "/v1/links/\(customer.linkID)/cancel", body: nil).0 == 200)
            let (progress, answer) = try await customer.progress("link.opened")
            #expect(progress == 410)
            #expect(Self.code(answer) == "link_cancelled")
            let (pay, payAnswer) = try await customer.pay(token)
            #expect(pay == 410)
            #expect(Self.code(payAnswer) == "link_cancelled")
        }
    }

    @Test("pay: forged, missing, foreign, other-amount and reused tokens are refused; nothing is charged")
    func payRefusals() async throws {
        try await withCustomer { agent, customer in
            let before = try await agent.eventTypes(customer.linkID)
            var (status, answer) = try await customer.pay("tok_forgedforgedforgedforged")
            #expect(status == 400)
            #expect(Self.code(answer) == "psp_token_invalid")
            // A card number where the token goes: refused before the PSP is asked (the PSP's
            // own refusal would be psp_token_invalid), and not repeated in the answer.
            for number in ["4242424242424242", "4000-0000-0000-0002", "1234567890123456", "tok_424242424242"] {
                (status, answer) = try await customer.pay(number)
                #expect(status == 400 && Self.code(answer) == "card_number_not_allowed")
                #expect(!String(describing: answer).contains(number.prefix(12)))
            }
            (status, answer) = try await customer.send("POST", "\(customer.paylink)/p/\(customer.token)/pay", json: [:])
            #expect(status == 400)
            #expect(Self.code(answer) == "parameter_missing")
            (status, answer) = try await customer.send(
                "POST", "\(customer.paylink)/p/\(customer.token)/pay", json: ["psp_token": "tok_x", "number": "4242424242424242"])
            #expect(Self.code(answer) == "parameter_unknown")
            // Minted for another link, or for another amount.
            let foreign = try await customer.tokenise("4242 4242 4242 4242", reference: "lnk_000000000000000000000000")
            (status, answer) = try await customer.pay(foreign)
            #expect(status == 400)
            #expect(Self.code(answer) == "psp_token_mismatch")
            let otherAmount = try await customer.tokenise("4242 4242 4242 4242", amount: 1)
            (status, answer) = try await customer.pay(otherAmount)
            #expect(Self.code(answer) == "psp_token_mismatch")
            // Brand and last four that do not match the token.
            let shown = try await customer.tokenise("4242 4242 4242 4242")
            (status, answer) = try await customer.pay(shown, brand: "visa", last4: "1111")
            #expect(Self.code(answer) == "psp_token_mismatch")
            #expect(try await agent.eventTypes(customer.linkID) == before, "no attempt was admitted")
            // A token already charged (declined) cannot be used again.
            let declined = try await customer.tokenise("4000 0000 0000 0002")
            #expect(try await customer.pay(declined).0 == 200)
            (status, answer) = try await customer.pay(declined)
            #expect(status == 400)
            #expect(Self.code(answer) == "psp_token_used")
        }
    }

    @Test("webhooks with a bad, stale or missing signature are 400 and change nothing; a replay is 200 and changes nothing")
    func webhookSignatures() async throws {
        try await withCustomer { agent, customer in
            let (_, pending) = try await customer.pay(try await customer.tokenise("4000 0000 0000 3220"))
            let paymentID = try #require((pending["payment"] as? [String: Any])?["id"] as? String)
            // The 3-D Secure page is the charge's: https://PSP/3ds/ch_…
            let redirect = try #require((pending["payment"] as? [String: Any])?["redirect_url"] as? String)
            let chargeID = String(try #require(redirect.split(separator: "/").last { $0.hasPrefix("ch_") }))
            let before = try await agent.eventTypes(customer.linkID)
            func event(_ id: String, charge: String = chargeID, amount: String = "\(customer.amount)", currency: String? = nil, reference: String? = nil) -> Data {
                let currency = currency ?? "\"\(customer.currency.lowercased())\""
                let reference = reference ?? "\"\(paymentID)\""
                return Data(
                    #"{"id":"\#(id)","object":"event","type":"charge.succeeded","data":{"object":{"id":"\#(charge)","object":"charge","status":"succeeded","amount":\#(amount),"currency":\#(currency),"reference":\#(reference)}}}"#
                        .utf8)
            }
            let body = event("evt_test_1")
            let url = "\(customer.paylink)/webhooks/sandbox"
            func post(_ signature: String?, _ payload: Data = body) async throws -> (Int, String?) {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                if let signature { request.headers.add(name: "Stripe-Signature", value: signature) }
                request.body = .bytes(ByteBuffer(bytes: payload))
                let response = try await customer.http.execute(request, timeout: .seconds(10))
                let bytes = try await response.body.collect(upTo: 1 << 16)
                let object = (try? JSONSerialization.jsonObject(with: Data(buffer: bytes))) as? [String: Any] ?? [:]
                return (Int(response.status.code), Self.code(object))
            }
            func sign(_ payload: Data, secret: String, at time: Int) -> String {
                var signed = Data("\(time).".utf8)
                signed.append(payload)
                let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: Data(secret.utf8)))
                return "t=\(time),v1=" + mac.map { String(format: "%02x", $0) }.joined()
            }
            let now = Int(Date().timeIntervalSince1970)
            let secret = customer.sandbox.webhookSecret
            #expect(try await post(nil) == (400, "signature_missing"))
            #expect(try await post("garbage") == (400, "signature_malformed"))
            #expect(try await post(sign(body, secret: "whsec_wrong", at: now)) == (400, "signature_invalid"))
            #expect(try await post(sign(body, secret: secret, at: now - 330)) == (400, "signature_timestamp_out_of_tolerance"))
            #expect(try await post(sign(body, secret: secret, at: now + 330)) == (400, "signature_timestamp_out_of_tolerance"))
            var tampered = body
            tampered.append(contentsOf: Array(" ".utf8))
            #expect(try await post(sign(body, secret: secret, at: now), tampered) == (400, "signature_invalid"))
            // Two timestamps: which one the signature covers must not be the header's choice.
            #expect(try await post("t=\(now - 1000)," + sign(body, secret: secret, at: now)) == (400, "signature_malformed"))
            #expect(try await post(sign(body, secret: secret, at: now) + ",t=\(now - 1000)") == (400, "signature_malformed"))
            #expect(try await agent.eventTypes(customer.linkID) == before, "nothing changed")
            // Signed, but not about the charge this attempt made, or not readable as a charge:
            // 400 webhook_payload_invalid, nothing changed (a PSP fault or a leaked secret must
            // not mark a link paid for money that was not taken).
            for (name, payload) in [
                ("another charge id", event("evt_x1", charge: "ch_forged")),
                ("another amount", event("evt_x2", amount: "1")),
                ("another currency", event("evt_x3", currency: #""usd""#)),
                ("no amount", event("evt_x4", amount: "null")),
                ("a reference that is not a string", event("evt_x5", reference: "5")),
                ("an empty event id", event("")),
            ] {
                #expect(try await post(sign(payload, secret: secret, at: now), payload) == (400, "webhook_payload_invalid"), "\(name)")
            }
            #expect(try await agent.eventTypes(customer.linkID) == before, "nothing changed")
            #expect(try await customer.status()["link_status"] as? String == "open")
            // A well-signed event is applied once; the same event id again is acknowledged and ignored.
            let rotated = sign(body, secret: "whsec_old", at: now) + "," + sign(body, secret: secret, at: now).split(separator: ",")[1]
            #expect(try await post(rotated).0 == 200, "any matching v1 counts (secret rotation)")
            #expect(try await customer.status()["link_status"] as? String == "paid")
            let after = try await agent.eventTypes(customer.linkID)
            #expect(try await post(sign(body, secret: secret, at: now)).0 == 200)
            #expect(try await agent.eventTypes(customer.linkID) == after, "a duplicate changes nothing")
        }
    }

    @Test("link.stalled once the page has been quiet for the configured time, and again only after new activity")
    func stalledLinkIsReported() async throws {
        let clock = ManualClock(Date())
        try await withCustomer(clock: clock, configure: { $0.payments.stallAfter = .seconds(120) }) { agent, customer in
            #expect(try await customer.progress("link.opened").0 == 200)
            clock.advance(by: 60)
            try await Task.sleep(for: .milliseconds(1500))
            #expect(try await agent.eventTypes(customer.linkID).last == "link.opened", "not yet: only a minute")
            clock.advance(by: 61)
            var types: [String] = []
            for _ in 0..<50 {
                types = try await agent.eventTypes(customer.linkID)
                if types.last == "link.stalled" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(types == ["link.created", "link.opened", "link.stalled"])
            clock.advance(by: 300)
            try await Task.sleep(for: .milliseconds(1500))
            #expect(try await agent.eventTypes(customer.linkID).filter { $0 == "link.stalled" }.count == 1, "once per silence")
        }
    }

    @Test("a locked link is never reported stalled: it can take no payment, and the agent had link.locked")
    func lockedLinkIsNotReportedStalled() async throws {
        let clock = ManualClock(Date())
        try await withCustomer(clock: clock, configure: { $0.payments.stallAfter = .seconds(120); $0.payments.maxDeclines = 1 }) {
            agent, customer in
            #expect(try await customer.progress("link.opened").0 == 200)
            _ = try await customer.pay(try await customer.tokenise("4000 0000 0000 0002"))
            #expect(try await agent.eventTypes(customer.linkID).last == "link.locked")
            // An open link, quiet for longer than stallAfter, with the watcher given time for several passes.
            clock.advance(by: 300)
            try await Task.sleep(for: .milliseconds(2500))
            #expect(try await agent.eventTypes(customer.linkID).last == "link.locked")
        }
    }

    @Test("a GET of the page, however often, records nothing")
    func pageGetIsBotSafe() async throws {
        try await withCustomer { agent, customer in
            for agentString in ["curl/8.0", "Slackbot-LinkExpanding 1.0", "WhatsApp/2.23", "facebookexternalhit/1.1"] {
                let (status, _) = try await customer.send("GET", "\(customer.paylink)/p/\(customer.token)", json: nil, headers: ["User-Agent": agentString])
                #expect(status == 200)
                _ = try await customer.status()
            }
            #expect(try await agent.eventTypes(customer.linkID) == ["link.created"])
        }
    }

    @Test("the page's JSON status refuses unknown query parameters; the HTML page takes any")
    func statusRefusesUnknownQueryParameters() async throws {
        try await withCustomer { _, customer in
            let (status, answer) = try await customer.send("GET", "\(customer.paylink)/p/\(customer.token)/status?x=1", json: nil)
            #expect(status == 400)
            #expect(Self.code(answer) == "parameter_unknown")
            let (page, _) = try await customer.send("GET", "\(customer.paylink)/p/\(customer.token)?utm_source=sms", json: nil)
            #expect(page == 200)
        }
    }
}
