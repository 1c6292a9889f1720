import Foundation
import HummingbirdTesting
import Testing

@testable import SandboxPSP

@Suite struct TokenTests {
    @Test func tokenShowsBrandLastFourAndFingerprintButNeverTheNumber() async throws {
        try await withSandbox { client in
            let response = try await client.send(
                .post, "/v1/tokens", key: nil, json: #"{"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2040, "cvc": "123", "name": "A Customer"}"#)
            #expect(response.status == .created)
            #expect(!response.text.contains("4242424242424242"))
            #expect(!response.text.contains("\"123\""))
            let token = try response.jsonObject()
            #expect((token["id"] as? String)?.hasPrefix("tok_") == true)
            #expect(token["object"] as? String == "token")
            let card = try #require(token["card"] as? [String: Any])
            #expect(card["brand"] as? String == "visa")
            #expect(card["last4"] as? String == "4242")
            #expect(card["exp_month"] as? Int == 12)
            #expect(card["exp_year"] as? Int == 2040)
            let fingerprint = try #require(card["fingerprint"] as? String)
            #expect(fingerprint.count == 32 && fingerprint.allSatisfy(\.isHexDigit))

            // The same card has the same fingerprint; another card a different one.
            let again = try await client.send(.post, "/v1/tokens", key: nil, json: #"{"number": "4242424242424242", "exp_month": "1", "exp_year": "40", "cvc": "999"}"#)
            #expect((try again.jsonObject()["card"] as? [String: Any])?["fingerprint"] as? String == fingerprint)
            let other = try await client.send(.post, "/v1/tokens", key: nil, json: #"{"number": "4000000000000002", "exp_month": 1, "exp_year": 2040, "cvc": "999"}"#)
            #expect((try other.jsonObject()["card"] as? [String: Any])?["fingerprint"] as? String != fingerprint)
        }
    }

    @Test(arguments: [
        ("5555555555554444", "123", "mastercard"), ("2223003122003222", "123", "mastercard"), ("378282246310005", "1234", "amex"),
        ("6011111111111117", "123", "discover"), ("3056930009020004", "123", "diners"), ("3566002020360505", "123", "jcb"),
        ("6200000000000005", "123", "unionpay"),
    ])
    func detectsTheBrand(number: String, cvc: String, brand: String) async throws {
        try await withSandbox { client in
            let response = try await client.send(
                .post, "/v1/tokens", key: nil, json: #"{"number": "\#(number)", "exp_month": 12, "exp_year": 2040, "cvc": "\#(cvc)"}"#)
            #expect(response.status == .created, "\(response.text)")
            #expect((try response.jsonObject()["card"] as? [String: Any])?["brand"] as? String == brand)
        }
    }

    @Test(arguments: [
        (#""number": "4242424242424241", "exp_month": 12, "exp_year": 2040, "cvc": "123""#, "invalid_number", "number"),
        (#""number": "4242abcd42424242", "exp_month": 12, "exp_year": 2040, "cvc": "123""#, "invalid_number", "number"),
        (#""number": "42424242", "exp_month": 12, "exp_year": 2040, "cvc": "123""#, "invalid_number", "number"),
        (#""number": "4242424242424242", "exp_month": 13, "exp_year": 2040, "cvc": "123""#, "invalid_expiry_month", "exp_month"),
        (#""number": "4242424242424242", "exp_month": 0, "exp_year": 2040, "cvc": "123""#, "invalid_expiry_month", "exp_month"),
        (#""number": "4242424242424242", "exp_month": 12, "exp_year": 2020, "cvc": "123""#, "expired_card", "exp_year"),
        (#""number": "4242424242424242", "exp_month": 12, "exp_year": 2999, "cvc": "123""#, "invalid_expiry_year", "exp_year"),
        (#""number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "12""#, "invalid_cvc", "cvc"),
        (#""number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "1234""#, "invalid_cvc", "cvc"),
        (#""number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "12a""#, "invalid_cvc", "cvc"),
        (#""number": "378282246310005", "exp_month": 12, "exp_year": 2040, "cvc": "123""#, "invalid_cvc", "cvc"),
        (#""exp_month": 12, "exp_year": 2040, "cvc": "123""#, "parameter_missing", "number"),
        (#""number": 4242424242424242, "exp_month": 12, "exp_year": 2040, "cvc": "123""#, "parameter_invalid_type", "number"),
        (#""number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": 123"#, "parameter_invalid_type", "cvc"),
    ])
    func refusesABadCardWithAPreciseCode(fields: String, code: String, param: String) async throws {
        try await withSandbox { client in
            let response = try await client.send(.post, "/v1/tokens", key: nil, json: "{\(fields)}")
            #expect(response.status == .badRequest)
            #expect(response.errorCode == code, "\(response.text)")
            #expect(response.errorParam == param)
            #expect(!response.text.contains("4242424242424241"))
        }
    }

    @Test func lastMonthIsExpiredAndThisMonthIsNot() async throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let now = calendar.dateComponents([.year, .month], from: Date())
        let last = calendar.dateComponents([.year, .month], from: calendar.date(byAdding: .month, value: -1, to: Date())!)
        try await withSandbox { client in
            let current = try await client.send(
                .post, "/v1/tokens", key: nil, json: #"{"number": "4242424242424242", "exp_month": \#(now.month!), "exp_year": \#(now.year!), "cvc": "123"}"#)
            #expect(current.status == .created)
            let expired = try await client.send(
                .post, "/v1/tokens", key: nil, json: #"{"number": "4242424242424242", "exp_month": \#(last.month!), "exp_year": \#(last.year!), "cvc": "123"}"#)
            #expect(expired.errorCode == "expired_card")
        }
    }

    @Test func badJSONIsRefused() async throws {
        try await withSandbox { client in
            #expect(try await client.send(.post, "/v1/tokens", key: nil, json: "{nope").errorCode == "invalid_json")
            #expect(try await client.send(.post, "/v1/tokens", key: nil, json: "[1]").errorCode == "invalid_json")
            let form = try await client.send(.post, "/v1/tokens", key: nil, headers: ["Content-Type": "application/x-www-form-urlencoded"])
            #expect(form.status == .unsupportedMediaType)
        }
    }

    @Test func aTokenCanBeChargedOnlyOnce() async throws {
        try await withSandbox { client in
            let token = try await client.tokenise("4242424242424242")
            let first = try await client.send(.post, "/v1/charges", json: chargeJSON(token: token))
            #expect(first.status == .created)
            let second = try await client.send(.post, "/v1/charges", json: chargeJSON(token: token))
            #expect(second.status == .badRequest)
            #expect(second.errorCode == "token_already_used")
            let unknown = try await client.send(.post, "/v1/charges", json: chargeJSON(token: "tok_doesnotexist"))
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "resource_missing")
        }
    }

    @Test func aDeclinedChargeSpendsTheTokenToo() async throws {
        try await withSandbox { client in
            let token = try await client.tokenise("4000000000000002")
            #expect((try await client.send(.post, "/v1/charges", json: chargeJSON(token: token)).jsonObject())["status"] as? String == "declined")
            #expect(try await client.send(.post, "/v1/charges", json: chargeJSON(token: token)).errorCode == "token_already_used")
        }
    }

    @Test func tokensExpire() async throws {
        let configuration = testConfiguration { $0.tokenLifetime = .milliseconds(150) }
        try await withSandbox(configuration) { client in
            let token = try await client.tokenise("4242424242424242")
            try await Task.sleep(for: .milliseconds(300))
            let response = try await client.send(.post, "/v1/charges", json: chargeJSON(token: token))
            #expect(response.status == .badRequest)
            #expect(response.errorCode == "token_expired")
        }
    }

    @Test func cardTypesNeverPrintTheNumberOrCVC() throws {
        let number = try CardNumber("4242 4242 4242 4242")
        for text in ["\(number)", String(reflecting: number), { var s = ""; dump(number, to: &s); return s }()] {
            #expect(!text.contains("4242424242424242"))
            #expect(text.contains("4242"))
        }
        let details = CardDetails(number: number, expMonth: 12, expYear: 2040, cvc: "987", name: "A Customer")
        for text in ["\(details)", String(reflecting: details), { var s = ""; dump(details, to: &s); return s }()] {
            #expect(!text.contains("4242424242424242"))
            #expect(!text.contains("987"))
        }
        var configuration = SandboxPSPConfiguration()
        configuration.secretKey = "sk_test_supersecretvalue"
        configuration.webhookSecret = "whsec_supersecretvalue"
        #expect(!"\(configuration)".contains("supersecretvalue"))
    }
}
