import Foundation
import HummingbirdTesting
import Synchronization
import Testing

@testable import SandboxPSP

/// The hooks that let Paylink embed the sandbox in its own process.
@Suite struct ConfigurationTests {
    @Test func onListeningReportsTheBoundPort() async throws {
        let reported = Mutex<[Int]>([])
        let configuration = testConfiguration { $0.onListening = { port in reported.withLock { $0.append(port) } } }
        try await withSandbox(configuration, logger: quietLogger(), .live) { client in
            let port = try #require(client.port)
            #expect(port != 0)
            #expect(reported.withLock { $0 } == [port])
        }
    }

    @Test func theWebhookURLProviderIsAskedAtDeliveryTime() async throws {
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            // Not known yet at the first attempt, as when the host's port is still being bound.
            let calls = Mutex(0)
            let configuration = testConfiguration {
                $0.webhookURLProvider = { calls.withLock { $0 += 1; return $0 == 1 ? nil : url } }
            }
            try await withSandbox(configuration) { client in
                let charge = try await client.charge("4242424242424242")
                let delivery = try #require(try await receiver.waitFor(1).first)
                #expect(delivery.chargeObject["id"] as? String == charge["id"] as? String)
                #expect(calls.withLock { $0 } == 2)
            }
        }
    }

    @Test func theProviderWinsOverTheFixedURL() async throws {
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            let configuration = testConfiguration(webhookURL: "http://127.0.0.1:9/unused") { $0.webhookURLProvider = { url } }
            try await withSandbox(configuration) { client in
                _ = try await client.charge("4242424242424242")
                #expect(try await receiver.waitFor(1).count == 1)
                #expect(receiver.attempts == 1)
            }
        }
    }

    @Test func aFingerprintKeyGivesStableKnownFingerprints() async throws {
        let key = [UInt8](repeating: 7, count: 32)
        func fingerprint(_ configuration: SandboxPSPConfiguration) async throws -> String {
            try await withSandbox(configuration) { client in
                let object = try await client.send(
                    .post, "/v1/tokens", key: nil, json: #"{"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}"#
                ).jsonObject()
                return try #require((object["card"] as? [String: Any])?["fingerprint"] as? String)
            }
        }
        let keyed = testConfiguration { $0.fingerprintKey = key }
        // HMAC-SHA256(key: 32 × 0x07, "4242424242424242"), first 16 bytes, from
        // `printf 4242424242424242 | openssl dgst -sha256 -mac HMAC -macopt hexkey:0707…07`.
        #expect(try await fingerprint(keyed) == "6591f2c1d2bb7a216c3e2eb8efed3116")
        #expect(try await fingerprint(keyed) == fingerprint(keyed))
        #expect(try await fingerprint(testConfiguration { $0.fingerprintKey = [UInt8](repeating: 8, count: 32) }) != fingerprint(keyed))
        // Without a key, each process (here: each sandbox) has its own.
        #expect(try await fingerprint(testConfiguration()) != fingerprint(testConfiguration()))
    }

    @Test func aShortFingerprintKeyIsRefused() {
        #expect(throws: SandboxPSPConfigurationError.fingerprintKeyTooShort(bytes: 8)) {
            _ = try buildSandboxPSP(configuration: testConfiguration { $0.fingerprintKey = [UInt8](repeating: 1, count: 8) })
        }
    }

    @Test func descriptionNamesTheHooksButShowsNoSecret() {
        var configuration = SandboxPSPConfiguration()
        configuration.secretKey = "sk_test_supersecretvalue"
        configuration.webhookSecret = "whsec_supersecretvalue"
        configuration.fingerprintKey = [UInt8](repeating: 0xAB, count: 32)
        configuration.webhookURLProvider = { "https://127.0.0.1:8443/webhooks/sandbox" }
        configuration.onListening = { _ in }
        let text = "\(configuration)"
        #expect(!text.contains("supersecretvalue"))
        #expect(!text.contains("171"))  // 0xAB
        #expect(text.contains("webhookURLProvider: set") && text.contains("onListening: set") && text.contains("fingerprintKey: (redacted)"))
        #expect(configuration.sendsWebhooks)
        #expect(!SandboxPSPConfiguration().sendsWebhooks)
        // Random parts hold underscores (base64url): none of them may survive the redaction.
        configuration.secretKey = "sk_test_4eC39HqLyjWDarjtT1zdp7dc_"
        configuration.webhookSecret = "whsec_MySecret_Webhook_Value123"
        configuration.fingerprintKey = nil
        let underscored = "\(configuration)"
        for fragment in ["4eC39", "dp7dc", "MySecret", "Webhook", "Value123"] {
            #expect(!underscored.contains(fragment), "\(fragment) in \(underscored)")
        }
        #expect(underscored.contains("secretKey: sk_test_…(redacted)") && underscored.contains("webhookSecret: whsec_…(redacted)"))
    }
}
