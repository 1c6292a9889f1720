import Foundation
import HummingbirdTesting
import Logging
import Testing

@testable import SandboxPSP

@Suite struct WebhookTests {
    @Test func succeededChargeIsSignedWithStripesScheme() async throws {
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            try await withSandbox(testConfiguration(webhookURL: url)) { client in
                let charge = try await client.charge("4242424242424242")
                let delivery = try #require(try await receiver.waitFor(1).first)
                #expect(delivery.type == "charge.succeeded")
                #expect(delivery.eventID?.hasPrefix("evt_") == true)
                #expect(delivery.json["object"] as? String == "event")
                #expect(delivery.json["created"] is Int)
                #expect(delivery.chargeObject["id"] as? String == charge["id"] as? String)
                #expect(delivery.chargeObject["status"] as? String == "succeeded")

                let header = try #require(delivery.signature)
                #expect(header.hasPrefix("t=") && header.contains(",v1="))
                try StripeSignature.verify(payload: delivery.body, header: header, secrets: [TestKeys.webhookSecret])
                // Several secrets during rotation: any match passes.
                try StripeSignature.verify(payload: delivery.body, header: header, secrets: ["whsec_old", TestKeys.webhookSecret])

                var tampered = delivery.body
                tampered[tampered.startIndex + 10] ^= 0x01
                #expect(throws: StripeSignature.Failure.noMatchingSignature) {
                    try StripeSignature.verify(payload: tampered, header: header, secrets: [TestKeys.webhookSecret])
                }
                #expect(throws: StripeSignature.Failure.noMatchingSignature) {
                    try StripeSignature.verify(payload: delivery.body, header: header, secrets: ["whsec_wrong"])
                }
            }
        }
    }

    @Test func theEventsChargeCarriesReferenceAndMetadata() async throws {
        // Paylink's shape: bound to the link, charged under the payment id, both ids in metadata.
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            try await withSandbox(testConfiguration(webhookURL: url)) { client in
                let token = try await client.tokenise("4000000000009995", binding: #""reference": "lnk_7", "amount": 1999, "currency": "GBP""#)
                let metadata = ["link_id": "lnk_7", "payment_id": "pay_42"]
                let response = try await client.send(.post, "/v1/charges", json: chargeJSON(token: token, reference: "pay_42", metadata: metadata))
                #expect(response.status == .created)
                let delivery = try #require(try await receiver.waitFor(1).first)
                #expect(delivery.type == "charge.failed")
                #expect(delivery.chargeObject["reference"] as? String == "pay_42")
                #expect(delivery.chargeObject["metadata"] as? [String: String] == metadata)
                #expect(delivery.chargeObject["token"] as? String == token)
            }
        }
    }

    @Test func declineSendsChargeFailedAndThreeDSWaitsForTheOutcome() async throws {
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            try await withSandbox(testConfiguration(webhookURL: url)) { client in
                _ = try await client.charge("4000000000009995")
                let first = try await receiver.waitFor(1)
                #expect(first[0].type == "charge.failed")
                #expect(first[0].chargeObject["decline_code"] as? String == "insufficient_funds")

                let pending = try await client.charge("4000000000003220", returnURL: "https://pay.example.test/back")
                try await Task.sleep(for: .milliseconds(200))
                #expect(receiver.deliveries.count == 1, "requires_action must not be sent")
                _ = try await client.executeRequest(
                    uri: "/3ds/\(pending["id"] as! String)/complete", method: .post,
                    headers: [.contentType: "application/x-www-form-urlencoded"], body: .init(string: "result=approve"))
                let second = try await receiver.waitFor(2)
                #expect(second[1].type == "charge.succeeded")
                #expect(second[1].chargeObject["id"] as? String == pending["id"] as? String)
            }
        }
    }

    @Test func refundSendsChargeRefunded() async throws {
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            try await withSandbox(testConfiguration(webhookURL: url)) { client in
                let charge = try await client.charge("4242424242424242", amount: 500)
                _ = try await receiver.waitFor(1)
                try await client.send(.post, "/v1/refunds", json: #"{"charge": "\#(charge["id"] as! String)", "amount": 200}"#)
                let deliveries = try await receiver.waitFor(2)
                #expect(deliveries[1].type == "charge.refunded")
                #expect(deliveries[1].chargeObject["amount_refunded"] as? Int == 200)
            }
        }
    }

    @Test func duplicateModeSendsTheSameEventTwice() async throws {
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            try await withSandbox(testConfiguration(webhookURL: url)) { client in
                _ = try await client.charge("4242424242424242", metadata: ["sandbox_webhook": "duplicate"])
                let deliveries = try await receiver.waitFor(2)
                #expect(deliveries[0].eventID == deliveries[1].eventID)
                #expect(deliveries[0].body == deliveries[1].body)
                for delivery in deliveries {
                    try StripeSignature.verify(payload: delivery.body, header: delivery.signature, secrets: [TestKeys.webhookSecret])
                }
            }
        }
    }

    @Test func duplicateModeFromConfiguration() async throws {
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            try await withSandbox(testConfiguration(webhookURL: url) { $0.webhookMode = .duplicate }) { client in
                _ = try await client.charge("4000000000000002")
                let deliveries = try await receiver.waitFor(2)
                #expect(deliveries.map(\.type) == ["charge.failed", "charge.failed"])
            }
        }
    }

    @Test func reverseModeSendsTheLaterEventFirst() async throws {
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            try await withSandbox(testConfiguration(webhookURL: url)) { client in
                let charge = try await client.charge("4242424242424242", metadata: ["sandbox_webhook": "reverse"])
                try await client.send(.post, "/v1/refunds", json: #"{"charge": "\#(charge["id"] as! String)"}"#)
                let deliveries = try await receiver.waitFor(2)
                #expect(deliveries.map(\.type) == ["charge.refunded", "charge.succeeded"])
                let created = deliveries.compactMap { $0.chargeObject["amount_refunded"] as? Int }
                #expect(created == [1999, 0])
            }
        }
    }

    @Test func reverseModeStillSendsALoneEventAfterTheHold() async throws {
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            let configuration = testConfiguration(webhookURL: url) {
                $0.webhookMode = .reverse
                $0.webhookReverseHold = .milliseconds(300)
            }
            try await withSandbox(configuration) { client in
                _ = try await client.charge("4242424242424242")
                try await Task.sleep(for: .milliseconds(100))
                #expect(receiver.deliveries.isEmpty)
                #expect(try await receiver.waitFor(1)[0].type == "charge.succeeded")
            }
        }
    }

    @Test func dropModeSendsNothing() async throws {
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            try await withSandbox(testConfiguration(webhookURL: url)) { client in
                _ = try await client.charge("4242424242424242", metadata: ["sandbox_webhook": "drop"])
                // A normal charge after it arrives, so the dropped one had every chance to arrive first.
                let normal = try await client.charge("5555555555554444")
                let deliveries = try await receiver.waitFor(1)
                try await Task.sleep(for: .milliseconds(200))
                #expect(receiver.deliveries.count == 1)
                #expect(deliveries[0].chargeObject["id"] as? String == normal["id"] as? String)
            }
        }
    }

    @Test func retriesUntilTheReceiverAccepts() async throws {
        let receiver = WebhookReceiver(failFirst: 2)
        try await receiver.run { url in
            try await withSandbox(testConfiguration(webhookURL: url)) { client in
                _ = try await client.charge("4242424242424242")
                let deliveries = try await receiver.waitFor(1)
                #expect(receiver.attempts == 3)
                #expect(deliveries[0].type == "charge.succeeded")
            }
        }
    }

    @Test func givesUpAfterTheConfiguredAttempts() async throws {
        let receiver = WebhookReceiver(failFirst: 100)
        try await receiver.run { url in
            try await withSandbox(testConfiguration(webhookURL: url) { $0.webhookMaxAttempts = 3 }) { client in
                _ = try await client.charge("4242424242424242")
                // Poll (bounded) rather than sleep a fixed time: under a loaded machine the backoff runs late.
                let deadline = ContinuousClock.now.advanced(by: .seconds(15))
                while receiver.attempts < 3 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                }
                // Longer than the next backoff step would be: a fourth attempt must not come.
                try await Task.sleep(for: .seconds(1))
                #expect(receiver.attempts == 3)
            }
        }
    }
}

@Suite struct StripeSignatureTests {
    let body = Data(#"{"id":"evt_1","type":"charge.succeeded"}"#.utf8)

    @Test func matchesStripesDocumentedConstruction() {
        // HMAC-SHA256(key: "whsec_test", message: "1700000000." + body), computed independently with
        // `openssl dgst -sha256 -hmac whsec_test`.
        let expected = "a3f7d2647ca8af4e7ebbd79c4f9380dbd98ee11b35cf0485b700ca327380e947"
        #expect(StripeSignature.signature(payload: body, secret: "whsec_test", timestamp: 1_700_000_000) == expected)
        #expect(StripeSignature.header(payload: body, secrets: ["whsec_test"], timestamp: 1_700_000_000) == "t=1700000000,v1=\(expected)")
    }

    @Test func acceptsAnyOfSeveralSignaturesAndSecrets() throws {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let header = StripeSignature.header(payload: body, secrets: ["whsec_new", "whsec_old"], timestamp: 1_700_000_000)
        try StripeSignature.verify(payload: body, header: header, secrets: ["whsec_old"], now: now)
        try StripeSignature.verify(payload: body, header: "v0=abc," + header, secrets: ["whsec_new"], now: now)
    }

    @Test func refusesStaleOrFutureTimestamps() {
        let header = StripeSignature.header(payload: body, secrets: ["whsec_x"], timestamp: 1_700_000_000)
        #expect(throws: StripeSignature.Failure.timestampOutsideTolerance) {
            try StripeSignature.verify(payload: body, header: header, secrets: ["whsec_x"], now: Date(timeIntervalSince1970: 1_700_000_301))
        }
        #expect(throws: Never.self) {
            try StripeSignature.verify(payload: body, header: header, secrets: ["whsec_x"], now: Date(timeIntervalSince1970: 1_700_000_300))
        }
    }

    @Test func refusesMalformedHeaders() {
        for header in [nil, "", "t=1700000000", "v1=" + String(repeating: "a", count: 64), "t=abc,v1=00", "garbage"] as [String?] {
            #expect(throws: StripeSignature.Failure.malformed) {
                try StripeSignature.verify(payload: body, header: header, secrets: ["whsec_x"], now: Date(timeIntervalSince1970: 1_700_000_000))
            }
        }
    }
}

@Suite struct LoggingTests {
    @Test func noLogLineEverContainsTheCardNumberOrCVC() async throws {
        let recorder = RecordingLogHandler()
        let logger = {
            var logger = Logger(label: "sandbox-psp-recorded") { _ in recorder }
            logger.logLevel = .trace
            return logger
        }()
        let receiver = WebhookReceiver(failFirst: 1)
        let numbers = ["4242424242424242", "4000000000003220", "4000000000000002", "4100000000000019", "4000000000009235"]
        try await receiver.run { url in
            try await withSandbox(testConfiguration(webhookURL: url), logger: logger, .live) { client in
                let ok = try await client.charge(numbers[0], cvc: "987")
                try await client.send(.post, "/v1/refunds", json: #"{"charge": "\#(ok["id"] as! String)", "amount": 1}"#)
                let pending = try await client.charge(numbers[1], returnURL: "https://pay.example.test/back", cvc: "987")
                _ = try await client.executeRequest(
                    uri: "/3ds/\(pending["id"] as! String)/complete", method: .post,
                    headers: [.contentType: "application/x-www-form-urlencoded"], body: .init(string: "result=approve"))
                _ = try await client.charge(numbers[2], cvc: "987")
                _ = try await client.charge(numbers[3], cvc: "987")
                // Bound token: a refused mismatch, a read (with risk), then the charge.
                let bound = try await client.tokenise(numbers[4], cvc: "987", binding: #""reference": "lnk_log", "amount": 1999, "currency": "GBP""#)
                #expect(try await client.send(.post, "/v1/charges", json: chargeJSON(token: bound, amount: 5)).errorCode == "token_mismatch")
                #expect(try await client.send(.get, "/v1/tokens/\(bound)").status == .ok)
                #expect(try await client.send(.get, "/v1/tokens/tok_unknown").status == .notFound)
                #expect(try await client.send(.post, "/v1/charges", json: chargeJSON(token: bound, reference: "lnk_log")).status == .created)
                #expect(try await client.send(.get, "/v1/tokens/\(bound)").status == .ok)
                _ = try await client.send(.post, "/v1/tokens", key: nil, json: #"{"number": "4242424242424241", "exp_month": 1, "exp_year": 2040, "cvc": "987"}"#)
                _ = try await receiver.waitFor(6)
            }
        }
        let lines = recorder.lines.withLock { $0 }
        #expect(lines.contains { $0.contains("token created") && $0.contains("card.last4=4242") })
        #expect(lines.contains { $0.contains("webhook delivered") })
        #expect(lines.contains { $0.contains("token bound to another amount") })
        for line in lines {
            for number in numbers + ["4242424242424241"] {
                #expect(!line.contains(number), "log line leaks a card number: \(line)")
                #expect(!line.contains(String(number.prefix(12))), "log line leaks most of a card number: \(line)")
            }
            // As a word of its own: random ids may contain "987" by chance, a logged CVC would stand alone.
            let words = line.split { !$0.isLetter && !$0.isNumber }
            #expect(!words.contains("987"), "log line may leak a CVC: \(line)")
            #expect(!line.contains(TestKeys.secret) && !line.contains(TestKeys.webhookSecret))
        }
    }
}
