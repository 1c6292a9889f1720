import Crypto
import Foundation

/// Verifies Stripe's `Stripe-Signature: t=…,v1=…` header exactly as Stripe documents it:
/// HMAC-SHA256 over `"{t}.{raw body}"` with the endpoint secret, any of several `v1` values
/// (secret rotation), a 300 s tolerance, constant-time comparison. Used for `/webhooks/stripe`
/// and for the sandbox, which signs the same way.
struct StripeSignatureVerifier: Sendable {
    enum Failure: Error, Equatable {
        case missing, malformed, stale, noMatch
    }

    let secrets: [String]
    var tolerance: TimeInterval = 300

    func verify(payload: Data, header: String?, now: Date) throws(Failure) {
        guard let header, !header.isEmpty else { throw .missing }
        var timestamp: Int64?
        var signatures: [Data] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            switch pair[0] {
            case "t":
                // One timestamp: with two, which one the HMAC covers would be the header's choice.
                guard timestamp == nil else { throw .malformed }
                timestamp = Int64(pair[1])
            case "v1": if let bytes = Self.hex(pair[1]), bytes.count == 32 { signatures.append(bytes) }
            default: continue  // v0 and unknown schemes are ignored, as Stripe's libraries do
            }
        }
        guard let timestamp, !signatures.isEmpty else { throw .malformed }
        // Either direction: a timestamp from the future is as suspicious as an old one.
        guard abs(now.timeIntervalSince1970 - TimeInterval(timestamp)) <= tolerance else { throw .stale }
        var signed = Data("\(timestamp).".utf8)
        signed.append(payload)
        for secret in secrets {
            let key = SymmetricKey(data: Data(secret.utf8))
            for signature in signatures where HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signed, using: key) {
                return
            }
        }
        throw .noMatch
    }

    static func hex(_ text: String) -> Data? {
        guard text.utf8.count % 2 == 0 else { return nil }
        var bytes = Data(capacity: text.utf8.count / 2)
        var iterator = text.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            guard let h = nibble(high), let l = nibble(low) else { return nil }
            bytes.append(h << 4 | l)
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}
