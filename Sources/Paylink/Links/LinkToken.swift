import Crypto
import Foundation

/// The `TOKEN` of `https://HOST/p/TOKEN` (SPEC §3).
///
/// Layout before base64url: key id (2 bytes, big-endian) ‖ nonce ‖ tag (first 16 bytes of
/// HMAC-SHA256 over a domain label, key id and nonce). The nonce is 6 bytes of the creation
/// time in milliseconds (big-endian) then 16 random bytes: 40 bytes → 54 URL-safe characters.
/// The random part gives 128 bits; the time in front makes the unique index on the stored
/// nonce grow at its right-most page like the ids do, instead of one random page per new link
/// (that was half of the pages a create wrote to the WAL). Tokens issued before (a 16-byte
/// random nonce, 46 characters) still parse and verify. The tag lets the server reject a forged
/// or altered token before touching the database; the key id lets keys rotate.
public struct LinkToken: Sendable, Equatable {
    public let keyID: Int
    public let nonce: Data

    static let timeLength = 6
    static let randomLength = 16
    static let nonceLength = timeLength + randomLength
    static let tagLength = 16
    static let encodedLength = 54
    /// The first layout's nonce: random bytes only.
    static let legacyNonceLength = 16
    static let legacyEncodedLength = 46

    public static func random(keyID: Int, now: Date = Date()) -> LinkToken {
        let milliseconds = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        var nonce = Data(capacity: nonceLength)
        for shift in stride(from: (timeLength - 1) * 8, through: 0, by: -8) {
            nonce.append(UInt8(truncatingIfNeeded: milliseconds >> UInt64(shift)))
        }
        withUnsafeTemporaryAllocation(byteCount: randomLength, alignment: 8) { random in
            SecureRandom.fill(random)
            nonce.append(contentsOf: random)
        }
        return LinkToken(keyID: keyID, nonce: nonce)
    }

    /// A signing key, ready: HMAC keyed and fed the domain label once, then copied for each
    /// token (keying HMAC-SHA256 hashes two blocks; doing it per token was ≈ 1 % of a create).
    struct Signer: Sendable {
        private let keyed: HMAC<SHA256>

        init(key: SymmetricKey) {
            var mac = HMAC<SHA256>(key: key)
            mac.update(data: LinkToken.domainLabel)
            keyed = mac
        }

        fileprivate func tag(_ header: Data) -> Data {
            var mac = keyed
            mac.update(data: header)
            return Data(mac.finalize()).prefix(LinkToken.tagLength)
        }
    }

    /// The signed, encoded token.
    func encoded(with signer: Signer) -> String {
        var bytes = Self.header(keyID: keyID, nonce: nonce)
        bytes.append(contentsOf: signer.tag(bytes))
        return Base64URL.encode(bytes)
    }

    /// Splits a presented token without trusting it; the tag still has to be verified.
    static func parse(_ string: String) -> (token: LinkToken, tag: Data)? {
        let nonceLength: Int
        switch string.utf8.count {
        case encodedLength: nonceLength = Self.nonceLength
        case legacyEncodedLength: nonceLength = legacyNonceLength
        default: return nil
        }
        guard let bytes = Base64URL.decode(string), bytes.count == 2 + nonceLength + tagLength,
            // base64url has several spellings of the last character's unused bits: accept only the canonical one.
            Base64URL.encode(bytes) == string
        else { return nil }
        let keyID = Int(bytes[bytes.startIndex]) << 8 | Int(bytes[bytes.startIndex + 1])
        let nonce = bytes.subdata(in: 2..<(2 + nonceLength))
        let tag = bytes.subdata(in: (2 + nonceLength)..<bytes.count)
        return (LinkToken(keyID: keyID, nonce: nonce), tag)
    }

    /// Constant-time check of a presented tag (never `==` on MAC bytes).
    func verify(tag: Data, with signer: Signer) -> Bool {
        ConstantTime.equal(signer.tag(Self.header(keyID: keyID, nonce: nonce)), tag)
    }

    private static func header(keyID: Int, nonce: Data) -> Data {
        Data([UInt8(truncatingIfNeeded: keyID >> 8), UInt8(truncatingIfNeeded: keyID)]) + nonce
    }

    /// Separates these MACs from any other use of the key.
    static let domainLabel = Data("paylink-link-token-v1".utf8)
}
