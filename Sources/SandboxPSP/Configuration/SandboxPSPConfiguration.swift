import Crypto
import Foundation

/// Everything the sandbox PSP needs, read once by the caller (Paylink's CLI or a test) and passed in.
///
/// Defaults match SPEC §1: `127.0.0.1:8444`, accepting tokenisation calls from Paylink's own
/// default origin `https://127.0.0.1:8443`. Secrets default to fresh random values, so a caller
/// that wants to talk to the sandbox must read them back from the configuration it passed.
public struct SandboxPSPConfiguration: Sendable, CustomStringConvertible {
    public var host: String = "127.0.0.1"
    /// 0 picks a free port (tests).
    public var port: Int = 8444
    /// Base of the URLs the sandbox hands out (`next_action.redirect_url`). Nil means
    /// `http(s)://HOST:PORT` with the port actually bound.
    public var publicURL: String?
    /// Browser origins allowed to call `POST /v1/tokens` (CORS), e.g. `https://127.0.0.1:8443`.
    public var allowedOrigins: [String] = ["https://127.0.0.1:8443"]
    /// `Authorization: Bearer <secretKey>` for the server-to-server endpoints.
    public var secretKey: String = SandboxPSPConfiguration.generateSecret(prefix: "sk_test_")
    /// Where webhook events are POSTed; nil sends none (unless `webhookURLProvider` is set).
    public var webhookURL: String?
    /// Asked for the webhook URL at each delivery attempt, for a host whose own port is known only
    /// after it starts. Wins over `webhookURL` when it answers; nil with no `webhookURL` fails the
    /// attempt (retried like a refused delivery).
    public var webhookURLProvider: (@Sendable () -> String?)?
    /// The `whsec_…` secret events are signed with (Stripe's scheme).
    public var webhookSecret: String = SandboxPSPConfiguration.generateSecret(prefix: "whsec_")
    /// How long after an outcome its event is sent.
    public var webhookDelay: Duration = .milliseconds(200)
    /// Delivery misbehaviour for every charge; a charge's `metadata.sandbox_webhook` overrides it.
    public var webhookMode: WebhookMode = .normal
    /// Attempts per event, the first included, when the receiver answers non-2xx or is unreachable.
    public var webhookMaxAttempts: Int = 5
    /// Backoff before the second attempt; doubles each time after.
    public var webhookRetryBase: Duration = .milliseconds(500)
    /// In `reverse` mode, how long an event waits for a later event of the same charge before it is sent anyway.
    public var webhookReverseHold: Duration = .seconds(2)
    /// PEM file of extra CAs to trust for an `https` webhook URL (Paylink's development CA).
    public var webhookTrustRootsPath: String?
    /// How long a card token can be charged.
    public var tokenLifetime: Duration = .seconds(600)
    /// Key for card fingerprints (at least 16 bytes; 32 recommended). Nil means a random key per
    /// process; Paylink derives one from its data key so fingerprints survive its restarts.
    public var fingerprintKey: [UInt8]?
    /// Called once the listener is bound, with its port (the real one when `port` is 0).
    public var onListening: (@Sendable (_ port: Int) -> Void)?
    /// PEM certificate chain and private key; when both are set the sandbox serves HTTPS.
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?

    public init() {}

    public var usesTLS: Bool { tlsCertificatePath != nil && tlsKeyPath != nil }

    /// Whether events are sent at all: a fixed URL or a provider is configured.
    public var sendsWebhooks: Bool { webhookURL != nil || webhookURLProvider != nil }

    /// The URL for a delivery attempt made now: the provider's answer, else `webhookURL`.
    func currentWebhookURL() -> String? {
        webhookURLProvider?() ?? webhookURL
    }

    /// Refuses settings the sandbox cannot honour safely; `buildSandboxPSP` calls it.
    func validate() throws(SandboxPSPConfigurationError) {
        // A short key would make fingerprints guessable by brute force over card numbers.
        if let key = fingerprintKey, key.count < 16 { throw .fingerprintKeyTooShort(bytes: key.count) }
    }

    /// A fresh secret with a Stripe-style prefix and 256 random bits.
    public static func generateSecret(prefix: String) -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let text = bytes.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return prefix + text
    }

    // Secrets stay out of logs even when someone prints the whole configuration.
    public var description: String {
        "SandboxPSPConfiguration(host: \(host), port: \(port), publicURL: \(publicURL ?? "nil"), allowedOrigins: \(allowedOrigins), "
            + "secretKey: \(Self.redact(secretKey)), webhookURL: \(webhookURL ?? "nil"), "
            + "webhookURLProvider: \(webhookURLProvider == nil ? "nil" : "set"), webhookSecret: \(Self.redact(webhookSecret)), "
            + "webhookDelay: \(webhookDelay), webhookMode: \(webhookMode), fingerprintKey: \(fingerprintKey == nil ? "random" : "(redacted)"), "
            + "onListening: \(onListening == nil ? "nil" : "set"), tls: \(usesTLS))"
    }

    /// Only a well-known prefix survives (`sk_test_…`, `whsec_…`, which say what kind of
    /// secret it is); nothing of the random part does. (Keeping everything up to the last `_`
    /// logged most of a secret whose random part holds an underscore, as base64url often does.)
    static func redact(_ secret: String) -> String {
        let kind = ["sk_test_", "sk_live_", "whsec_"].first { secret.hasPrefix($0) } ?? ""
        return kind + "…(redacted)"
    }
}

/// A configuration `buildSandboxPSP` refuses to run with.
public enum SandboxPSPConfigurationError: Error, Sendable, Equatable {
    /// `fingerprintKey` has fewer than 16 bytes.
    case fingerprintKeyTooShort(bytes: Int)
}

/// Deliberate webhook misbehaviour, so tests can prove a receiver copes with what real PSPs do.
public enum WebhookMode: String, Sendable, CaseIterable, Codable {
    /// Each event once, after `webhookDelay`.
    case normal
    /// Each event twice, same `id` and body (re-signed each time).
    case duplicate
    /// Out of order: an event is held until the charge's next event, which is sent first.
    case reverse
    /// Events are not sent at all.
    case drop
}
