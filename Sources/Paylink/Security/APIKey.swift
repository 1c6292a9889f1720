import Crypto
import Foundation

/// An agent's API key: `plk_` followed by 43 base64url characters (256 random bits).
///
/// Only a SHA-256 digest is stored. The first 12 characters after the prefix are a lookup
/// handle, so verification finds one row by handle and then compares digests in constant
/// time, instead of asking the database to match a secret.
public struct APIKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public static let prefix = "plk_"
    static let secretLength = 43
    static let lookupLength = 12

    /// The full secret; shown to its owner once, at creation.
    public let secret: String

    /// Makes a new key from the system's CSPRNG.
    public static func generate() -> APIKey {
        APIKey(secret: prefix + Base64URL.encode(SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }))
    }

    /// Parses a presented bearer token; anything not shaped like one of our keys is rejected before any lookup.
    public init?(presented: String) {
        guard presented.hasPrefix(Self.prefix), presented.utf8.count == Self.prefix.utf8.count + Self.secretLength,
            presented.utf8.dropFirst(Self.prefix.utf8.count).allSatisfy(Base64URL.isAlphabet)
        else { return nil }
        self.secret = presented
    }

    private init(secret: String) { self.secret = secret }

    /// The non-secret handle used to find the stored digest.
    public var lookupID: String {
        String(secret.dropFirst(Self.prefix.count).prefix(Self.lookupLength))
    }

    public var digest: Data { hashed.withUnsafeBytes { Data($0) } }

    /// Constant-time check of this key against a stored digest. Runs on every API request:
    /// hashed from the string's own UTF-8 and compared in place, with no `Data` made.
    public func matches(digest stored: Data) -> Bool {
        hashed.withUnsafeBytes { ConstantTime.equal($0, stored) }
    }

    private var hashed: SHA256.Digest {
        var secret = secret
        return secret.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
    }

    // Never print the secret, even by accident in a log interpolation.
    public var description: String { "plk_\(lookupID)…(redacted)" }
    public var debugDescription: String { description }
}

/// Comparisons of secrets and MACs whose running time does not depend on where the inputs differ.
enum ConstantTime {
    static func equal(_ lhs: Data, _ rhs: Data) -> Bool {
        lhs.withUnsafeBytes { equal($0, rhs) }
    }

    /// Every byte is compared whatever the first difference; only the lengths (not secret)
    /// end it early.
    static func equal(_ lhs: UnsafeRawBufferPointer, _ rhs: Data) -> Bool {
        rhs.withUnsafeBytes { rhs in
            guard lhs.count == rhs.count else { return false }
            var difference: UInt8 = 0
            for index in 0..<lhs.count { difference |= lhs[index] ^ rhs[index] }
            return difference == 0
        }
    }
}
