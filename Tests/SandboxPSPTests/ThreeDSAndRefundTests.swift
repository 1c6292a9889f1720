import Foundation
import HummingbirdTesting
import Testing

@testable import SandboxPSP

@Suite struct ThreeDSTests {
    @Test(arguments: [("approve", "succeeded"), ("fail", "failed")])
    func challengeSettlesTheChargeAndReturnsToTheMerchant(result: String, status: String) async throws {
        try await withSandbox { client in
            let charge = try await client.charge("4000000000003220", returnURL: "https://pay.example.test/p/tok/return?x=1")
            let id = try #require(charge["id"] as? String)
            #expect(charge["status"] as? String == "requires_action")
            let redirect = try #require((charge["next_action"] as? [String: Any])?["redirect_url"] as? String)
            let path = try #require(URL(string: redirect)?.path)
            #expect(path == "/3ds/\(id)")

            let page = try await client.send(.get, path, key: nil)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(page.text.contains("Approve") && page.text.contains("Fail"))
            #expect(page.text.contains("action=\"/3ds/\(id)/complete\""))
            #expect(page.text.contains("3220") && !page.text.contains("4000000000003220"))

            let done = try await client.executeRequest(
                uri: "/3ds/\(id)/complete", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: .init(string: "result=\(result)"))
            #expect(done.status == .seeOther)
            let location = try #require(done.headers[.location])
            #expect(location == "https://pay.example.test/p/tok/return?x=1&charge=\(id)&redirect_status=\(status)")

            let settled = try await client.send(.get, "/v1/charges/\(id)").jsonObject()
            #expect(settled["status"] as? String == status)
            #expect(settled["next_action"] is NSNull)
            if status == "failed" { #expect(settled["failure_code"] as? String == "authentication_failed") }

            // A second click changes nothing and returns to the same place.
            let again = try await client.executeRequest(
                uri: "/3ds/\(id)/complete", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: .init(string: "result=\(result == "approve" ? "fail" : "approve")"))
            #expect(again.headers[.location] == location)
            #expect(try await client.send(.get, "/v1/charges/\(id)").jsonObject()["status"] as? String == status)
        }
    }

    @Test(arguments: [
        ("https://pay.example.test/p/tok/return", "https://pay.example.test/p/tok/return?"),
        ("https://pay.example.test/p/tok/return?", "https://pay.example.test/p/tok/return?"),
        ("https://pay.example.test/p/tok/return?x=1", "https://pay.example.test/p/tok/return?x=1&"),
        // The merchant's own encoding survives: %2B must not come back as + (a space to a form decoder).
        ("https://pay.example.test/p/tok/return?next=%2Fa%2Bb&y=", "https://pay.example.test/p/tok/return?next=%2Fa%2Bb&y=&"),
        ("http://127.0.0.1:8443/p/tok/return", "http://127.0.0.1:8443/p/tok/return?"),
    ])
    func returnURLGetsTheResultAppendedWithOrWithoutAQuery(returnURL: String, prefix: String) async throws {
        try await withSandbox { client in
            let charge = try await client.charge("4000000000003220", returnURL: returnURL)
            let id = try #require(charge["id"] as? String)
            let done = try await client.executeRequest(
                uri: "/3ds/\(id)/complete", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: .init(string: "result=approve"))
            #expect(done.status == .seeOther)
            #expect(done.headers[.location] == prefix + "charge=\(id)&redirect_status=succeeded")
        }
    }

    /// `POST /v1/charges/{id}/cancel`: a charge waiting for 3-D Secure fails (`canceled`) and its
    /// challenge can no longer approve it; a settled charge comes back unchanged; unknown is 404.
    @Test func cancelStopsAChargeWaitingForAuthentication() async throws {
        try await withSandbox { client in
            let charge = try await client.charge("4000000000003220", returnURL: "https://pay.example.test/p/tok")
            let id = try #require(charge["id"] as? String)
            let canceled = try await client.send(.post, "/v1/charges/\(id)/cancel")
            #expect(canceled.status == .ok)
            let body = try canceled.jsonObject()
            #expect(body["status"] as? String == "failed" && body["failure_code"] as? String == "canceled")
            #expect(body["next_action"] is NSNull)
            let late = try await client.executeRequest(
                uri: "/3ds/\(id)/complete", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: .init(string: "result=approve"))
            #expect(late.headers[.location]?.hasSuffix("redirect_status=failed") == true)
            #expect(try await client.send(.get, "/v1/charges/\(id)").jsonObject()["status"] as? String == "failed")

            let paid = try await client.charge("4242424242424242")
            let paidID = try #require(paid["id"] as? String)
            #expect(try await client.send(.post, "/v1/charges/\(paidID)/cancel").jsonObject()["status"] as? String == "succeeded")
            #expect(try await client.send(.post, "/v1/charges/ch_unknown/cancel").status == .notFound)
            #expect(try await client.send(.post, "/v1/charges/\(id)/cancel", key: nil).status == .unauthorized)
        }
    }

    @Test func unknownChallengeIs404() async throws {
        try await withSandbox { client in
            let response = try await client.send(.get, "/3ds/ch_unknown", key: nil)
            #expect(response.status == .notFound)
        }
    }

    @Test func redirectURLCarriesTheBoundPort() async throws {
        try await withSandbox(testConfiguration(), logger: quietLogger(), .live) { client in
            let charge = try await client.charge("4000000000003220")
            let redirect = try #require((charge["next_action"] as? [String: Any])?["redirect_url"] as? String)
            #expect(redirect == "http://127.0.0.1:\(client.port!)/3ds/\(charge["id"] as! String)")
        }
    }
}

@Suite struct RefundTests {
    @Test func refundsPartlyThenTheRestButNeverMore() async throws {
        try await withSandbox { client in
            let charge = try await client.charge("4242424242424242", amount: 1000)
            let id = try #require(charge["id"] as? String)
            let partial = try await client.send(.post, "/v1/refunds", json: #"{"charge": "\#(id)", "amount": 400}"#)
            #expect(partial.status == .created)
            let refund = try partial.jsonObject()
            #expect((refund["id"] as? String)?.hasPrefix("re_") == true)
            #expect(refund["status"] as? String == "succeeded")
            #expect(refund["amount"] as? Int == 400)

            let tooMuch = try await client.send(.post, "/v1/refunds", json: #"{"charge": "\#(id)", "amount": 601}"#)
            #expect(tooMuch.status == .badRequest)
            #expect(tooMuch.errorCode == "amount_too_large")

            let rest = try await client.send(.post, "/v1/refunds", json: #"{"charge": "\#(id)"}"#)
            #expect(try rest.jsonObject()["amount"] as? Int == 600)
            let after = try await client.send(.get, "/v1/charges/\(id)").jsonObject()
            #expect(after["amount_refunded"] as? Int == 1000)
            #expect(after["refunded"] as? Bool == true)
            #expect((after["refunds"] as? [Any])?.count == 2)

            let more = try await client.send(.post, "/v1/refunds", json: #"{"charge": "\#(id)", "amount": 1}"#)
            #expect(more.status == .conflict)
            #expect(more.errorCode == "charge_already_refunded")
        }
    }

    @Test func onlySucceededChargesCanBeRefunded() async throws {
        try await withSandbox { client in
            let declined = try await client.charge("4000000000000002")
            let response = try await client.send(.post, "/v1/refunds", json: #"{"charge": "\#(declined["id"] as! String)"}"#)
            #expect(response.status == .conflict)
            #expect(response.errorCode == "charge_not_refundable")
            #expect(try await client.send(.post, "/v1/refunds", json: #"{"charge": "ch_nope"}"#).status == .notFound)
            #expect(try await client.send(.post, "/v1/refunds", key: nil, json: #"{"charge": "ch_nope"}"#).status == .unauthorized)
        }
    }

    @Test func refundIsIdempotent() async throws {
        try await withSandbox { client in
            let charge = try await client.charge("4242424242424242", amount: 1000)
            let body = #"{"charge": "\#(charge["id"] as! String)", "amount": 300}"#
            let first = try await client.send(.post, "/v1/refunds", json: body, headers: ["Idempotency-Key": "refund-1"])
            let second = try await client.send(.post, "/v1/refunds", json: body, headers: ["Idempotency-Key": "refund-1"])
            #expect(first.text == second.text)
            let after = try await client.send(.get, "/v1/charges/\(charge["id"] as! String)").jsonObject()
            #expect(after["amount_refunded"] as? Int == 300)
        }
    }
}

@Suite struct CORSTests {
    @Test func allowedOriginIsEchoedAndPreflightAnswered() async throws {
        try await withSandbox { client in
            let preflight = try await client.send(
                .options, "/v1/tokens", key: nil,
                headers: ["Origin": TestKeys.paylinkOrigin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"])
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == TestKeys.paylinkOrigin)
            #expect(preflight.headers[.accessControlAllowMethods] == "POST")
            #expect(preflight.headers[.accessControlAllowHeaders]?.lowercased().contains("content-type") == true)

            let post = try await client.send(
                .post, "/v1/tokens", key: nil, json: #"{"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}"#,
                headers: ["Origin": TestKeys.paylinkOrigin])
            #expect(post.status == .created)
            #expect(post.headers[.accessControlAllowOrigin] == TestKeys.paylinkOrigin)
            #expect(post.headers[.vary] == "Origin")

            // Errors reach the page too, so it can show them.
            let bad = try await client.send(
                .post, "/v1/tokens", key: nil, json: #"{"number": "1"}"#, headers: ["Origin": TestKeys.paylinkOrigin])
            #expect(bad.status == .badRequest)
            #expect(bad.headers[.accessControlAllowOrigin] == TestKeys.paylinkOrigin)
        }
    }

    @Test func otherOriginsGetNoCORSHeadersAndCannotTokenise() async throws {
        try await withSandbox { client in
            let preflight = try await client.send(
                .options, "/v1/tokens", key: nil, headers: ["Origin": "https://evil.example", "Access-Control-Request-Method": "POST"])
            #expect(preflight.headers[.accessControlAllowOrigin] == nil)
            #expect(preflight.headers[.accessControlAllowMethods] == nil)

            let post = try await client.send(
                .post, "/v1/tokens", key: nil, json: #"{"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}"#,
                headers: ["Origin": "https://evil.example"])
            #expect(post.status == .forbidden)
            #expect(post.errorCode == "origin_not_allowed")
            #expect(post.headers[.accessControlAllowOrigin] == nil)

            // The server-to-server endpoints never answer CORS.
            let charges = try await client.send(
                .options, "/v1/charges", key: nil, headers: ["Origin": TestKeys.paylinkOrigin, "Access-Control-Request-Method": "POST"])
            #expect(charges.headers[.accessControlAllowOrigin] == nil)
        }
    }
}
