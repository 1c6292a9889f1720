import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import Paylink

/// The customer's page `GET /p/TOKEN`, through the real router and database: every state with its
/// status and headers, the card-safety properties of the form, size, locale and escaping.
@Suite("The hosted payment page")
struct PaymentPageTests {
    static let psp = "https://psp.example.test:8444"

    static func make(tls: Bool = false) async throws -> TestPaylink {
        try await TestPaylink.make(tls: tls) { $0.pspURL = Self.psp + "/" }
    }

    static func token(_ link: [String: Any]) -> String {
        (link["url"] as! String).components(separatedBy: "/p/").last!
    }

    static func linkID(_ link: [String: Any]) -> LinkID {
        LinkID(link["id"] as! String)!
    }

    /// Puts a link into a payment state as the payment flow would leave it (the flow itself is
    /// `PaymentService`'s to test; here only what the page shows for each state matters).
    static func setPayment(
        _ paylink: TestPaylink, _ link: [String: Any], _ status: Payment.Status?, declineCode: String? = nil,
        failureCode: String? = nil, redirectURL: String? = nil, locked: Bool = false
    ) async throws {
        let runtime = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
        defer { runtime.close() }
        let now = paylink.clock.now()
        _ = try await runtime.store.updatePayments(linkID(link), receipt: nil) { record in
            if let status {
                record.replace(
                    Payment(
                        id: .generate(), linkID: record.link.id, status: status, amount: record.link.amount,
                        card: CardSummary(brand: "visa", last4: "4242")!, fingerprint: nil, pspToken: "tok_\(UUID().uuidString)",
                        clientIPHash: nil, fraud: FraudAssessment(outcome: .pass, reasons: [], riskScore: nil), declineCode: declineCode,
                        failureCode: failureCode, redirectURL: redirectURL, createdAt: now, updatedAt: now))
                if status == .succeeded { record.link.status = .paid }
            }
            if locked { record.link.locked = true }
            return []
        }
    }

    static func events(_ client: any TestClientProtocol, _ paylink: TestPaylink, _ link: [String: Any]) async throws -> [[String: Any]] {
        let response = try await client.send(.get, "/v1/links/\(link["id"]!)/events", key: paylink.agent)
        return try #require(response.jsonObject()["data"] as? [[String: Any]])
    }

    /// The headers SPEC §3 asks of every page, and a nonce that is the page's own.
    static func expectPageHeaders(_ page: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(page.headers[.contentType] == "text/html; charset=utf-8", sourceLocation: sourceLocation)
        #expect(page.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
        #expect(page.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer", sourceLocation: sourceLocation)
        #expect(page.headers[.xContentTypeOptions] == "nosniff", sourceLocation: sourceLocation)
        let csp = try #require(page.headers[.contentSecurityPolicy], sourceLocation: sourceLocation)
        let nonce = try #require(csp.firstMatch(of: /script-src 'nonce-([A-Za-z0-9_-]{22,})'/)?.1, sourceLocation: sourceLocation)
        #expect(
            csp == "default-src 'none'; script-src 'nonce-\(nonce)'; style-src 'nonce-\(nonce)'; img-src 'self' data:; "
                + "connect-src 'self' \(Self.psp); form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            sourceLocation: sourceLocation)
        // Every inline style and script carries this response's nonce; none is left without.
        let tags = page.text.matches(of: /<(script|style)\b[^>]*>/).map { String($0.0) }
        for tag in tags where !tag.contains(#"type="application/json""#) {
            #expect(tag.contains(#"nonce="\#(nonce)""#), "\(tag)", sourceLocation: sourceLocation)
        }
        #expect(!page.text.contains(" style="), "inline style attributes are blocked by the CSP", sourceLocation: sourceLocation)
    }

    /// The page's JSON configuration for its script.
    static func config(_ page: TestResponse) throws -> [String: Any] {
        let json = try #require(page.text.firstMatch(of: /<script type="application\/json" id="paylink-config">([^<]*)<\/script>/)?.1)
        return try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    // MARK: - States

    @Test func openLinkShowsTheCardFormWithStrictHeaders() async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let link = try await client.createLink(
                key: paylink.agent, #"{"amount": 1999, "currency": "GBP", "reference": "INV-7", "description": "Boiler service"}"#)
            let page = try await client.send(.get, "/p/\(Self.token(link))", key: nil)
            #expect(page.status == .ok)
            try Self.expectPageHeaders(page)
            #expect(page.headers[.strictTransportSecurity] == nil, "HSTS only over TLS")
            for text in ["GBP 19.99", "INV-7", "Boiler service", "Pay GBP 19.99", "I need help", #"id="countdown""#] {
                #expect(page.text.contains(text), "\(text)")
            }
            for id in ["card-form", "cc-number", "cc-exp", "cc-csc", "cc-name", "pay", "help", "message", "status", "cc-brand"] {
                #expect(page.text.contains(#"id="\#(id)""#), "\(id)")
            }
            let config = try Self.config(page)
            #expect(config["state"] as? String == "open")
            #expect(config["psp"] as? String == Self.psp)
            #expect(config["base"] as? String == "/p/\(Self.token(link))")
            // The PSP token is bound to this link, amount and currency (Paylink refuses others).
            #expect(config["link"] as? String == link["id"] as? String)
            #expect(config["amount"] as? Int == 1999)
            #expect(config["currency"] as? String == "GBP")
            #expect(config["left"] as? Int == 1800, "seconds left by the server's clock, not the phone's")
        }
    }

    /// `--psp-port 0` and no `--psp-url`: there is nothing to tokenise with. The open link's
    /// page used to offer the form anyway, with `https://127.0.0.1:0` in its CSP; it now shows
    /// the link and "temporarily unavailable" without a form, still 200 (the link is valid and
    /// open, SPEC §3), as `/pay` answers 503. Dead and paid links are unchanged.
    @Test func withoutAPSPAnOpenLinkShowsNoCardForm() async throws {
        let paylink = try await TestPaylink.make { $0.pspURL = nil }
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let link = try await client.createLink(key: paylink.agent)
            let page = try await client.send(.get, "/p/\(Self.token(link))", key: nil)
            #expect(page.status == .ok)
            #expect(page.text.contains("Temporarily unavailable") && page.text.contains("GBP 19.99") && page.text.contains("I need help"))
            #expect(!page.text.contains(#"id="card-form""#) && !page.text.contains("127.0.0.1:0"))
            let csp = try #require(page.headers[.contentSecurityPolicy])
            #expect(csp.contains("connect-src 'self';"), "\(csp)")

            let paid = try await client.createLink(key: paylink.agent)
            try await Self.setPayment(paylink, paid, .succeeded)
            #expect(try await client.send(.get, "/p/\(Self.token(paid))", key: nil).status == .ok)
            _ = try await client.send(.post, "/v1/links/\(link["id"]!)/cancel", key: paylink.agent)
            #expect(try await client.send(.get, "/p/\(Self.token(link))", key: nil).status == .gone)
        }
    }

    @Test func everyCardFieldHasItsAutocompleteTokenAndALabel() async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let page = try await client.send(.get, "/p/\(Self.token(try await client.createLink(key: paylink.agent)))", key: nil)
            let inputs = page.text.matches(of: /<input\b[^>]*>/).map { String($0.0) }
            #expect(inputs.count == 4)
            for (id, token, numeric) in [("cc-number", "cc-number", true), ("cc-exp", "cc-exp", true), ("cc-csc", "cc-csc", true), ("cc-name", "cc-name", false)] {
                let input = try #require(inputs.first { $0.contains(#"id="\#(id)""#) }, "\(id)")
                #expect(input.contains(#"autocomplete="\#(token)""#), "\(input)")
                #expect(input.contains(#"inputmode="numeric""#) == numeric, "\(input)")
                #expect(input.contains(#"aria-describedby=""#) && input.contains("\(id)-error"), "errors are tied to \(id)")
                #expect(page.text.contains(#"<label for="\#(id)">"#), "\(id) has a label")
            }
        }
    }

    /// SPEC §3: the card goes only to the PSP. No input has a `name`, so no form submission can
    /// carry a card field anywhere; and with the script off the form only reloads the page.
    @Test func cardInputsHaveNoNameAndTheFormCannotSendThem() async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let page = try await client.send(.get, "/p/\(Self.token(try await client.createLink(key: paylink.agent)))", key: nil)
            let html = page.text
            for tag in html.matches(of: /<(input|select|textarea|button)\b[^>]*>/).map({ String($0.0) }) {
                #expect(tag.firstMatch(of: /\sname=/) == nil, "\(tag)")
            }
            #expect(!html.contains(#"type="hidden""#))
            let forms = html.matches(of: /<form\b[^>]*>/).map { String($0.0) }
            #expect(forms == [##"<form id="card-form" action="#" method="get" novalidate>"##])
            #expect(html.contains("<noscript>"))
            #expect(html.contains(#"<button id="pay" type="submit" disabled>"#), "Pay works only once the script is running")
            // The script sends the number and CVC to the PSP's /v1/tokens only, and logs nothing.
            let script = PageScript.source
            #expect(!script.contains("console."))
            #expect(script.contains(#"fetch(c.psp + "/v1/tokens""#))
            let calls = script.components(separatedBy: "fetch(").dropFirst()
            #expect(calls.count == 3)
            for call in calls {
                #expect(call.hasPrefix("c.base + ") || call.hasPrefix(#"c.psp + "/v1/tokens""#), "fetch(\(call.prefix(40))")
            }
            #expect(!script.contains("localStorage") && !script.contains("sessionStorage") && !script.contains("history."))
        }
    }

    @Test func pageWithItsStyleAndScriptFitsIn20KB() async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let description = String(repeating: "Annual boiler service and parts ", count: 15).prefix(500)
            for locale in PageLocale.supported {
                let link = try await client.createLink(
                    key: paylink.agent,
                    #"{"amount": 123456, "currency": "GBP", "reference": "\#(String(repeating: "R", count: 64))", "description": "\#(description)", "locale": "\#(locale)"}"#
                )
                let page = try await client.send(.get, "/p/\(Self.token(link))", key: nil)
                let bytes = page.body.readableBytes
                print("payment page \(locale): \(bytes) bytes")
                #expect(bytes <= 20 * 1024, "\(locale): \(bytes) bytes")
            }
        }
    }

    /// Nothing on the page points anywhere but Paylink itself and the PSP.
    @Test func theOnlyOtherOriginIsThePSP() async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let page = try await client.send(.get, "/p/\(Self.token(try await client.createLink(key: paylink.agent)))", key: nil)
            // Absolute URLs, and protocol-relative ones in an attribute or a CSS url().
            let urls = page.text.matches(of: /(?i)(?:[a-z]+:|["'(=]\s*)\/\/[a-z0-9.-]+/).map { String($0.0) }
            #expect(urls.allSatisfy { $0.lowercased() == "https://psp.example.test" }, "\(urls)")
            #expect(page.text.contains(#""psp":"https:\/\/psp.example.test:8444""#), "the script's one other origin")
            #expect(!page.text.contains("@import") && !page.text.contains("url("), "no fonts, images or imports")
            #expect(!page.text.contains(" src="), "no external scripts or images")
        }
    }

    @Test func servedOverTLSThePageCarriesHSTS() async throws {
        let paylink = try await Self.make(tls: true)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let page = try await client.send(.get, "/p/\(Self.token(try await client.createLink(key: paylink.agent)))", key: nil)
            #expect(page.status == .ok)
            #expect(page.headers[.strictTransportSecurity] == "max-age=63072000; includeSubDomains")
            try Self.expectPageHeaders(page)
        }
    }

    @Test func paymentInFlightShowsConfirmingAndPolls() async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let processing = try await client.createLink(key: paylink.agent)
            try await Self.setPayment(paylink, processing, .processing)
            let challenged = try await client.createLink(key: paylink.agent)
            try await Self.setPayment(paylink, challenged, .requiresAction, redirectURL: Self.psp + "/3ds/ch_1")
            for (link, query) in [(processing, ""), (challenged, ""), (challenged, "?charge=ch_1&redirect_status=succeeded")] {
                let page = try await client.send(.get, "/p/\(Self.token(link))\(query)", key: nil)
                #expect(page.status == .ok)
                try Self.expectPageHeaders(page)
                #expect(page.text.contains("Confirming your payment"))
                #expect(page.text.contains("GBP 19.99"))
                #expect(!page.text.contains(#"id="cc-number""#), "no card form while an attempt is in flight")
                #expect(try Self.config(page)["state"] as? String == "confirming")
                #expect(page.text.contains(#"id="continue""#) && page.text.contains(#"id="help""#))
            }
            // The page only looked: the attempt is still where it was.
            let status = try await client.send(.get, "/p/\(Self.token(challenged))/status", key: nil).jsonObject()
            #expect((status["payment"] as? [String: Any])?["status"] as? String == "requires_action")
        }
    }

    /// An attempt in flight when the link expires may still succeed (recorded as late): the
    /// customer waits for its outcome instead of being told the link is gone.
    @Test func paymentInFlightOutranksExpiry() async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let link = try await client.createLink(key: paylink.agent, #"{"amount": 1999, "currency": "GBP", "reference": "r", "expires_in": 300}"#)
            try await Self.setPayment(paylink, link, .requiresAction, redirectURL: Self.psp + "/3ds/ch_1")
            paylink.clock.advance(by: 301)
            let page = try await client.send(.get, "/p/\(Self.token(link))", key: nil)
            #expect(page.status == .ok)
            #expect(try Self.config(page)["state"] as? String == "confirming")
        }
    }

    @Test func paidLinkShowsAReceiptWithBrandAndLastFourOnly() async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let link = try await client.createLink(
                key: paylink.agent, #"{"amount": 1999, "currency": "GBP", "reference": "INV-9", "description": "Secret order notes"}"#)
            try await Self.setPayment(paylink, link, .succeeded)
            let page = try await client.send(.get, "/p/\(Self.token(link))", key: nil)
            #expect(page.status == .ok)
            try Self.expectPageHeaders(page)
            for text in ["Payment received", "GBP 19.99", "INV-9", "Visa ending in 4242"] {
                #expect(page.text.contains(text), "\(text)")
            }
            #expect(!page.text.contains("Secret order notes"), "a receipt shows amount, reference and card only")
            #expect(!page.text.contains("<script") && !page.text.contains("<form"))
        }
    }

    @Test func lockedLinkIs409AndStillOffersHelp() async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let link = try await client.createLink(key: paylink.agent)
            try await Self.setPayment(paylink, link, .declined, declineCode: "generic_decline", locked: true)
            let page = try await client.send(.get, "/p/\(Self.token(link))", key: nil)
            #expect(page.status == .conflict)
            try Self.expectPageHeaders(page)
            #expect(page.text.contains("Too many attempts") && page.text.contains("ask the agent for a new link"))
            #expect(page.text.contains(#"id="help""#))
            #expect(!page.text.contains(#"id="cc-number""#) && !page.text.contains("order-1"))
            #expect(try Self.config(page)["state"] as? String == "locked")
        }
    }

    enum Closed: String, CaseIterable, Sendable { case expired, cancelled }

    @Test(arguments: Closed.allCases) func closedLinkIs410AndSaysContactTheAgent(_ closed: Closed) async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let link = try await client.createLink(key: paylink.agent)
            switch closed {
            case .expired: paylink.clock.advance(by: 1801)
            case .cancelled: try await client.send(.post, "/v1/links/\(link["id"]!)/cancel", key: paylink.agent)
            }
            let page = try await client.send(.get, "/p/\(Self.token(link))", key: nil)
            #expect(page.status == .gone)
            try Self.expectPageHeaders(page)
            #expect(page.text.contains("contact the agent"))
            #expect(!page.text.contains("order-1") && !page.text.contains("<script") && !page.text.contains("<form"))
        }
    }

    @Test func aDeclinedAttemptIsExplainedAndTheFormComesBack() async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let declined = try await client.createLink(key: paylink.agent, #"{"amount": 1999, "currency": "GBP", "reference": "r", "locale": "zh-Hans"}"#)
            try await Self.setPayment(paylink, declined, .declined, declineCode: "insufficient_funds")
            let page = try await client.send(.get, "/p/\(Self.token(declined))", key: nil)
            #expect(page.status == .ok)
            #expect(page.text.contains(#"<p id="message" role="alert">您的银行卡余额不足。请换一张卡。</p>"#))
            #expect(page.text.contains(#"id="cc-number""#))
            let failed = try await client.createLink(key: paylink.agent)
            try await Self.setPayment(paylink, failed, .failed, failureCode: "authentication_failed")
            let again = try await client.send(.get, "/p/\(Self.token(failed))", key: nil)
            #expect(again.text.contains("Your bank could not confirm the payment"))
            // A lost or stolen card reads as a plain decline (Stripe's advice).
            #expect(PageStrings.forLocale("en").declineMessage("stolen_card") == PageStrings.forLocale("en")[.declined])
        }
    }

    @Test func storageOutageIsA503Page() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        var unreachable = paylink.configuration
        unreachable.databaseURL = "postgres://paylink@127.0.0.1:1/paylink_test?sslmode=disable"
        unreachable.databaseTimeout = .seconds(1)
        unreachable.masterKey = Data(repeating: 7, count: 32).base64EncodedString()
        var quiet = Logger(label: "paylink-test")
        quiet.logLevel = .critical
        let runtime = try PaylinkRuntime.make(unreachable, clock: paylink.clock, logger: quiet)
        let app = Application(router: try buildRouter(runtime), services: runtime.services)
        try await app.test(.router) { client in
            let page = try await client.send(.get, "/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", key: nil, headers: ["Accept-Language": "zh-TW"])
            #expect(page.status == .serviceUnavailable)
            #expect(page.headers[.retryAfter] != nil)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.headers[.cacheControl] == "no-store")
            #expect(page.text.contains("暫時無法使用"))
        }
    }

    // MARK: - Opening changes nothing; no oracle

    /// SPEC §3: a GET alone (a link previewer, a scanner) emits nothing and consumes nothing.
    @Test func aGetAppendsNoEvents() async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let link = try await client.createLink(key: paylink.agent)
            let confirming = try await client.createLink(key: paylink.agent)
            try await Self.setPayment(paylink, confirming, .processing)
            for target in [link, confirming] {
                let before = try await Self.events(client, paylink, target)
                for agent in ["Slackbot-LinkExpanding 1.0", "WhatsApp/2.23", "curl/8.5.0", "Mozilla/5.0 (iPhone)"] {
                    let page = try await client.send(.get, "/p/\(Self.token(target))", key: nil, headers: ["User-Agent": agent])
                    #expect(page.status == .ok)
                }
                let after = try await Self.events(client, paylink, target)
                #expect(after.count == before.count, "a GET appended \(after.count - before.count) events")
            }
            // The control: the page's script reporting a human view does append one.
            let opened = try await client.send(.post, "/p/\(Self.token(link))/progress", key: nil, json: #"{"type": "link.opened"}"#)
            #expect(opened.status == .ok)
            #expect(try await Self.events(client, paylink, link).contains { $0["type"] as? String == "link.opened" })
        }
    }

    @Test func alteredOrTruncatedTokensGetTheIdenticalNotFoundPage() async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let token = Self.token(try await client.createLink(key: paylink.agent))
            func page(_ token: String) async throws -> TestResponse {
                try await client.send(.get, "/p/\(token)", key: nil, headers: ["Accept-Language": "en-GB"])
            }
            let reference = try await page("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            #expect(reference.status == .notFound)
            try Self.expectPageHeaders(reference)
            #expect(reference.text.contains("Link not valid"))
            let last = token.last == "A" ? "B" : "A"
            let slashed = token.prefix(20) + "/" + token.dropFirst(21)
            for variant in [
                String(token.dropLast()), String(token.prefix(10)), String(token.dropLast()) + last, "x" + token.dropFirst(), token + "A",
                "", String(slashed), token + "/extra", "%zz" + token.dropFirst(3),
            ] {
                let response = try await page(variant)
                #expect(response.status == .notFound)
                #expect(Self.withoutNonce(response) == Self.withoutNonce(reference), "\(variant)")
            }
            let bare = try await client.send(.get, "/p", key: nil, headers: ["Accept-Language": "en-GB"])
            #expect(Self.withoutNonce(bare) == Self.withoutNonce(reference))
            // Percent-encoding a character names the same URL (RFC 3986 §6.2.2.2): the same link.
            let encoded = "%" + String(token.utf8.first!, radix: 16, uppercase: true) + token.dropFirst()
            #expect(try await page(encoded).status == .ok)
        }
    }

    /// Body and headers with the per-response nonce blanked: all that may differ.
    static func withoutNonce(_ response: TestResponse) -> String {
        let headers = response.headers.map { "\($0.name): \($0.value)" }.sorted().joined(separator: "\n")
        return (headers + "\n\n" + response.text).replacing(/nonce-[A-Za-z0-9_-]+|nonce="[A-Za-z0-9_-]+"/, with: "NONCE")
    }

    // MARK: - Locale and escaping

    /// SPEC §3: the page is "in the link's locale", whatever language the browser asks for.
    @Test func localeComesFromTheLinkWhateverTheBrowserAsks() async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let hant = try await client.createLink(key: paylink.agent, #"{"amount": 1999, "currency": "GBP", "reference": "r", "locale": "zh-Hant"}"#)
            let hans = try await client.createLink(key: paylink.agent, #"{"amount": 1999, "currency": "GBP", "reference": "r", "locale": "zh-Hans"}"#)
            let english = try await client.createLink(key: paylink.agent, #"{"amount": 1999, "currency": "GBP", "reference": "r"}"#)
            let headers: [String?] = [nil, "zh-CN", "zh-TW", "en-GB,en;q=0.9", "en-US", "fr-FR,de;q=0.8", "zh"]
            let cases = headers.flatMap { header in
                [(hant, header, "zh-Hant", "卡號"), (hans, header, "zh-Hans", "卡号"), (english, header, "en", "Card number")]
            }
            for (link, header, lang, label) in cases {
                let page = try await client.send(.get, "/p/\(Self.token(link))", key: nil, headers: header.map { ["Accept-Language": $0] } ?? [:])
                #expect(page.text.contains(#"<html lang="\#(lang)">"#), "\(header ?? "none") → \(lang)")
                #expect(page.text.contains(#"<label for="cc-number">\#(label)</label>"#), "\(header ?? "none")")
                #expect(page.headers[.contentLanguage] == lang)
                let messages = try #require(try Self.config(page)["t"] as? [String: String])
                #expect(messages["declined"] == PageStrings.forLocale(lang)[.declined])
            }
        }
    }

    @Test func everyLocaleSaysEverything() {
        for locale in PageLocale.supported {
            let strings = PageStrings.forLocale(locale)
            #expect(strings.lang == locale)
            for key in PageStrings.Key.allCases {
                #expect(strings.has(key), "\(locale) lacks \(key.rawValue)")
            }
            #expect(strings[.timeLeft].contains("%s"))
        }
    }

    @Test func referenceAndDescriptionAreEscaped() async throws {
        let paylink = try await Self.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let hostile = #"</script><img src=x onerror=alert(1)>\"'&amp;"#
            let link = try await client.createLink(
                key: paylink.agent, #"{"amount": 1999, "currency": "GBP", "reference": "<b>R&D</b>", "description": "\#(hostile)"}"#)
            let page = try await client.send(.get, "/p/\(Self.token(link))", key: nil)
            #expect(page.status == .ok)
            #expect(page.text.contains("&lt;b&gt;R&amp;D&lt;/b&gt;"))
            #expect(page.text.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;amp;"))
            #expect(!page.text.contains("<img") && !page.text.contains("<b>"))
            #expect(page.text.components(separatedBy: "</script>").count == 3, "only the page's own two scripts close")
        }
    }

    @Test func scriptConfigurationCannotCloseItsElement() throws {
        let json = PaymentPageController.scriptJSON(["t": ["x": "</script><!-- & >"]])
        #expect(!json.contains("<") && !json.contains(">") && !json.contains("&"))
        let decoded = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [String: String]]
        #expect(decoded?["t"]?["x"] == "</script><!-- & >")
    }

    @Test(arguments: [
        ("zh-CN", "en", "zh-Hans"), ("zh-sg", "en", "zh-Hans"), ("zh-Hant-TW", "en", "zh-Hant"), ("zh-hk", "zh-Hans", "zh-Hant"),
        ("zh-MO", "en", "zh-Hant"), ("zh", "en", "zh-Hans"), ("zh", "zh-Hant", "zh-Hant"), ("en-US", "zh-Hans", "en"),
        ("de, fr", "zh-Hans", "zh-Hans"), ("*", "zh-Hant", "zh-Hant"), ("de;q=1, zh-TW;q=0.2, en;q=0.1", "en", "zh-Hant"),
        ("en;q=0.1, zh-CN;q=0.9", "en", "zh-Hans"), ("", "zh-Hant", "zh-Hant"), (";q=1,,", "en", "en"),
    ])
    func acceptLanguageNegotiation(_ header: String, _ linkLocale: String, _ expected: String) {
        #expect(PageLocale.negotiate(acceptLanguage: header, linkLocale: linkLocale) == expected)
    }
}
