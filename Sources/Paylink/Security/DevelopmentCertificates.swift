import Crypto
import Foundation
import SwiftASN1
import X509

/// A development CA and a server certificate for localhost, 127.0.0.1 and ::1, so
/// `paylink serve` speaks HTTPS from the first run (SPEC §1). Trust `dev-ca.pem` in a browser
/// or pass it to curl with `--cacert`; production uses `--tls-cert`/`--tls-key` instead.
///
/// Private keys are written with mode 0600 and named `*.key`, which `.gitignore` excludes.
public enum DevelopmentCertificates {
    public static let caCertificateFile = "dev-ca.pem"
    public static let caKeyFile = "dev-ca.key"
    public static let serverCertificateFile = "dev-server.pem"
    public static let serverKeyFile = "dev-server.key"

    public struct Paths: Sendable {
        public let certificateChain: String
        public let privateKey: String
        public let caCertificate: String
    }

    public static func paths(in directory: String) -> Paths {
        let base = URL(fileURLWithPath: directory)
        return Paths(
            certificateChain: base.appendingPathComponent(serverCertificateFile).path,
            privateKey: base.appendingPathComponent(serverKeyFile).path,
            caCertificate: base.appendingPathComponent(caCertificateFile).path)
    }

    /// Generates the pair unless a complete one is already there.
    public static func ensure(in directory: String, now: Date = Date()) throws -> Paths {
        let paths = paths(in: directory)
        let manager = FileManager.default
        if manager.fileExists(atPath: paths.certificateChain) && manager.fileExists(atPath: paths.privateKey) {
            return paths
        }
        return try generate(in: directory, now: now)
    }

    /// (Re)generates the CA and the server certificate (P-256, ECDSA-SHA256).
    @discardableResult
    public static func generate(in directory: String, now: Date = Date()) throws -> Paths {
        let base = URL(fileURLWithPath: directory)
        do { try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true) } catch {
            throw ConfigurationError.unusableDirectory("certificatesDir", directory, error)
        }
        let notBefore = now.addingTimeInterval(-300)

        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName {
            OrganizationName("Paylink development")
            CommonName("Paylink development CA")
        }
        let caPublicKey = Certificate.PublicKey(caKey.publicKey)
        let caCertificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: caPublicKey,
            notValidBefore: notBefore, notValidAfter: now.addingTimeInterval(5 * 365 * 86400),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: caPublicKey)
            },
            issuerPrivateKey: .init(caKey))

        let serverKey = P256.Signing.PrivateKey()
        let serverPublicKey = Certificate.PublicKey(serverKey.publicKey)
        let serverCertificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: serverPublicKey,
            // 397 days: browsers reject longer-lived server certificates.
            notValidBefore: notBefore, notValidAfter: now.addingTimeInterval(397 * 86400),
            issuer: caName,
            subject: try DistinguishedName {
                OrganizationName("Paylink development")
                CommonName("localhost")
            },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([
                    .dnsName("localhost"),
                    .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                    .ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))),
                ])
                SubjectKeyIdentifier(hash: serverPublicKey)
                AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: caPublicKey).keyIdentifier)
            },
            issuerPrivateKey: .init(caKey))

        let caPEM = try caCertificate.serializeAsPEM().pemString + "\n"
        let serverPEM = try serverCertificate.serializeAsPEM().pemString + "\n"
        try Data(caPEM.utf8).write(to: base.appendingPathComponent(caCertificateFile))
        try SecureFile.write(Data((caKey.pemRepresentation + "\n").utf8), to: base.appendingPathComponent(caKeyFile))
        // The chain a client needs: leaf first, then the CA.
        try Data((serverPEM + caPEM).utf8).write(to: base.appendingPathComponent(serverCertificateFile))
        try SecureFile.write(Data((serverKey.pemRepresentation + "\n").utf8), to: base.appendingPathComponent(serverKeyFile))
        return paths(in: directory)
    }
}
