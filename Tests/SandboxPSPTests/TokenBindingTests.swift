import Foundation
import HummingbirdTesting
import Testing

@testable import SandboxPSP

/// Paylink binds each token to its link and amount; the sandbox holds charges to that binding.
@Suite struct TokenBindingTests {
    static let bound = #""reference": "lnk_abc", "amount": 1999, "currency": "gbp""#

    @Test func theTokenEchoesItsBindingAndNullsWhenUnbound() async throws {
        try await withSandbox { client in
            let bound = try await client.send(
                .post, "/v1/tokens", key: nil,
                json: #"{"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123", \#(Self.bound)}"#)
            #expect(bound.status == .created)
            let token = try bound.jsonObject()
            #expect(token["reference"] as? String == "lnk_abc")
            #expect(token["amount"] as? Int == 1999)
            #expect(token["currency"] as? String == "GBP")
            // The browser does not learn the risk the fraud screen gives its card.
            #expect(token["risk_score"] == nil && token["risk_level"] == nil)

            let unbound = try await client.send(
                .post, "/v1/tokens", key: nil, json: #"{"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}"#)
            let plain = try unbound.jsonObject()
            #expect(plain["reference"] is NSNull && plain["amount"] is NSNull && plain["currency"] is NSNull)
        }
    }

    @Test(arguments: [
        (#""reference": """#, "parameter_invalid", "reference"),
        (#""reference": "\#(String(repeating: "r", count: 65))""#, "parameter_invalid", "reference"),
        (#""reference": 5"#, "parameter_invalid_type", "reference"),
        (#""amount": 0"#, "parameter_invalid", "amount"),
        (#""amount": 100000000"#, "parameter_invalid", "amount"),
        (#""amount": "1999""#, "parameter_invalid_type", "amount"),
        (#""amount": 19.99"#, "parameter_invalid_type", "amount"),
        (#""currency": "GB""#, "parameter_invalid", "currency"),
        (#""currency": "£££""#, "parameter_invalid", "currency"),
        (#""currency": 826"#, "parameter_invalid_type", "currency"),
    ])
    func refusesABadBinding(field: String, code: String, param: String) async throws {
        try await withSandbox { client in
            let response = try await client.send(
                .post, "/v1/tokens", key: nil, json: #"{"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123", \#(field)}"#)
            #expect(response.status == .badRequest)
            #expect(response.errorCode == code, "\(response.text)")
            #expect(response.errorParam == param)
            #expect(response.errorType == "invalid_request_error")
        }
    }

    @Test(arguments: [
        (2000, "GBP", "lnk_abc", [:], "amount"),
        (1999, "EUR", "lnk_abc", [:], "currency"),
        (1999, "GBP", "lnk_other", [:], "reference"),
        (1999, "GBP", "pay_1", ["link_id": "lnk_other"], "reference"),
        // Several fields differ: the first one, in the order amount, currency, reference, is named.
        (1, "EUR", "lnk_other", [:], "amount"),
    ] as [(Int, String, String, [String: String], String)])
    func aChargeThatDisagreesIsRefusedAndTheTokenStaysUnspent(
        amount: Int, currency: String, reference: String, metadata: [String: String], param: String
    ) async throws {
        try await withSandbox { client in
            let token = try await client.tokenise("4242424242424242", binding: Self.bound)
            let refused = try await client.send(
                .post, "/v1/charges", json: chargeJSON(token: token, amount: amount, currency: currency, reference: reference, metadata: metadata))
            #expect(refused.status == .badRequest)
            #expect(refused.errorCode == "token_mismatch", "\(refused.text)")
            #expect(refused.errorParam == param)
            #expect(refused.errorType == "invalid_request_error")

            #expect(try await client.send(.get, "/v1/tokens/\(token)").jsonObject()["used"] as? Bool == false)
            let charged = try await client.send(.post, "/v1/charges", json: chargeJSON(token: token, reference: "lnk_abc"))
            #expect(charged.status == .created, "\(charged.text)")
        }
    }

    @Test func theBoundReferenceMayBeInTheChargesMetadata() async throws {
        // Paylink's shape: token bound to the link, charge made under the payment id.
        try await withSandbox { client in
            let token = try await client.tokenise("4242424242424242", binding: Self.bound)
            let response = try await client.send(
                .post, "/v1/charges",
                json: chargeJSON(token: token, reference: "pay_123", metadata: ["link_id": "lnk_abc", "payment_id": "pay_123"]))
            #expect(response.status == .created, "\(response.text)")
            #expect(try response.jsonObject()["reference"] as? String == "pay_123")
        }
    }

    @Test func concurrentMismatchesNeverSpendTheToken() async throws {
        try await withSandbox { client in
            let token = try await client.tokenise("4242424242424242", binding: Self.bound)
            let codes = try await withThrowingTaskGroup(of: String?.self) { group in
                for amount in 1...8 {
                    group.addTask { try await client.send(.post, "/v1/charges", json: chargeJSON(token: token, amount: amount)).errorCode }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            #expect(codes == Array(repeating: "token_mismatch", count: 8))
            #expect(try await client.send(.post, "/v1/charges", json: chargeJSON(token: token, reference: "lnk_abc")).status == .created)
        }
    }

    @Test func anUnboundTokenChargesForAnything() async throws {
        try await withSandbox { client in
            let token = try await client.tokenise("4242424242424242")
            let response = try await client.send(.post, "/v1/charges", json: chargeJSON(token: token, amount: 42, currency: "USD", reference: "x"))
            #expect(response.status == .created)
        }
    }

    @Test func aPartlyBoundTokenChecksOnlyWhatIsBound() async throws {
        try await withSandbox { client in
            let token = try await client.tokenise("4242424242424242", binding: #""amount": 500"#)
            #expect(try await client.send(.post, "/v1/charges", json: chargeJSON(token: token, amount: 501)).errorParam == "amount")
            let response = try await client.send(.post, "/v1/charges", json: chargeJSON(token: token, amount: 500, currency: "JPY", reference: "any"))
            #expect(response.status == .created)
        }
    }
}

/// `GET /v1/tokens/{id}`: Paylink's server checks a token (binding, card, risk) before charging it.
@Suite struct TokenRetrievalTests {
    @Test(arguments: [
        ("4100000000000019", 99, "highest"),
        ("4000000000004954", 85, "highest"),
        ("4000000000009235", 70, "elevated"),
        ("4000000000009987", 40, "normal"),
        ("4000000000000119", 10, "normal"),
        ("4242424242424242", 17, "normal"),
    ])
    func showsTheRiskTheChargeWillGet(number: String, score: Int, level: String) async throws {
        try await withSandbox { client in
            let token = try await client.tokenise(number, binding: TokenBindingTests.bound)
            let response = try await client.send(.get, "/v1/tokens/\(token)")
            #expect(response.status == .ok)
            let object = try response.jsonObject()
            #expect(object["risk_score"] as? Int == score)
            #expect(object["risk_level"] as? String == level)

            let charge = try await client.send(.post, "/v1/charges", json: chargeJSON(token: token, reference: "lnk_abc")).jsonObject()
            #expect(charge["risk_score"] as? Int == score)
            #expect((charge["outcome"] as? [String: Any])?["risk_level"] as? String == level)
        }
    }

    @Test func showsTheWholeTokenButNeverTheNumberOrCVC() async throws {
        try await withSandbox { client in
            let created = try await client.send(
                .post, "/v1/tokens", key: nil,
                json: #"{"number": "4242424242424242", "exp_month": 7, "exp_year": 2041, "cvc": "987", \#(TokenBindingTests.bound)}"#)
            let minted = try created.jsonObject()
            let id = try #require(minted["id"] as? String)

            let response = try await client.send(.get, "/v1/tokens/\(id)")
            #expect(response.status == .ok)
            #expect(response.headers[.cacheControl] == "no-store")
            #expect(!response.text.contains("4242424242424242"))
            // As a word of its own: the token's random id or its time may hold "987" by chance.
            #expect(!response.text.split { !$0.isLetter && !$0.isNumber }.contains("987"))
            let token = try response.jsonObject()
            #expect(Set(token.keys) == [
                "id", "object", "created", "livemode", "used", "card", "reference", "amount", "currency", "risk_score", "risk_level",
            ])
            #expect(token["id"] as? String == id)
            #expect(token["object"] as? String == "token")
            #expect(token["created"] as? Int == minted["created"] as? Int)
            #expect(token["livemode"] as? Bool == false)
            #expect(token["used"] as? Bool == false)
            #expect(token["reference"] as? String == "lnk_abc")
            #expect(token["amount"] as? Int == 1999)
            #expect(token["currency"] as? String == "GBP")
            let card = try #require(token["card"] as? [String: Any])
            #expect(card["brand"] as? String == "visa")
            #expect(card["last4"] as? String == "4242")
            #expect(card["exp_month"] as? Int == 7)
            #expect(card["exp_year"] as? Int == 2041)
            #expect(card["fingerprint"] as? String == (minted["card"] as? [String: Any])?["fingerprint"] as? String)
        }
    }

    @Test func aUsedTokenCanStillBeReadAndSaysSo() async throws {
        try await withSandbox { client in
            let token = try await client.tokenise("4000000000000002")
            _ = try await client.send(.post, "/v1/charges", json: chargeJSON(token: token))
            let response = try await client.send(.get, "/v1/tokens/\(token)")
            #expect(response.status == .ok)
            let object = try response.jsonObject()
            #expect(object["used"] as? Bool == true)
            #expect((object["card"] as? [String: Any])?["last4"] as? String == "0002")
            #expect(object["risk_score"] as? Int == 20)
        }
    }

    @Test func anExpiredTokenIs404WithItsOwnCode() async throws {
        try await withSandbox(testConfiguration { $0.tokenLifetime = .milliseconds(150) }) { client in
            let token = try await client.tokenise("4242424242424242")
            try await Task.sleep(for: .milliseconds(300))
            let response = try await client.send(.get, "/v1/tokens/\(token)")
            #expect(response.status == .notFound)
            #expect(response.errorCode == "token_expired")
            #expect(response.errorParam == "id")
        }
    }

    @Test func unknownTokenIs404AndTheKeyIsRequired() async throws {
        try await withSandbox { client in
            let unknown = try await client.send(.get, "/v1/tokens/tok_doesnotexist")
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "resource_missing")
            #expect(unknown.errorParam == "id")

            let token = try await client.tokenise("4242424242424242")
            let missing = try await client.send(.get, "/v1/tokens/\(token)", key: nil)
            #expect(missing.status == .unauthorized)
            #expect(missing.errorCode == "api_key_missing")
            #expect(!missing.text.contains("4242"))
            let wrong = try await client.send(.get, "/v1/tokens/\(token)", key: "sk_test_wrong")
            #expect(wrong.errorCode == "api_key_invalid")
        }
    }

    @Test func itNeverSpeaksCORS() async throws {
        try await withSandbox { client in
            let token = try await client.tokenise("4242424242424242")
            let get = try await client.send(.get, "/v1/tokens/\(token)", headers: ["Origin": TestKeys.paylinkOrigin])
            #expect(get.status == .ok)
            #expect(get.headers[.accessControlAllowOrigin] == nil)
            let preflight = try await client.send(
                .options, "/v1/tokens/\(token)", key: nil, headers: ["Origin": TestKeys.paylinkOrigin, "Access-Control-Request-Method": "GET"])
            #expect(preflight.headers[.accessControlAllowOrigin] == nil)
        }
    }
}
