import Crypto
import Foundation
import Hummingbird
import Logging
import SandboxPSP
import Synchronization

/// Where the PSP is and the secrets shared with it. For the embedded sandbox the secrets are
/// derived from the data key (HKDF), so they are stable across restarts, identical on every
/// instance sharing `PAYLINK_MASTER_KEY`, and never written anywhere.
struct PSPEndpoint: Sendable {
    /// Base of the PSP's API, for Paylink's server and the page's script alike.
    let url: String
    let secretKey: String
    /// `whsec_…` secrets `/webhooks/sandbox` accepts (several while rotating).
    let webhookSecrets: [String]
}

extension PaylinkRuntime {
    var pspEndpoint: PSPEndpoint { PSPEndpoint(configuration, dataKey: dataKey) }

    func sandboxConfiguration(certificate: (chain: String, key: String)?, trustRoots: String?, webhookBase: OwnAddress)
        -> SandboxPSPConfiguration
    {
        PSPEndpoint.sandboxConfiguration(
            configuration, dataKey: dataKey, certificate: certificate, trustRoots: trustRoots, webhookBase: webhookBase)
    }

    /// The payment rules wired to this runtime.
    func paymentService(psp: PSPClient?, logger: Logger) -> PaymentService {
        PaymentService(
            store: store, keyRing: keyRing, clock: clock, psp: psp, settings: configuration.payments,
            publicURL: configuration.resolvedPublicURL, ipKey: dataKey.subkey("client-ip-hash"),
            limiter: ProgressRateLimiter(perMinute: configuration.payments.progressReportsPerMinute), logger: logger)
    }
}

extension PSPEndpoint {
    init(_ configuration: PaylinkConfiguration, dataKey: DataKey) {
        func derivedSecret(prefix: String, purpose: String) -> String {
            prefix + Base64URL.encode(dataKey.subkey(purpose).withUnsafeBytes { Data($0) })
        }
        let url: String
        if let configured = configuration.pspURL {
            url = configured
        } else {
            // The browser reaches the sandbox at the public host, on the sandbox's own port.
            let base = URLComponents(string: configuration.resolvedPublicURL)
            let host = base?.host ?? configuration.host
            let scheme = configuration.tlsDisabled ? "http" : "https"
            url = "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(configuration.pspPort)"
        }
        self.init(
            url: url, secretKey: configuration.pspSecretKey ?? derivedSecret(prefix: "sk_test_", purpose: "sandbox-psp-secret-key"),
            webhookSecrets: configuration.sandboxWebhookSecrets.isEmpty
                ? [derivedSecret(prefix: "whsec_", purpose: "sandbox-psp-webhook-secret")] : configuration.sandboxWebhookSecrets)
    }

    /// The embedded sandbox's settings: its own port, Paylink's origin for CORS, the shared
    /// secrets, webhooks to Paylink's own listener (known only once it is bound).
    static func sandboxConfiguration(
        _ configuration: PaylinkConfiguration, dataKey: DataKey, certificate: (chain: String, key: String)?, trustRoots: String?,
        webhookBase: OwnAddress
    ) -> SandboxPSPConfiguration {
        let endpoint = PSPEndpoint(configuration, dataKey: dataKey)
        var sandbox = SandboxPSPConfiguration()
        sandbox.host = configuration.host
        sandbox.port = configuration.pspPort
        sandbox.publicURL = endpoint.url
        sandbox.allowedOrigins = [origin(of: configuration.resolvedPublicURL)]
        sandbox.secretKey = endpoint.secretKey
        sandbox.webhookSecret = endpoint.webhookSecrets[0]
        sandbox.webhookURLProvider = { webhookBase.url.map { $0 + "/webhooks/sandbox" } }
        sandbox.webhookTrustRootsPath = trustRoots
        sandbox.fingerprintKey = [UInt8](dataKey.subkey("sandbox-psp-fingerprint").withUnsafeBytes { Data($0) })
        sandbox.tlsCertificatePath = certificate?.chain
        sandbox.tlsKeyPath = certificate?.key
        return sandbox
    }

    /// `scheme://host[:port]` of a URL, as browsers send it in `Origin`.
    static func origin(of url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else { return url }
        return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
    }
}

/// `paylink sandbox-psp`: the sandbox alone, with the secrets `serve` derives from the same data
/// directory (or `PAYLINK_MASTER_KEY`), sending webhooks to `serve`'s own address.
public func buildStandaloneSandboxPSP(_ configuration: PaylinkConfiguration, logger: Logger) throws -> some ApplicationProtocol {
    let directory = URL(fileURLWithPath: configuration.dataDirectory)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let dataKey = try configuration.masterKey.map(DataKey.init(base64:)) ?? DataKey.loadOrCreate(in: directory)
    var certificate: (chain: String, key: String)?
    var trustRoots: String?
    if !configuration.tlsDisabled {
        if let chain = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            certificate = (chain, key)
        } else {
            let paths = try DevelopmentCertificates.ensure(in: configuration.certificatesDirectory)
            certificate = (paths.certificateChain, paths.privateKey)
            trustRoots = paths.caCertificate
        }
    }
    let port = configuration.pspPort == 0 ? 8444 : configuration.pspPort
    var settings = configuration
    settings.pspPort = port
    return try buildSandboxPSP(
        configuration: PSPEndpoint.sandboxConfiguration(
            settings, dataKey: dataKey, certificate: certificate, trustRoots: trustRoots, webhookBase: OwnAddress(settings)),
        logger: logger)
}

/// This process's own listener as its peers on this machine reach it (the embedded sandbox's
/// webhooks), known only once the server has bound its port (`--port 0` in tests).
final class OwnAddress: Sendable {
    private let scheme: String
    private let host: String
    private let port = Mutex<Int?>(nil)

    init(_ configuration: PaylinkConfiguration) {
        scheme = configuration.tlsDisabled ? "http" : "https"
        // A wildcard listener is reached on loopback.
        let host = ["0.0.0.0", "::", ""].contains(configuration.host) ? "127.0.0.1" : configuration.host
        self.host = host.contains(":") ? "[\(host)]" : host
        if configuration.port != 0 { port.withLock { $0 = configuration.port } }
    }

    func bound(port: Int?) {
        guard let port else { return }
        self.port.withLock { $0 = port }
    }

    var url: String? { port.withLock { $0 }.map { "\(scheme)://\(host):\($0)" } }
}
