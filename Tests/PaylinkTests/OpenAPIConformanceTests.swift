import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SandboxPSP
import Testing

@testable import Paylink

/// SPEC §2: "every response the server gives matches" the OpenAPI document. These tests hold
/// the served document to that: every route is described, and every response of a realistic
/// session, successes and failures alike, fits the schema declared for its operation and status.
@Suite("OpenAPI conformance")
struct OpenAPIConformanceTests {
    /// The routes `buildRouter` registers today, as (method, OpenAPI path template).
    static let registeredRoutes: [(method: String, path: String)] = [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/v1/openapi.json"),
        ("POST", "/v1/links"),
        ("GET", "/v1/links"),
        ("GET", "/v1/links/{id}"),
        ("POST", "/v1/links/{id}/cancel"),
        ("POST", "/v1/links/{id}/extend"),
        ("GET", "/v1/links/{id}/events"),
        ("GET", "/v1/links/{id}/events/stream"),
        ("GET", "/v1/events/stream"),
        ("GET", "/p/{token}"),
        ("POST", "/p/{token}/progress"),
        ("POST", "/p/{token}/pay"),
        ("GET", "/p/{token}/status"),
        ("POST", "/webhooks/sandbox"),
    ]

    @Test func servedDocumentIsOpenAPI31AndDescribesEveryRoute() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let response = try await client.send(.get, "/v1/openapi.json", key: nil)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
            let contract = try APIContract(Data(buffer: response.body))
            let version = try #require(contract.root["openapi"]?.stringValue)
            #expect(version.hasPrefix("3.1."), "openapi is \(version)")
            #expect(contract.root["info"]?["title"]?.stringValue?.isEmpty == false)
            for route in Self.registeredRoutes {
                #expect(contract.operation(route.method, route.path) != nil, "\(route.method) \(route.path) is not in paths")
            }
            // Every $ref in the document resolves, so no schema silently checks nothing.
            #expect(contract.unresolvedReferences().isEmpty, "unresolved: \(contract.unresolvedReferences())")
        }
    }

    /// The router itself is the source of truth: a route added without documenting it fails
    /// here rather than reaching clients undescribed, and so does documentation of a route that
    /// is gone. The hard-coded list above must stay true of the router too.
    @Test func documentedRoutesAreExactlyTheRouterRoutes() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        let runtime = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
        let registered = Set(try buildRouter(runtime).routes.map { "\($0.method.rawValue) \($0.path.description)" })
        let listed = Set(Self.registeredRoutes.map { "\($0.method) \($0.path)" })
        #expect(listed.subtracting(registered).isEmpty, "listed but not registered: \(listed.subtracting(registered).sorted())")
        let contract = try APIContract(try #require(OpenAPIController.document, "openapi.json is not in the library's bundle"))
        let documented = Set(contract.operations.map { "\($0.method) \($0.path)" })
        #expect(registered.subtracting(documented).isEmpty, "undocumented routes: \(registered.subtracting(documented).sorted())")
        #expect(documented.subtracting(registered).isEmpty, "documented but not served: \(documented.subtracting(registered).sorted())")
    }

    @Test func everyResponseOfARealisticSessionMatchesTheDocument() async throws {
        // A PSP address that refuses connections, so the page's pay endpoint answers 503 at once.
        let paylink = try await TestPaylink.make { $0.pspURL = "http://127.0.0.1:1" }
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let contract = try APIContract(Data(buffer: try await client.send(.get, "/v1/openapi.json", key: nil).body))

            /// Sends one request and checks the response against the document, naming every mismatch.
            @discardableResult
            func exchange(
                _ method: HTTPRequest.Method, _ uri: String, key: String? = paylink.agent, json: String? = nil,
                headers: [String: String] = [:], expect status: HTTPResponse.Status, code: String? = nil,
                sourceLocation: SourceLocation = #_sourceLocation
            ) async throws -> TestResponse {
                let response = try await client.send(method, uri, key: key, json: json, headers: headers)
                #expect(response.status == status, "\(method) \(uri): \(response.text)", sourceLocation: sourceLocation)
                if let code { #expect(response.errorCode == code, "\(method) \(uri): \(response.text)", sourceLocation: sourceLocation) }
                let problems = contract.problems(
                    method: method.rawValue, uri: uri, requestBody: json, status: Int(response.status.code),
                    headers: response.headers, body: Data(buffer: response.body))
                #expect(
                    problems.isEmpty, "\(method) \(uri) → \(response.status.code) does not match the document:\n\(problems.joined(separator: "\n"))",
                    sourceLocation: sourceLocation)
                return response
            }

            // Operations, unauthenticated.
            try await exchange(.get, "/healthz", key: nil, expect: .ok)
            try await exchange(.get, "/readyz", key: nil, expect: .ok)
            try await exchange(.get, "/metrics", key: nil, expect: .ok)
            try await exchange(.get, "/v1/openapi.json", key: nil, expect: .ok)

            // Create with every optional field, retry it, and create the minimum.
            let fullBody = #"""
                {"amount": 1999, "currency": "GBP", "reference": "order-1", "description": "Boiler service", "locale": "zh-Hant",
                 "expires_in": 900, "customer": {"name": "Ada", "email": "ada@example.com", "phone": "+447700900123"},
                 "metadata": {"crm": "42", "agent_note": "call back"}, "conversation": {"channel": "chat", "id": "conv-9"}}
                """#
            let created = try await exchange(
                .post, "/v1/links", json: fullBody, headers: ["Idempotency-Key": "create-full-1"], expect: .created)
            let full = try created.jsonObject()
            let fullID = try #require(full["id"] as? String)
            let replay = try await exchange(
                .post, "/v1/links", json: fullBody, headers: ["Idempotency-Key": "create-full-1"], expect: .created)
            #expect(replay.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(replay.text == created.text)
            let minimal = try await exchange(
                .post, "/v1/links", json: #"{"amount": 500, "currency": "JPY", "reference": "order-2"}"#, expect: .created
            ).jsonObject()
            let minimalID = try #require(minimal["id"] as? String)
            try await exchange(
                .post, "/v1/links", json: #"{"amount": 1500, "currency": "KWD", "reference": "order-3", "customer": {"email": "kw@example.com"}, "description": null, "metadata": null}"#,
                expect: .created)

            // Read and list.
            try await exchange(.get, "/v1/links/\(fullID)", expect: .ok)
            try await exchange(.get, "/v1/links/\(minimalID)", key: paylink.supervisor, expect: .ok)
            let page = try await exchange(.get, "/v1/links", expect: .ok).jsonObject()
            #expect((page["data"] as? [Any])?.count == 3)
            try await exchange(.get, "/v1/links?limit=1", expect: .ok)
            try await exchange(.get, "/v1/links?limit=2&starting_after=\(minimalID)", expect: .ok)
            try await exchange(.get, "/v1/links?status=open&reference=order-1", expect: .ok)
            try await exchange(.get, "/v1/links?customer_email=ada@example.com", expect: .ok)
            try await exchange(.get, "/v1/links?customer_phone=%2B447700900123&limit=100", expect: .ok)
            try await exchange(.get, "/v1/links?status=paid", expect: .ok)
            try await exchange(.get, "/v1/links", key: paylink.admin, expect: .ok)

            // Change state: cancel (no body, then `{}` on a retry), cancel again, extend.
            try await exchange(.post, "/v1/links/\(minimalID)/cancel", expect: .ok)
            try await exchange(.post, "/v1/links/\(minimalID)/cancel", json: "{}", expect: .conflict, code: "link_cancelled")
            try await exchange(.post, "/v1/links/\(minimalID)/extend", json: #"{"expires_in": 600}"#, expect: .conflict, code: "link_cancelled")
            try await exchange(
                .post, "/v1/links/\(fullID)/extend", json: #"{"expires_in": 600}"#, headers: ["Idempotency-Key": "extend-1"], expect: .ok)
            try await exchange(.post, "/v1/links/\(fullID)/extend", expect: .ok)
            try await exchange(.get, "/v1/links?status=cancelled", expect: .ok)

            // Events, polled.
            let events = try await exchange(.get, "/v1/links/\(fullID)/events", expect: .ok).jsonObject()
            #expect((events["data"] as? [[String: Any]])?.map { $0["type"] as? String } == ["link.created", "link.extended", "link.extended"])
            try await exchange(.get, "/v1/links/\(fullID)/events?after=1&limit=1", expect: .ok)
            try await exchange(.get, "/v1/links/\(minimalID)/events", expect: .ok)

            // The customer's page: open, closed and not valid.
            let fullURL = try #require(full["url"] as? String)
            let minimalURL = try #require(minimal["url"] as? String)
            try await exchange(.get, String(fullURL.trimmingPrefix("https://pay.example.test")), key: nil, expect: .ok)
            try await exchange(.get, String(minimalURL.trimmingPrefix("https://pay.example.test")), key: nil, expect: .gone)
            try await exchange(.get, "/p/not-a-real-token", key: nil, expect: .notFound)

            // The page's own endpoints while the PSP cannot be reached: nothing is charged.
            let fullPage = String(fullURL.trimmingPrefix("https://pay.example.test"))
            try await exchange(.post, fullPage + "/progress", key: nil, json: #"{"type": "link.opened"}"#, expect: .ok)
            try await exchange(
                .post, fullPage + "/pay", key: nil, json: #"{"psp_token": "tok_unreachable"}"#, expect: .serviceUnavailable, code: "psp_unavailable")
            try await exchange(.get, fullPage + "/status", key: nil, expect: .ok)

            // 400: invalid input, unknown parameters, bad cursors and headers.
            try await exchange(
                .post, "/v1/links", json: #"{"amount": 0, "currency": "GBP", "reference": "r"}"#, expect: .badRequest, code: "amount_too_small")
            try await exchange(
                .post, "/v1/links", json: #"{"amount": 19.99, "currency": "GBP", "reference": "r"}"#, expect: .badRequest,
                code: "parameter_invalid_integer")
            try await exchange(
                .post, "/v1/links", json: #"{"amount": "1999", "currency": "GBP", "reference": "r"}"#, expect: .badRequest,
                code: "parameter_invalid_type")
            try await exchange(
                .post, "/v1/links", json: #"{"amount": 100, "currency": "gbp", "reference": "r"}"#, expect: .badRequest, code: "currency_invalid")
            try await exchange(.post, "/v1/links", json: #"{"amount": 100, "currency": "GBP"}"#, expect: .badRequest, code: "parameter_missing")
            try await exchange(
                .post, "/v1/links", json: #"{"amount": 100, "currency": "GBP", "reference": "r", "colour": "red"}"#, expect: .badRequest,
                code: "parameter_unknown")
            try await exchange(
                .post, "/v1/links", json: #"{"amount": 100, "currency": "GBP", "reference": "r", "customer": {"nick": "x"}}"#,
                expect: .badRequest, code: "parameter_unknown")
            try await exchange(.post, "/v1/links", json: #"{"amount": 100,"#, expect: .badRequest, code: "invalid_json")
            try await exchange(
                .post, "/v1/links", json: #"{"amount": 100, "currency": "GBP", "reference": "r"}"#, headers: ["Idempotency-Key": "has space"],
                expect: .badRequest, code: "idempotency_key_invalid")
            try await exchange(.post, "/v1/links/\(fullID)/cancel", json: #"{"reason": "x"}"#, expect: .badRequest, code: "parameter_unknown")
            try await exchange(
                .post, "/v1/links/\(fullID)/extend", json: #"{"expires_in": 60}"#, expect: .badRequest, code: "expires_in_out_of_range")
            try await exchange(.get, "/v1/links?colour=red", expect: .badRequest, code: "parameter_unknown")
            try await exchange(.get, "/v1/links?limit=0", expect: .badRequest, code: "parameter_invalid_integer")
            try await exchange(.get, "/v1/links?status=gone", expect: .badRequest, code: "parameter_invalid")
            try await exchange(.get, "/v1/links?starting_after=lnk_000000000000000000000000", expect: .badRequest, code: "resource_missing")
            try await exchange(.get, "/v1/links/\(fullID)/events?after=-1", expect: .badRequest, code: "parameter_invalid")
            try await exchange(.get, "/v1/links/\(fullID)/events/stream", headers: ["Last-Event-ID": "abc"], expect: .badRequest)
            try await exchange(.get, "/v1/events/stream?limit=5", expect: .badRequest, code: "parameter_unknown")

            // 401: no key, a wrong key, a key in the wrong scheme.
            try await exchange(.get, "/v1/links", key: nil, expect: .unauthorized, code: "api_key_missing")
            try await exchange(.get, "/v1/links/\(fullID)", key: "plk_wrong", expect: .unauthorized, code: "api_key_invalid")
            try await exchange(.post, "/v1/links", key: nil, json: fullBody, expect: .unauthorized)
            try await exchange(.get, "/v1/events/stream", key: nil, expect: .unauthorized)
            try await exchange(.get, "/v1/links/\(fullID)/events/stream", key: nil, expect: .unauthorized)

            // 404: unknown, malformed and someone else's links.
            let unknown = "lnk_000000000000000000000000"
            try await exchange(.get, "/v1/links/\(unknown)", expect: .notFound, code: "resource_missing")
            try await exchange(.get, "/v1/links/not-an-id", expect: .notFound, code: "resource_missing")
            try await exchange(.get, "/v1/links/\(fullID)", key: paylink.otherAgent, expect: .notFound, code: "resource_missing")
            try await exchange(.post, "/v1/links/\(unknown)/cancel", expect: .notFound)
            try await exchange(.post, "/v1/links/\(unknown)/extend", json: #"{"expires_in": 600}"#, expect: .notFound)
            try await exchange(.get, "/v1/links/\(unknown)/events", expect: .notFound)
            try await exchange(.get, "/v1/links/\(unknown)/events/stream", expect: .notFound)

            // 413 and 415: the body itself is refused.
            let oversized = #"{"amount": 100, "currency": "GBP", "reference": "r", "description": "\#(String(repeating: "x", count: 70_000))"}"#
            try await exchange(.post, "/v1/links", json: oversized, expect: .contentTooLarge, code: "body_too_large")
            try await exchange(
                .post, "/v1/links", json: #"{"amount": 100, "currency": "GBP", "reference": "r"}"#, headers: ["Content-Type": "text/plain"],
                expect: .unsupportedMediaType, code: "unsupported_media_type")
            try await exchange(
                .post, "/v1/links/\(fullID)/extend", json: #"{"expires_in": 600}"#, headers: ["Content-Type": "application/x-www-form-urlencoded"],
                expect: .unsupportedMediaType)

            // 422: the same Idempotency-Key with another body.
            try await exchange(
                .post, "/v1/links", json: #"{"amount": 2999, "currency": "GBP", "reference": "order-1"}"#,
                headers: ["Idempotency-Key": "create-full-1"], expect: .unprocessableContent, code: "idempotency_key_reused")
            try await exchange(
                .post, "/v1/links/\(fullID)/extend", json: #"{"expires_in": 900}"#, headers: ["Idempotency-Key": "extend-1"],
                expect: .unprocessableContent, code: "idempotency_key_reused")

            // Time runs out: the link reads as expired and can be neither extended nor cancelled.
            paylink.clock.advance(by: 7 * 24 * 60 * 60)
            let expired = try await exchange(.get, "/v1/links/\(fullID)", expect: .ok).jsonObject()
            #expect(expired["status"] as? String == "expired")
            try await exchange(.post, "/v1/links/\(fullID)/extend", expect: .conflict, code: "link_expired")
            try await exchange(.post, "/v1/links/\(fullID)/cancel", expect: .conflict, code: "link_expired")
            try await exchange(.get, "/v1/links?status=expired", expect: .ok)
            try await exchange(.get, String(fullURL.trimmingPrefix("https://pay.example.test")), key: nil, expect: .gone)
        }
    }

    /// The payment flow, live: a real sandbox PSP charges the cards, delivers signed webhooks,
    /// and every answer of the page's endpoints, the webhook receiver and the agent API about
    /// paid, declined, locked and 3-D Secure links fits the document, events included.
    @Test func everyResponseOfAPaymentSessionMatchesTheDocument() async throws {
        let sandbox = try await RunningSandbox.start()
        // Two declines lock a link and twelve reports a minute are allowed, so both refusals are quick to reach.
        let paylink = try await TestPaylink.withPSP(sandbox: sandbox) {
            $0.payments.maxDeclines = 2
            $0.payments.progressReportsPerMinute = 12
        }
        defer { paylink.cleanUp() }
        do {
            try await paylink.live(sandbox: sandbox) { base, http in
                try await Self.payingSession(paylink, sandbox: sandbox, base: base, http: http)
            }
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }

    static func payingSession(_ paylink: TestPaylink, sandbox: RunningSandbox, base: String, http: HTTPClient) async throws {
        let contract = try APIContract(Data(buffer: try await http.execute(HTTPClientRequest(url: base + "/v1/openapi.json"), timeout: .seconds(10)).body.collect(upTo: 1 << 20)))

        /// Sends one request over HTTP and checks the response against the document; returns the JSON body.
        @discardableResult
        func exchange(
            _ method: String, _ path: String, key: String? = nil, json: String? = nil, headers: [String: String] = [:],
            expect status: Int, code: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> JSONValue {
            var request = HTTPClientRequest(url: base + path)
            request.method = .init(rawValue: method)
            if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
            if let json {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: json))
            }
            for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
            let response = try await http.execute(request, timeout: .seconds(20))
            let body = Data(buffer: try await response.body.collect(upTo: 1 << 20))
            let text = String(decoding: body, as: UTF8.self)
            #expect(Int(response.status.code) == status, "\(method) \(path): \(text)", sourceLocation: sourceLocation)
            let parsed = (try? JSONValue.parse(body)) ?? .null
            if let code { #expect(parsed["error"]?["code"]?.stringValue == code, "\(method) \(path): \(text)", sourceLocation: sourceLocation) }
            var fields = HTTPFields()
            for header in response.headers {
                if let name = HTTPField.Name(header.name) { fields.append(HTTPField(name: name, value: header.value)) }
            }
            let problems = contract.problems(
                method: method, uri: path, requestBody: json, status: Int(response.status.code), headers: fields, body: body)
            #expect(
                problems.isEmpty, "\(method) \(path) → \(response.status.code) does not match the document:\n\(problems.joined(separator: "\n"))",
                sourceLocation: sourceLocation)
            return parsed
        }

        /// A new link, created and checked through the API, and its customer.
        func newLink(_ reference: String) async throws -> (id: String, page: String, customer: Customer) {
            let json = try await exchange(
                "POST", "/v1/links", key: paylink.agent, json: #"{"amount": 1999, "currency": "GBP", "reference": "\#(reference)"}"#,
                expect: 201)
            #expect(json["locked"] == .bool(false))
            #expect(json["payment"] == .null)
            let link: [String: Any] = [
                "id": try #require(json["id"]?.stringValue), "url": try #require(json["url"]?.stringValue), "amount": 1999, "currency": "GBP",
            ]
            let customer = Customer(http: http, sandbox: sandbox, paylink: base, link: link)
            return (customer.linkID, "/p/\(customer.token)", customer)
        }
        func paying(_ number: String, _ customer: Customer, card: String = "") async throws -> String {
            let token = try await customer.tokenise(number)
            return #"{"psp_token": "\#(token)"\#(card)}"#
        }
        func eventTypes(_ events: JSONValue) -> [String] {
            (events["data"]?.arrayValue ?? []).compactMap { $0["type"]?.stringValue }
        }

        // A: progress, a decline, then a successful card.
        let a = try await newLink("pay-a")
        #expect(try await exchange("POST", a.page + "/progress", json: #"{"type": "link.opened"}"#, expect: 200)["recorded"] == .bool(true))
        #expect(try await exchange("POST", a.page + "/progress", json: #"{"type": "link.opened"}"#, expect: 200)["recorded"] == .bool(false))
        try await exchange("POST", a.page + "/progress", json: #"{"type": "payment.card_entry_started"}"#, expect: 200)
        for field in ["number", "expiry", "cvc", "name"] {
            try await exchange("POST", a.page + "/progress", json: #"{"type": "payment.card_field_completed", "field": "\#(field)"}"#, expect: 200)
        }
        try await exchange("POST", a.page + "/progress", json: #"{"type": "payment.card_entry_completed", "field": null}"#, expect: 200)
        try await exchange(
            "POST", a.page + "/progress", json: #"{"type": "payment.card_field_completed"}"#, expect: 400, code: "parameter_missing")
        try await exchange(
            "POST", a.page + "/progress", json: #"{"type": "payment.card_field_completed", "field": "cvc", "value": "123"}"#, expect: 400,
            code: "parameter_unknown")
        try await exchange("POST", a.page + "/progress", json: #"{"type": "link.paid"}"#, expect: 400, code: "parameter_invalid")
        try await exchange(
            "POST", a.page + "/progress", json: #"{"type": "link.opened"}"#, headers: ["Content-Type": "text/plain"], expect: 415,
            code: "unsupported_media_type")
        #expect(try await exchange("GET", a.page + "/status", expect: 200) == .object(["link_status": .string("open"), "locked": .bool(false), "payment": .null]))

        try await exchange("POST", a.page + "/pay", json: #"{"psp_token": "tok_unknownUnknownUnknown"}"#, expect: 400, code: "psp_token_invalid")
        try await exchange("POST", a.page + "/pay", json: #"{"psp_token": "4242424242424242"}"#, expect: 400, code: "card_number_not_allowed")
        try await exchange("POST", a.page + "/pay", json: #"{"psp_token": "tok/../x"}"#, expect: 400, code: "psp_token_invalid")
        try await exchange(
            "POST", a.page + "/pay", json: try await paying("4242 4242 4242 4242", a.customer, card: #", "brand": "visa", "last4": "1111""#),
            expect: 400, code: "psp_token_mismatch")
        let declined = try await exchange("POST", a.page + "/pay", json: try await paying("4000 0000 0000 0002", a.customer), expect: 200)
        #expect(declined["link_status"]?.stringValue == "open")
        #expect(declined["payment"]?["status"]?.stringValue == "declined")
        let paid = try await exchange(
            "POST", a.page + "/pay", json: try await paying("4242 4242 4242 4242", a.customer, card: #", "brand": "visa", "last4": "4242""#),
            expect: 200)
        #expect(paid["link_status"]?.stringValue == "paid")
        _ = try #require(paid["payment"]?["id"]?.stringValue)
        try await exchange("GET", a.page + "/status", expect: 200)
        try await exchange("POST", a.page + "/pay", json: try await paying("4242 4242 4242 4242", a.customer), expect: 409, code: "link_paid")
        try await exchange("POST", a.page + "/progress", json: #"{"type": "payment.card_entry_started"}"#, expect: 409, code: "link_paid")
        let paidLink = try await exchange("GET", "/v1/links/\(a.id)", key: paylink.agent, expect: 200)
        #expect(paidLink["status"]?.stringValue == "paid")
        #expect(paidLink["payment"]?["status"]?.stringValue == "succeeded")
        try await exchange("GET", "/v1/links?status=paid", key: paylink.agent, expect: 200)
        // The sandbox's webhooks for both charges land a moment later and add nothing.
        try await Task.sleep(for: .milliseconds(400))
        let eventsA = try await exchange("GET", "/v1/links/\(a.id)/events?limit=100", key: paylink.agent, expect: 200)
        #expect(
            eventTypes(eventsA) == [
                "link.created", "link.opened", "payment.card_entry_started", "payment.card_field_completed", "payment.card_field_completed",
                "payment.card_field_completed", "payment.card_field_completed", "payment.card_entry_completed", "payment.submitted",
                "payment.fraud_check", "payment.declined", "payment.submitted", "payment.fraud_check", "payment.succeeded",
            ])

        // B: the PSP's highest risk is blocked, a decline follows, and the link locks.
        let b = try await newLink("pay-b")
        let blocked = try await exchange("POST", b.page + "/pay", json: try await paying("4100 0000 0000 0019", b.customer), expect: 200)
        #expect(blocked["payment"]?["status"]?.stringValue == "blocked")
        try await exchange("POST", b.page + "/pay", json: try await paying("4000 0000 0000 9995", b.customer), expect: 200)
        #expect(try await exchange("GET", b.page + "/status", expect: 200)["locked"] == .bool(true))
        try await exchange("GET", b.page, expect: 409)  // the "ask for a new link" page
        try await exchange("POST", b.page + "/pay", json: try await paying("4242 4242 4242 4242", b.customer), expect: 409, code: "link_locked")
        try await exchange("POST", b.page + "/progress", json: #"{"type": "payment.card_entry_started"}"#, expect: 409, code: "link_locked")
        try await exchange("POST", b.page + "/progress", json: #"{"type": "link.customer_needs_help"}"#, expect: 200)
        let lockedLink = try await exchange("GET", "/v1/links/\(b.id)", key: paylink.agent, expect: 200)
        #expect(lockedLink["locked"] == .bool(true))
        #expect(lockedLink["payment"]?["decline_code"]?.stringValue == "insufficient_funds")
        let eventsB = try await exchange("GET", "/v1/links/\(b.id)/events", key: paylink.agent, expect: 200)
        #expect(eventTypes(eventsB).suffix(3) == ["payment.declined", "link.locked", "link.customer_needs_help"])
        #expect(eventTypes(eventsB).filter { $0 == "payment.fraud_check" }.count == 2)

        // C: 3-D Secure, failed by the customer; too many progress reports; then the link goes quiet.
        let c = try await newLink("pay-c")
        try await exchange("POST", c.page + "/progress", json: #"{"type": "link.opened"}"#, expect: 200)
        let challenged = try await exchange("POST", c.page + "/pay", json: try await paying("4000 0000 0000 3220", c.customer), expect: 200)
        #expect(challenged["payment"]?["status"]?.stringValue == "requires_action")
        let redirect = try #require(challenged["payment"]?["redirect_url"]?.stringValue)
        try await exchange("GET", c.page + "/status", expect: 200)
        try await exchange(
            "POST", c.page + "/pay", json: try await paying("4242 4242 4242 4242", c.customer), expect: 409, code: "payment_in_progress")
        try await c.customer.completeThreeDS(redirect, approve: false)
        var failed = JSONValue.null
        for _ in 0..<50 {
            failed = try await exchange("GET", c.page + "/status", expect: 200)
            if failed["payment"]?["status"]?.stringValue == "failed" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(failed["payment"]?["failure_code"]?.stringValue == "authentication_failed", "\(failed)")
        var limited = false
        for _ in 0..<12 where !limited {
            let (status, _) = try await c.customer.progress("link.opened")
            limited = status == 429
        }
        #expect(limited, "twelve reports a minute")
        try await exchange("POST", c.page + "/progress", json: #"{"type": "link.opened"}"#, expect: 429, code: "rate_limited")
        paylink.clock.advance(by: 150)
        var eventsC = JSONValue.null
        for _ in 0..<50 {
            eventsC = try await exchange("GET", "/v1/links/\(c.id)/events", key: paylink.agent, expect: 200)
            if eventTypes(eventsC).last == "link.stalled" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(
            eventTypes(eventsC) == [
                "link.created", "link.opened", "payment.submitted", "payment.fraud_check", "payment.authentication_required",
                "payment.failed", "link.stalled",
            ])
        try await exchange("GET", "/v1/links/\(c.id)", key: paylink.agent, expect: 200)

        // The webhook receiver: refused signatures and payloads, then a signed event applied once.
        // About C's attempt, as the PSP describes its charge (the 3-D Secure page is https://PSP/3ds/ch_…).
        let chargeID = String(try #require(redirect.split(separator: "/").last))
        let paymentC = try #require(challenged["payment"]?["id"]?.stringValue)
        let event = #"{"id":"evt_conformance_1","type":"charge.succeeded","data":{"object":{"id":"\#(chargeID)","object":"charge","status":"succeeded","amount":\#(c.customer.amount),"currency":"\#(c.customer.currency)","reference":"\#(paymentC)"}}}"#
        try await exchange("POST", "/webhooks/sandbox", json: event, expect: 400, code: "signature_missing")
        try await exchange(
            "POST", "/webhooks/sandbox", json: event, headers: ["Stripe-Signature": "t=\(Int(Date().timeIntervalSince1970)),v1=" + String(repeating: "0", count: 64)],
            expect: 400, code: "signature_invalid")
        try await exchange("POST", "/webhooks/sandbox", json: event, headers: ["Stripe-Signature": "v1=abc"], expect: 400, code: "signature_malformed")
        let stale = StripeSignature.header(payload: Data(event.utf8), secret: sandbox.webhookSecret, at: Date().addingTimeInterval(-3600))
        try await exchange(
            "POST", "/webhooks/sandbox", json: event, headers: ["Stripe-Signature": stale], expect: 400, code: "signature_timestamp_out_of_tolerance")
        let notAnEvent = #"{"object": "event"}"#
        try await exchange(
            "POST", "/webhooks/sandbox", json: notAnEvent,
            headers: ["Stripe-Signature": StripeSignature.header(payload: Data(notAnEvent.utf8), secret: sandbox.webhookSecret)], expect: 400,
            code: "webhook_payload_invalid")
        let signed = ["Stripe-Signature": StripeSignature.header(payload: Data(event.utf8), secret: sandbox.webhookSecret)]
        #expect(try await exchange("POST", "/webhooks/sandbox", json: event, headers: signed, expect: 200)["duplicate"] == .bool(false))
        #expect(try await exchange("POST", "/webhooks/sandbox", json: event, headers: signed, expect: 200)["duplicate"] == .bool(true))
        let refund = #"{"id":"evt_conformance_2","type":"charge.refunded","data":{"object":{}}}"#
        try await exchange(
            "POST", "/webhooks/sandbox", json: refund,
            headers: ["Stripe-Signature": StripeSignature.header(payload: Data(refund.utf8), secret: sandbox.webhookSecret)], expect: 200)
        #expect(eventTypes(try await exchange("GET", "/v1/links/\(a.id)/events?after=13", key: paylink.agent, expect: 200)) == ["payment.succeeded"])

        // D: cancelled, so the page's endpoints answer 410 (an unreachable PSP's 503 is in the session above).
        let d = try await newLink("pay-d")
        let token = try await d.customer.tokenise("4242 4242 4242 4242")
        try await exchange("POST", "/v1/links/\(d.id)/cancel", key: paylink.agent, expect: 200)
        try await exchange("POST", d.page + "/pay", json: #"{"psp_token": "\#(token)"}"#, expect: 410, code: "link_cancelled")
        try await exchange("POST", d.page + "/progress", json: #"{"type": "link.opened"}"#, expect: 410, code: "link_cancelled")
        #expect(try await exchange("GET", d.page + "/status", expect: 200)["link_status"]?.stringValue == "cancelled")
        try await exchange("GET", "/p/not-a-real-token/status", expect: 404, code: "link_not_found")
        try await exchange("GET", d.page + "/status?x=1", expect: 400, code: "parameter_unknown")
        try await exchange("POST", "/p/not-a-real-token/pay", json: #"{"psp_token": "\#(token)"}"#, expect: 404, code: "link_not_found")
        try await exchange("POST", "/p/not-a-real-token/progress", json: #"{"type": "link.opened"}"#, expect: 404, code: "link_not_found")
    }

    /// The two streams answer `text/event-stream` whose `data` lines are documented Events.
    @Test func streamsSendEventsTheDocumentDescribes() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test(.live) { client in
            let contract = try APIContract(Data(buffer: try await client.send(.get, "/v1/openapi.json", key: nil).body))
            let id = try #require(try await client.createLink(key: paylink.agent)["id"] as? String)
            try await client.send(.post, "/v1/links/\(id)/cancel", key: paylink.agent)
            let base = "http://127.0.0.1:\(try #require(client.port))"
            for (path, template) in [("/v1/links/\(id)/events/stream", "/v1/links/{id}/events/stream"), ("/v1/events/stream", "/v1/events/stream")] {
                var request = HTTPClientRequest(url: base + path)
                request.headers.add(name: "Authorization", value: "Bearer \(paylink.agent)")
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                let status = Int(response.status.code)
                let contentType = response.headers.first(name: "Content-Type") ?? ""
                let mediaTypes = contract.mediaTypes(method: "GET", template: template, status: status)
                #expect(mediaTypes == ["text/event-stream"], "\(template) \(status) documents \(mediaTypes)")
                #expect(contentType.hasPrefix("text/event-stream"), "\(template) answered \(contentType)")

                // Read until both events arrived, then hang up.
                var text = ""
                var messages: [[String: String]] = []
                for try await buffer in response.body {
                    text += String(buffer: buffer)
                    messages = text.components(separatedBy: "\n\n").compactMap(Self.sseMessage)
                    if messages.count >= 2 { break }
                }
                #expect(messages.map { $0["event"] } == ["link.created", "link.cancelled"])
                for message in messages {
                    let event = try JSONValue.parse(Data((message["data"] ?? "").utf8))
                    let violations = contract.validator.validate(event, schemaNamed: "Event")
                    #expect(violations.isEmpty, "\(template) event: \(violations)")
                    #expect(event["type"]?.stringValue == message["event"])
                }
            }
        }
    }

    // MARK: The checks themselves can fail

    @Test func validatorRejectsALinkMissingURLOrWithAnExtraProperty() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let contract = try APIContract(Data(buffer: try await client.send(.get, "/v1/openapi.json", key: nil).body))
            let body = try await client.send(.post, "/v1/links", key: paylink.agent, json: #"{"amount": 1999, "currency": "GBP", "reference": "r"}"#).body
            guard case .object(let link) = try JSONValue.parse(Data(buffer: body)) else { throw TestFailure("link is not an object") }
            #expect(contract.validator.validate(.object(link), schemaNamed: "Link").isEmpty, "a real link must pass")

            var missingURL = link
            missingURL["url"] = nil
            let missing = contract.validator.validate(.object(missingURL), schemaNamed: "Link")
            #expect(missing == [.init(path: "$", message: "missing required property 'url'")])

            var extra = link
            extra["surprise"] = .bool(true)
            let unexpected = contract.validator.validate(.object(extra), schemaNamed: "Link")
            #expect(unexpected == [.init(path: "$", message: "unexpected property 'surprise' (additionalProperties is false)")])

            var wrong = link
            wrong["amount"] = .string("1999")
            wrong["customer"] = .object(["name": .null, "email": .null, "phone": .string("07700900123")])
            wrong["status"] = .string("pending")
            let paths = Set(contract.validator.validate(.object(wrong), schemaNamed: "Link").map(\.path))
            #expect(paths == ["$.amount", "$.customer", "$.status"])

            // An error body without `param`, and a status the operation does not document.
            let errorProblems = contract.problems(
                method: "GET", uri: "/v1/links/\(link["id"]?.stringValue ?? "")", requestBody: nil, status: 404,
                headers: [.contentType: "application/json"],
                body: Data(#"{"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such link."}}"#.utf8))
            #expect(errorProblems.contains { $0.contains("missing required property 'param'") })
            let undocumented = contract.problems(
                method: "GET", uri: "/v1/links", requestBody: nil, status: 418, headers: [.contentType: "application/json"], body: Data("{}".utf8))
            #expect(undocumented.contains { $0.contains("418 is not documented") })
            let wrongType = contract.problems(
                method: "GET", uri: "/healthz", requestBody: nil, status: 200, headers: [.contentType: "text/plain"], body: Data("ok".utf8))
            #expect(wrongType.contains { $0.contains("text/plain") })
        }
    }

    @Test func validatorCoversTheKeywordsTheDocumentUses() throws {
        let validator = JSONSchemaValidator(document: .object([:]))
        func violations(_ instance: String, _ schema: String) throws -> [String] {
            validator.validate(try JSONValue.parse(Data(instance.utf8)), against: try JSONValue.parse(Data(schema.utf8))).map(\.description)
        }
        #expect(try violations("null", #"{"type": ["string", "null"]}"#).isEmpty)
        #expect(try violations("3", #"{"type": ["string", "null"]}"#) == ["$: expected string or null, got 3"])
        #expect(try violations("2.0", #"{"type": "integer"}"#).isEmpty)
        #expect(try violations("2.5", #"{"type": "integer"}"#).count == 1)
        #expect(try violations("101", #"{"type": "integer", "minimum": 1, "maximum": 100}"#).count == 1)
        #expect(try violations(#""abc""#, #"{"pattern": "^[a-z]{2}$"}"#).count == 1)
        #expect(try violations(#""ab""#, #"{"maxLength": 1, "minLength": 3}"#).count == 2)
        #expect(try violations(#"{"a": 1}"#, #"{"propertyNames": {"maxLength": 0}, "maxProperties": 0}"#).count == 2)
        #expect(try violations("[1, \"x\"]", #"{"items": {"type": "integer"}, "maxItems": 1}"#) == [
            "$[1]: expected integer, got \"x\"", "$: has 2 items, more than 1",
        ])
        #expect(try violations(#""x""#, #"{"oneOf": [{"type": "string"}, {"const": "x"}]}"#).count == 1, "two alternatives match")
        #expect(try violations("1", #"{"anyOf": [{"type": "string"}, {"type": "null"}]}"#).count == 1)
        #expect(try violations(#"{"k": "b", "v": 1}"#, #"{"if": {"properties": {"k": {"const": "a"}}}, "then": {"required": ["zzz"]}}"#).isEmpty)
        #expect(try violations(#"{"k": "a", "v": 1}"#, #"{"if": {"properties": {"k": {"const": "a"}}}, "then": {"required": ["zzz"]}}"#).count == 1)
        #expect(try violations("1", #"{"enum": [1.0, "a"]}"#).isEmpty)
        #expect(try violations("1", #"{"multipleOf": 2}"#) == ["$: schema uses keyword 'multipleOf', which this validator does not support"])
        #expect(try violations("1", ##"{"$ref": "#/nowhere"}"##) == ["$: unresolvable $ref '#/nowhere'"])
    }

    /// One `text/event-stream` block as its fields; nil for comments, `retry:` and partial blocks.
    static func sseMessage(_ block: String) -> [String: String]? {
        var fields: [String: String] = [:]
        for line in block.split(separator: "\n") where !line.hasPrefix(":") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        guard fields["event"] != nil, let data = fields["data"], data.hasSuffix("}") else { return nil }
        return fields
    }
}

/// The served OpenAPI document, with what the tests need to look up in it.
struct APIContract {
    let root: JSONValue
    var validator: JSONSchemaValidator { JSONSchemaValidator(document: root) }

    static let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    init(_ data: Data) throws {
        root = try JSONValue.parse(data)
    }

    var paths: [String: JSONValue] { root["paths"]?.objectValue ?? [:] }

    /// Every (METHOD, template) the document describes.
    var operations: [(method: String, path: String)] {
        paths.flatMap { path, item in
            (item.objectValue ?? [:]).keys.filter { Self.methods.contains($0) }.map { (method: $0.uppercased(), path: path) }
        }
    }

    func operation(_ method: String, _ template: String) -> JSONValue? {
        paths[template]?[method.lowercased()]
    }

    /// `$ref`-following lookup for the document's own objects (responses, parameters, headers).
    func dereference(_ value: JSONValue?) -> JSONValue? {
        var value = value
        for _ in 0..<8 {
            guard case .string(let reference)? = value?["$ref"] else { return value }
            value = validator.resolve(reference)
        }
        return value
    }

    /// The documented template a concrete path falls under; literal segments win over `{parameters}`.
    func template(for path: String) -> String? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var best: (template: String, literals: Int)?
        for template in paths.keys {
            let parts = template.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == segments.count else { continue }
            var literals = 0
            let fits = zip(parts, segments).allSatisfy { part, segment in
                if part.hasPrefix("{") && part.hasSuffix("}") { return !segment.isEmpty }
                literals += 1
                return part == segment
            }
            if fits, literals > (best?.literals ?? -1) { best = (template, literals) }
        }
        return best?.template
    }

    /// The media types documented for one operation's status.
    func mediaTypes(method: String, template: String, status: Int) -> [String] {
        let response = dereference(operation(method, template)?["responses"]?[String(status)])
        return (response?["content"]?.objectValue ?? [:]).keys.sorted()
    }

    /// Every way one exchange disagrees with the document; empty when it conforms.
    func problems(
        method: String, uri: String, requestBody: String?, status: Int, headers: HTTPFields, body: Data
    ) -> [String] {
        let components = URLComponents(string: uri)
        let path = components?.percentEncodedPath ?? uri
        guard let template = template(for: path) else { return ["no path in the document matches \(path)"] }
        guard let operation = operation(method, template) else { return ["\(method) \(template) is not documented"] }
        var problems: [String] = []

        // What the server accepted must be something the document allows a client to send.
        if (200..<300).contains(status) {
            let declared = ((paths[template]?["parameters"]?.arrayValue ?? []) + (operation["parameters"]?.arrayValue ?? []))
                .compactMap { dereference($0) }
            for item in components?.queryItems ?? [] {
                guard let parameter = declared.first(where: { $0["in"]?.stringValue == "query" && $0["name"]?.stringValue == item.name })
                else {
                    problems.append("query parameter '\(item.name)' was accepted but is not documented")
                    continue
                }
                let schema = parameter["schema"] ?? .bool(true)
                let text = item.value ?? ""
                let isInteger = dereference(schema)?["type"]?.stringValue == "integer"
                let value: JSONValue = isInteger ? Int64(text).map(JSONValue.integer) ?? .string(text) : .string(text)
                problems += validator.validate(value, against: schema, at: "query.\(item.name)").map(\.description)
            }
            if let requestBody, !requestBody.isEmpty {
                if let schema = dereference(operation["requestBody"])?["content"]?["application/json"]?["schema"] {
                    do {
                        problems += validator.validate(try JSONValue.parse(Data(requestBody.utf8)), against: schema, at: "request")
                            .map(\.description)
                    } catch {
                        problems.append("the accepted request body is not JSON")
                    }
                } else {
                    problems.append("a JSON request body was accepted but none is documented")
                }
            }
        }

        guard let response = dereference(operation["responses"]?[String(status)]) else {
            return problems + ["status \(status) is not documented for \(method) \(template)"]
        }
        for (name, header) in response["headers"]?.objectValue ?? [:] {
            guard let field = HTTPField.Name(name), let value = headers[field],
                let schema = dereference(header)?["schema"]
            else { continue }
            problems += validator.validate(.string(value), against: schema, at: "header \(name)").map(\.description)
        }
        let content = response["content"]?.objectValue ?? [:]
        if content.isEmpty {
            if !body.isEmpty { problems.append("a body was sent, but \(status) documents none") }
            return problems
        }
        let mediaType = headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        guard let media = content[mediaType] else {
            return problems + ["Content-Type '\(mediaType)' is not documented for \(status) (documented: \(content.keys.sorted()))"]
        }
        guard mediaType == "application/json" else { return problems }
        guard let schema = media["schema"] else { return problems + ["\(status) documents JSON without a schema"] }
        do {
            problems += validator.validate(try JSONValue.parse(body), against: schema).map(\.description)
        } catch {
            problems.append("the body is not JSON: \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
        return problems
    }

    /// Every `$ref` anywhere in the document that points nowhere.
    func unresolvedReferences() -> [String] {
        var missing: [String] = []
        func walk(_ value: JSONValue) {
            switch value {
            case .object(let object):
                if case .string(let reference)? = object["$ref"], validator.resolve(reference) == nil { missing.append(reference) }
                object.values.forEach(walk)
            case .array(let array): array.forEach(walk)
            default: break
            }
        }
        walk(root)
        return missing
    }
}

extension JSONValue {
    subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { object[key] } else { nil }
    }
    var stringValue: String? { if case .string(let string) = self { string } else { nil } }
    var objectValue: [String: JSONValue]? { if case .object(let object) = self { object } else { nil } }
    var arrayValue: [JSONValue]? { if case .array(let array) = self { array } else { nil } }
}
