import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing

@testable import Paylink

/// The payment page in a real browser, end to end: headless Chromium (over WebDriver) opens a
/// link, types a card and pays — the page's own script tokenising at the sandbox PSP across
/// origins — while the agent's Server-Sent Events stream, read independently, must show every
/// step in order. Skipped where chromedriver is not installed; CI installs it.
@Suite(
    "Paying in a real browser", .serialized,
    .enabled(if: Browser.isAvailable, "needs chromedriver and Chromium (apt: chromium chromium-driver)"))
struct BrowserPaymentTests {
    static let english = PageStrings.forLocale("en")

    /// What one browser checkout has to hand.
    struct Checkout: Sendable {
        let browser: WebDriverSession
        let stream: SSEClient
        let agent: AgentClient
        let sandbox: RunningSandbox
        let base: String
        let linkID: String
        let linkURL: String
    }

    /// Runs `body` with a sandbox PSP, a live Paylink on a port chosen up front (the page's
    /// origin must be Paylink's `publicURL` and one the sandbox accepts tokens from), a new link,
    /// the agent's stream of it, and a browser. `afterShutdown` sees the data directory once
    /// Paylink has stopped, before it is removed.
    func withCheckout(
        afterShutdown: (URL) throws -> Void = { _ in }, _ body: @Sendable (Checkout) async throws -> Void
    ) async throws {
        let port = try await Self.freeLoopbackPort()
        let origin = "http://127.0.0.1:\(port)"
        let sandbox = try await RunningSandbox.start(allowedOrigin: origin)
        do {
            let paylink = try await TestPaylink.withPSP(sandbox: sandbox) { configuration in
                configuration.port = port
                configuration.publicURL = origin
            }
            defer { paylink.cleanUp() }
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                try await Self.serving(paylink, at: origin, http: http) {
                    sandbox.sendWebhooks(to: origin)
                    let agent = AgentClient(http: http, base: origin, key: paylink.agent)
                    let link = try await agent.createLink(#"{"amount": 1999, "currency": "GBP", "reference": "order-browser"}"#)
                    let linkID = try #require(link["id"] as? String)
                    let linkURL = try #require(link["url"] as? String)
                    #expect(linkURL.hasPrefix(origin + "/p/"))
                    let stream = SSEClient(url: origin + "/v1/links/\(linkID)/events/stream", key: paylink.agent, client: http)
                    defer { stream.disconnect() }
                    try await Browser.withSession { browser in
                        try await body(
                            Checkout(
                                browser: browser, stream: stream, agent: agent, sandbox: sandbox, base: origin, linkID: linkID,
                                linkURL: linkURL))
                    }
                }
                try await http.shutdown()
            } catch {
                try? await http.shutdown()
                throw error
            }
            try afterShutdown(paylink.directory)
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }

    /// Runs Paylink itself on its configured port — HummingbirdTesting's `.live` always binds
    /// port 0, and the browser needs the page on the origin configured as `publicURL` — then
    /// shuts it down gracefully, whatever `body` did.
    static func serving(_ paylink: TestPaylink, at origin: String, http: HTTPClient, _ body: () async throws -> Void) async throws {
        var logger = Logger(label: "paylink-test")
        logger.logLevel = .warning
        let app = try await buildApplication(paylink.configuration, clock: paylink.clock, logger: logger, onBootstrapKey: { _, _, _ in })
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: logger)
        let running = Task { try await group.run() }
        var failure: (any Error)?
        do {
            try await waitUntilHealthy(origin, http: http)
            try await body()
        } catch {
            failure = error
        }
        await group.triggerGracefulShutdown()
        let stopped = await running.result
        if let failure { throw failure }
        try stopped.get()
    }

    /// Polls `/healthz` until the server answers (bounded: 10 s).
    static func waitUntilHealthy(_ origin: String, http: HTTPClient) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let response = try? await http.execute(HTTPClientRequest(url: origin + "/healthz"), timeout: .seconds(2)) {
                _ = try? await response.body.collect(upTo: 4096)
                if response.status == .ok { return }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("Paylink did not answer on \(origin) within 10 s")
    }

    @Test("4242 typed in Chromium pays: the stream shows each step in order, the receipt shows only the last four")
    func cardPaysInTheBrowser() async throws {
        try await withCheckout(afterShutdown: { directory in
            // The canary, with a real browser: the full number reached no file Paylink wrote.
            let (files, hits) = Self.files(under: directory, containing: ["4242424242424242", "4242 4242 4242 4242"])
            #expect(files > 0, "the data directory was searched")
            #expect(hits.isEmpty, "full card number found in \(hits)")
        }) { checkout in
            let browser = checkout.browser, stream = checkout.stream
            try await browser.open(checkout.linkURL)
            #expect(await stream.wait { Self.types($0).contains("link.opened") }, "the page reports that a person sees it")
            try await browser.type("4242 4242 4242 4242", into: "#cc-number")
            #expect(try await browser.string("return document.getElementById('cc-number').value") == "4242 4242 4242 4242")
            #expect(try await browser.string("return document.getElementById('cc-brand').textContent") == "Visa")
            try await Self.completeCard(browser)
            try await Self.pay(checkout)
            try await browser.waitUntil("the receipt", Self.heading(Self.english[.receiptTitle]))

            let page = try await browser.string("return document.body.innerText")
            #expect(page.contains("Visa \(Self.english[.endingIn]) 4242"), "\(page)")
            try await Self.expectNoFullNumber(browser, "4242424242424242", "4242 4242 4242 4242")
            #expect(try await browser.run("return document.querySelectorAll('input').length") as? Int == 0, "the receipt has no card form")

            #expect(await stream.wait { Self.types($0).contains("payment.succeeded") })
            // The sandbox's webhook comes a moment later and must not add a second success.
            try await Task.sleep(for: .milliseconds(600))
            let seen = Self.events(stream)
            #expect(
                seen.map(\.type)
                    == ["link.created", "link.opened"] + Self.entrySteps
                    + ["payment.submitted", "payment.fraud_check", "payment.succeeded"])
            #expect(Self.fields(seen) == ["cvc", "expiry", "name", "number"], "each field once, by name only")
            #expect(seen.first { $0.type == "payment.fraud_check" }?.data["outcome"] as? String == "pass")
            #expect(stream.ids == stream.ids.sorted() && Set(stream.ids).count == stream.ids.count, "ids rise: \(stream.ids)")
            #expect(!stream.messages.contains { $0.data.contains("4242424242424242") })

            let link = try await checkout.agent.link(checkout.linkID)
            #expect(link["status"] as? String == "paid")
            let payment = try #require(link["payment"] as? [String: Any])
            #expect(payment["status"] as? String == "succeeded")
            #expect(payment["card"] as? [String: String] == ["brand": "visa", "last4": "4242"])
        }
    }

    @Test("a declined card in Chromium: the alert says so, number and CVC are cleared, and the form pays with another card")
    func declinedCardInTheBrowser() async throws {
        try await withCheckout { checkout in
            let browser = checkout.browser, stream = checkout.stream
            try await browser.open(checkout.linkURL)
            #expect(await stream.wait { Self.types($0).contains("link.opened") })
            try await browser.type("4000 0000 0000 0002", into: "#cc-number")
            try await Self.completeCard(browser)
            try await Self.pay(checkout)

            #expect(await stream.wait { Self.types($0).contains("payment.declined") })
            let declined = try #require(Self.events(stream).first { $0.type == "payment.declined" })
            #expect(declined.data["decline_code"] as? String == "generic_decline")
            try await browser.waitUntil("the decline message", "return document.getElementById('message').textContent !== ''")
            #expect(try await browser.string("return document.getElementById('message').textContent") == Self.english[.declined])
            #expect(try await browser.string("return document.getElementById('message').getAttribute('role')") == "alert")
            // Usable again: Pay enabled, the spent card's number and CVC gone, the rest kept, focus on the number.
            #expect(try await browser.run("return document.getElementById('pay').disabled") as? Bool == false)
            #expect(try await browser.string("return document.getElementById('cc-number').value") == "")
            #expect(try await browser.string("return document.getElementById('cc-csc').value") == "")
            #expect(try await browser.string("return document.getElementById('cc-exp').value") == "12/34")
            #expect(try await browser.string("return document.activeElement.id") == "cc-number")
            #expect(
                Self.types(stream)
                    == ["link.created", "link.opened"] + Self.entrySteps
                    + ["payment.submitted", "payment.fraud_check", "payment.declined"])

            // Another card, in the same form.
            try await browser.type("4242 4242 4242 4242", into: "#cc-number")
            try await browser.type("123", into: "#cc-csc")
            try await Self.pay(checkout, entries: 2)
            try await browser.waitUntil("the receipt", Self.heading(Self.english[.receiptTitle]))
            #expect(try await browser.string("return document.body.innerText").contains("Visa \(Self.english[.endingIn]) 4242"))
            try await Self.expectNoFullNumber(browser, "4000000000000002", "4000 0000 0000 0002", "4242424242424242", "4242 4242 4242 4242")
            #expect(await stream.wait { Self.types($0).contains("payment.succeeded") })
            let retry = Array(Self.events(stream).drop { $0.type != "payment.declined" }.dropFirst())
            // The page resets its report marks after a decline, so the kept expiry and name are
            // reported again when Pay checks every field — after entry completed, and racing the
            // payment — hence steps checked in order and fields as a set.
            #expect(
                retry.map(\.type).filter { $0 != "payment.card_field_completed" }
                    == ["payment.card_entry_started", "payment.card_entry_completed", "payment.submitted", "payment.fraud_check",
                        "payment.succeeded"])
            let retyped = Self.fields(retry)
            #expect(Set(retyped).isSuperset(of: ["cvc", "number"]) && Set(retyped).count == retyped.count, "\(retyped)")
            #expect(Self.types(stream).filter { $0 == "payment.succeeded" }.count == 1)
            #expect(try await checkout.agent.link(checkout.linkID)["status"] as? String == "paid")
        }
    }

    @Test("3-D Secure in Chromium: the page goes to the bank's challenge, Approve brings it back to a receipt")
    func threeDSecureInTheBrowser() async throws {
        try await withCheckout { checkout in
            let browser = checkout.browser, stream = checkout.stream
            try await browser.open(checkout.linkURL)
            #expect(await stream.wait { Self.types($0).contains("link.opened") })
            try await browser.type("4000 0000 0000 3220", into: "#cc-number")
            try await Self.completeCard(browser)
            try await Self.pay(checkout)

            let challenge = checkout.sandbox.url + "/3ds/"
            try await browser.waitUntil("the sandbox's challenge page", "return location.href.indexOf(\(Self.js(challenge))) === 0")
            #expect(await stream.wait { Self.types($0).last == "payment.authentication_required" })
            #expect(try await browser.string("return document.body.innerText").contains("ending 3220"))
            try await browser.click("//button[normalize-space()='Approve']", xpath: true)

            // Back on /p/TOKEN: the page polls /status until the webhook has settled the payment.
            try await browser.waitUntil(
                "the receipt after 3-D Secure", timeout: .seconds(30),
                "return location.href.indexOf(\(Self.js(checkout.linkURL))) === 0 && \(Self.headingTest(Self.english[.receiptTitle]))")
            #expect(try await browser.string("return document.body.innerText").contains("Visa \(Self.english[.endingIn]) 3220"))
            try await Self.expectNoFullNumber(browser, "4000000000003220", "4000 0000 0000 3220")

            #expect(await stream.wait { Self.types($0).contains("payment.succeeded") })
            try await Task.sleep(for: .milliseconds(600))
            #expect(
                Self.types(stream)
                    == ["link.created", "link.opened"] + Self.entrySteps
                    + ["payment.submitted", "payment.fraud_check", "payment.authentication_required", "payment.succeeded"])
            let link = try await checkout.agent.link(checkout.linkID)
            #expect(link["status"] as? String == "paid")
            #expect((link["payment"] as? [String: Any])?["card"] as? [String: String] == ["brand": "visa", "last4": "3220"])
        }
    }

    // MARK: - The customer's hands

    /// The steps of typing a card, each field reported once (in any order among the four).
    static let entrySteps = ["payment.card_entry_started"] + Array(repeating: "payment.card_field_completed", count: 4) + [
        "payment.card_entry_completed"
    ]

    /// Expiry, CVC and name, typed after the number.
    static func completeCard(_ browser: WebDriverSession) async throws {
        try await browser.type("1234", into: "#cc-exp")
        #expect(try await browser.string("return document.getElementById('cc-exp').value") == "12/34", "MM/YY as typed")
        try await browser.type("123", into: "#cc-csc")
        try await browser.type("Ada Lovelace", into: "#cc-name")
    }

    /// Presses Pay once the agent's stream has seen the card complete (`entries` times so far).
    /// A person takes longer than that between the last key and the button; waiting keeps
    /// "entry completed, then submitted" a fact the test can assert rather than a race.
    static func pay(_ checkout: Checkout, entries: Int = 1) async throws {
        let complete = await checkout.stream.wait { types($0).filter { $0 == "payment.card_entry_completed" }.count == entries }
        #expect(complete, "card entry completed \(entries)×: \(types(checkout.stream))")
        #expect(try await checkout.browser.run("return document.getElementById('pay').disabled") as? Bool == false)
        try await checkout.browser.click("#pay")
    }

    static func expectNoFullNumber(_ browser: WebDriverSession, _ numbers: String...) async throws {
        let html = try await browser.string("return document.documentElement.outerHTML")
        let values = try await browser.string("return Array.from(document.querySelectorAll('input')).map(function (e) { return e.value; }).join('|')")
        #expect(!html.isEmpty)
        for number in numbers {
            #expect(!html.contains(number), "the page holds \(number)")
            #expect(!values.contains(number), "an input holds \(number)")
        }
    }

    // MARK: - Reading the stream and the page

    static func events(_ stream: SSEClient) -> [(type: String, data: [String: Any])] {
        stream.messages.map { message in
            let object = (try? JSONSerialization.jsonObject(with: Data(message.data.utf8))) as? [String: Any] ?? [:]
            return (message.event ?? "", object["data"] as? [String: Any] ?? [:])
        }
    }

    static func types(_ stream: SSEClient) -> [String] { stream.messages.map { $0.event ?? "" } }

    static func fields(_ events: [(type: String, data: [String: Any])]) -> [String] {
        events.filter { $0.type == "payment.card_field_completed" }.map { $0.data["field"] as? String ?? "?" }.sorted()
    }

    static func heading(_ text: String) -> String { "return " + headingTest(text) }

    static func headingTest(_ text: String) -> String {
        "!!document.querySelector('h1') && document.querySelector('h1').textContent === \(js(text))"
    }

    /// A Swift string as a JavaScript string literal.
    static func js(_ text: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: text, options: [.fragmentsAllowed]), as: UTF8.self)
    }

    /// How many files under `directory` were read, and which of them contain any of `needles`.
    static func files(under directory: URL, containing needles: [String]) -> (files: Int, hits: [String]) {
        var files = 0
        var hits: [String] = []
        let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = enumerator?.nextObject() as? URL {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true,
                let data = try? Data(contentsOf: url)
            else { continue }
            files += 1
            for needle in needles where data.range(of: Data(needle.utf8)) != nil { hits.append("\(url.lastPathComponent): \(needle)") }
        }
        return (files, hits)
    }

    /// A port nothing listens on right now: bound on loopback, read, released.
    static func freeLoopbackPort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port
        try await channel.close()
        guard let port else { throw TestFailure("no port bound") }
        return port
    }
}
