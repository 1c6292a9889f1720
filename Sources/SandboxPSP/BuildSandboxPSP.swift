import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL

/// Builds the sandbox PSP: its own listener (HTTPS when a certificate is configured), the
/// card vault, charges, 3-D Secure pages, and the webhook sender as a background service.
///
/// It knows Paylink only as HTTP peers: the allowed browser origins and the webhook URL.
public func buildSandboxPSP(
    configuration: SandboxPSPConfiguration, logger: Logger = Logger(label: "sandbox-psp")
) throws -> some ApplicationProtocol {
    try configuration.validate()
    let scheme = configuration.usesTLS ? "https" : "http"
    let publicURL = PublicURL(configuration.publicURL ?? "\(scheme)://\(configuration.host):\(configuration.port)")
    let outbox = WebhookOutbox(configuration: configuration, logger: logger)
    let router = buildSandboxRouter(configuration: configuration, outbox: outbox, publicURL: publicURL)

    let server: HTTPServerBuilder
    if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
        let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        tls.minimumTLSVersion = .tlsv12
        // Forward-secret AEAD suites only, as Paylink's own listener (not NIOSSL's default, which
        // also allows CBC with SHA-1).
        tls.cipherSuites = [
            "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        ].joined(separator: ":")
        tls.applicationProtocols = ["http/1.1"]
        server = try .tls(.http1(), tlsConfiguration: tls)
    } else {
        server = .http1()
    }
    let configuredURL = configuration.publicURL
    return Application(
        router: router, server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
        services: [WebhookDeliveryService(outbox: outbox, configuration: configuration, logger: logger)],
        onServerRunning: { channel in
            // With port 0 the real port is known only now; redirect URLs must carry it.
            let port = channel.localAddress?.port
            if configuredURL == nil, let port {
                publicURL.set("\(scheme)://\(configuration.host):\(port)")
            }
            logger.info("sandbox PSP listening", metadata: ["url": .string(publicURL.value)])
            if let port { configuration.onListening?(port) }
        },
        logger: logger)
}

/// The routes and middleware, apart from the server so they can be read in one place.
func buildSandboxRouter(configuration: SandboxPSPConfiguration, outbox: WebhookOutbox, publicURL: PublicURL) -> Router<SandboxRequestContext> {
    let vault = CardVault(tokenLifetime: configuration.tokenLifetime, fingerprintKey: configuration.fingerprintKey)
    let processor = ChargeProcessor(vault: vault, ledger: ChargeLedger(), outbox: outbox, publicURL: publicURL)
    let router = Router(context: SandboxRequestContext.self)
    router.add(middleware: PSPErrorMiddleware())
    router.get("healthz") { _, _ in "ok" }
    let tokens = TokensController(vault: vault, allowedOrigins: configuration.allowedOrigins)
    tokens.addRoutes(to: router)
    let api = router.group("v1").add(middleware: SecretKeyAuthenticator(secretKey: configuration.secretKey))
    tokens.addServerRoutes(to: api)
    ChargesController(processor: processor, idempotency: IdempotencyCache()).addRoutes(to: api)
    ChallengeController(processor: processor, allowedOrigins: configuration.allowedOrigins).addRoutes(to: router)
    return router
}
