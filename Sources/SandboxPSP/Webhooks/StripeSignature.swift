import Crypto
import Foundation

/// Stripe's webhook signature scheme: `Stripe-Signature: t=<unix>,v1=<hex>` where the hex is
/// HMAC-SHA256 under the endpoint secret of `"<t>.<raw body>"`.
///
/// Stripe: the key is the whole `whsec_…` string as UTF-8; `v1` may appear several times (one per
/// active secret during rotation); other schemes (`v0`) are ignored; default tolerance 300 s.
public enum StripeSignature {
    public static let headerName = "Stripe-Signature"
    public static let defaultTolerance: TimeInterval = 300

    /// Why a signature was refused.
    public enum Failure: Error, Sendable, Equatable {
        /// The header is absent, or has no `t` or no `v1`.
        case malformed
        /// `t` is further than the tolerance from now (a replay or a badly wrong clock).
        case timestampOutsideTolerance
        /// No `v1` value matches any of the secrets.
        case noMatchingSignature
    }

    /// The hex HMAC-SHA256 of `"<timestamp>.<payload>"`.
    public static func signature(payload: some DataProtocol, secret: String, timestamp: Int) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: signedBytes(payload: payload, timestamp: timestamp), using: key(secret))
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// The full header value, one `v1` per secret (pass several while rotating).
    public static func header(payload: some DataProtocol, secrets: [String], timestamp: Int) -> String {
        (["t=\(timestamp)"] + secrets.map { "v1=" + signature(payload: payload, secret: $0, timestamp: timestamp) })
            .joined(separator: ",")
    }

    public static func header(payload: some DataProtocol, secret: String, at date: Date = Date()) -> String {
        header(payload: payload, secrets: [secret], timestamp: Int(date.timeIntervalSince1970))
    }

    /// Checks a received header against the raw body. Passes when `t` is within `tolerance` of `now`
    /// and any `v1` matches any secret; every comparison is constant-time.
    public static func verify(
        payload: some DataProtocol, header: String?, secrets: [String], tolerance: TimeInterval = defaultTolerance,
        now: Date = Date()
    ) throws(Failure) {
        guard let header else { throw .malformed }
        var timestamp: Int?
        var candidates: [Data] = []
        for item in header.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].trimmingCharacters(in: .whitespaces)
            let value = parts[1].trimmingCharacters(in: .whitespaces)
            switch name {
            case "t": timestamp = Int(value)
            case "v1": if let bytes = hexBytes(value) { candidates.append(bytes) }
            default: continue
            }
        }
        guard let timestamp, !candidates.isEmpty else { throw .malformed }
        guard abs(now.timeIntervalSince1970 - TimeInterval(timestamp)) <= tolerance else { throw .timestampOutsideTolerance }
        let signed = signedBytes(payload: payload, timestamp: timestamp)
        var matched = false
        // Every pair is checked, so timing does not reveal which secret or position matched.
        for secret in secrets {
            let key = key(secret)
            for candidate in candidates where HMAC<SHA256>.isValidAuthenticationCode(candidate, authenticating: signed, using: key) {
                matched = true
            }
        }
        guard matched else { throw .noMatchingSignature }
    }

    private static func key(_ secret: String) -> SymmetricKey { SymmetricKey(data: Data(secret.utf8)) }

    private static func signedBytes(payload: some DataProtocol, timestamp: Int) -> Data {
        var data = Data("\(timestamp).".utf8)
        data.append(contentsOf: payload)
        return data
    }

    private static func hexBytes(_ hex: String) -> Data? {
        guard hex.utf8.count == 64 else { return nil }
        var bytes = Data(capacity: 32)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
