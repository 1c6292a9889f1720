import Foundation
import NIOSSL

/// The server's TLS: TLS 1.2 at least (SPEC: "TLS 1.2+ out of the box"), forward-secret AEAD
/// suites only, HTTP/1.1 by ALPN.
enum TLSSetup {
    /// TLS 1.2's suites: ECDHE with AES-GCM or ChaCha20-Poly1305, for ECDSA and RSA certificates
    /// (Mozilla's "intermediate" list less DHE, which BoringSSL does not offer). NIOSSL's default
    /// list also allows CBC with SHA-1 and RSA key exchange. TLS 1.3's suites are all AEAD and
    /// are not set by this string.
    static let tls12CipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    static func serverConfiguration(certificateChain: String, privateKey: String) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificateSource]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateChain).map { NIOSSLCertificateSource.certificate($0) }
        } catch {
            throw ConfigurationError.invalid("tlsCert: cannot load a PEM certificate chain from \(certificateChain) (\(error))")
        }
        do {
            key = try NIOSSLPrivateKey(file: privateKey, format: .pem)
        } catch {
            throw ConfigurationError.invalid("tlsKey: cannot load a PEM private key from \(privateKey) (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuites = tls12CipherSuites
        configuration.applicationProtocols = ["http/1.1"]
        // A client that drops the connection without close_notify (a phone going offline, curl
        // at exit) must not hold a graceful shutdown for NIOSSL's default 5 s.
        configuration.shutdownTimeout = .seconds(1)
        // Built once here so a key that is not the certificate's stops start-up with the
        // settings named, instead of as a bare `failedToLoadPrivateKey` from the server.
        do { _ = try NIOSSLContext(configuration: configuration) } catch {
            throw ConfigurationError.invalid(
                "tlsKey: the private key in \(privateKey) does not belong to the first certificate in tlsCert \(certificateChain) "
                    + "(the chain must start with the server's own certificate, then intermediates) (\(error))")
        }
        return configuration
    }
}
