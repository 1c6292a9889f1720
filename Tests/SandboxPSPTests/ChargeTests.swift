import Foundation
import HummingbirdTesting
import Testing

@testable import SandboxPSP

@Suite struct ChargeTests {
    @Test func visa4242Succeeds() async throws {
        try await withSandbox { client in
            let charge = try await client.charge("4242424242424242", amount: 2500, metadata: ["order": "A-1"])
            #expect((charge["id"] as? String)?.hasPrefix("ch_") == true)
            #expect(charge["object"] as? String == "charge")
            #expect(charge["status"] as? String == "succeeded")
            #expect(charge["amount"] as? Int == 2500)
            #expect(charge["currency"] as? String == "GBP")
            #expect(charge["reference"] as? String == "order-1")
            #expect((charge["metadata"] as? [String: String])?["order"] == "A-1")
            #expect(charge["decline_code"] is NSNull)
            #expect(charge["next_action"] is NSNull)
            let score = try #require(charge["risk_score"] as? Int)
            #expect((0...64).contains(score))
            #expect((charge["outcome"] as? [String: Any])?["risk_level"] as? String == "normal")
            #expect((charge["card"] as? [String: Any])?["last4"] as? String == "4242")

            let fetched = try await client.send(.get, "/v1/charges/\(charge["id"] as! String)")
            #expect(fetched.status == .ok)
            #expect(try fetched.jsonObject()["status"] as? String == "succeeded")
            #expect(try await client.send(.get, "/v1/charges/ch_nope").status == .notFound)
        }
    }

    @Test(arguments: [
        ("4000000000000002", "declined", "generic_decline", "normal"),
        ("4000000000009995", "declined", "insufficient_funds", "normal"),
        ("4100000000000019", "declined", "fraudulent", "highest"),
        ("4000000000003220", "requires_action", nil, "normal"),
        ("4000000000000119", "failed", nil, "normal"),
        ("4000000000009235", "succeeded", nil, "elevated"),
    ] as [(String, String, String?, String)])
    func stripeTestCardsBehaveAsDocumented(number: String, status: String, declineCode: String?, riskLevel: String) async throws {
        try await withSandbox { client in
            let charge = try await client.charge(number, returnURL: "https://pay.example.test/p/back")
            #expect(charge["status"] as? String == status)
            #expect(charge["decline_code"] as? String == declineCode)
            #expect((charge["outcome"] as? [String: Any])?["risk_level"] as? String == riskLevel)
            if number == "4100000000000019" { #expect(charge["risk_score"] as? Int == 99) }
            if status == "requires_action" {
                let redirect = try #require((charge["next_action"] as? [String: Any])?["redirect_url"] as? String)
                #expect(redirect.hasSuffix("/3ds/\(charge["id"] as! String)"))
            } else {
                #expect(charge["next_action"] is NSNull)
            }
        }
    }

    @Test func chargesNeedTheSecretKey() async throws {
        try await withSandbox { client in
            let token = try await client.tokenise("4242424242424242")
            let missing = try await client.send(.post, "/v1/charges", key: nil, json: chargeJSON(token: token))
            #expect(missing.status == .unauthorized)
            #expect(missing.errorCode == "api_key_missing")
            let wrong = try await client.send(.post, "/v1/charges", key: "sk_test_wrong", json: chargeJSON(token: token))
            #expect(wrong.status == .unauthorized)
            #expect(wrong.errorCode == "api_key_invalid")
            // The refused attempts did not spend the token.
            #expect(try await client.send(.post, "/v1/charges", json: chargeJSON(token: token)).status == .created)
        }
    }

    @Test(arguments: [
        (#"{"amount": 0, "currency": "GBP", "token": "tok_x", "reference": "r"}"#, "parameter_invalid", "amount"),
        (#"{"amount": 10.5, "currency": "GBP", "token": "tok_x", "reference": "r"}"#, "parameter_invalid_type", "amount"),
        (#"{"amount": 100, "currency": "POUND", "token": "tok_x", "reference": "r"}"#, "parameter_invalid", "currency"),
        (#"{"amount": 100, "currency": "GBP", "reference": "r"}"#, "parameter_missing", "token"),
        (#"{"amount": 100, "currency": "GBP", "token": "tok_x"}"#, "parameter_missing", "reference"),
        (#"{"amount": 100, "currency": "GBP", "token": "tok_x", "reference": "r", "return_url": "javascript:alert(1)"}"#, "parameter_invalid", "return_url"),
        (#"{"amount": 100, "currency": "GBP", "token": "tok_x", "reference": "r", "metadata": {"sandbox_webhook": "sometimes"}}"#, "parameter_invalid", "metadata[sandbox_webhook]"),
    ])
    func refusesABadChargeRequest(json: String, code: String, param: String) async throws {
        try await withSandbox { client in
            let response = try await client.send(.post, "/v1/charges", json: json)
            #expect(response.status == .badRequest)
            #expect(response.errorCode == code, "\(response.text)")
            #expect(response.errorParam == param)
        }
    }

    @Test func idempotencyKeyReplaysTheSameChargeAndRefusesADifferentBody() async throws {
        try await withSandbox { client in
            let token = try await client.tokenise("4242424242424242")
            let body = chargeJSON(token: token)
            let first = try await client.send(.post, "/v1/charges", json: body, headers: ["Idempotency-Key": "order-1-attempt-1"])
            #expect(first.status == .created)
            let replay = try await client.send(.post, "/v1/charges", json: body, headers: ["Idempotency-Key": "order-1-attempt-1"])
            #expect(replay.status == .created)
            #expect(replay.text == first.text)
            #expect(replay.headers[.init("Idempotent-Replayed")!] == "true")
            let different = try await client.send(
                .post, "/v1/charges", json: chargeJSON(token: token, amount: 1), headers: ["Idempotency-Key": "order-1-attempt-1"])
            #expect(different.status == .unprocessableContent)
            #expect(different.errorCode == "idempotency_key_reused")
            // A new key is a new charge attempt: the token is spent.
            let fresh = try await client.send(.post, "/v1/charges", json: body, headers: ["Idempotency-Key": "order-1-attempt-2"])
            #expect(fresh.errorCode == "token_already_used")
        }
    }

    @Test func aRequestThatFailsValidationCanBeFixedUnderTheSameKey() async throws {
        try await withSandbox { client in
            let token = try await client.tokenise("4242424242424242")
            let bad = try await client.send(.post, "/v1/charges", json: chargeJSON(token: token, amount: 0), headers: ["Idempotency-Key": "k1"])
            #expect(bad.status == .badRequest)
            let good = try await client.send(.post, "/v1/charges", json: chargeJSON(token: token), headers: ["Idempotency-Key": "k1"])
            #expect(good.status == .created)
        }
    }

    @Test func concurrentChargesOfOneTokenMakeExactlyOneCharge() async throws {
        try await withSandbox { client in
            let token = try await client.tokenise("4242424242424242")
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 { group.addTask { try await client.send(.post, "/v1/charges", json: chargeJSON(token: token)).status.code } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 201 }.count == 1)
            #expect(statuses.filter { $0 == 400 }.count == 7)
        }
    }
}
