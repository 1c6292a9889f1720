import Foundation

/// The kinds of object Paylink hands out ids for; the prefix tells a reader what an id names
/// (Stripe-style `lnk_…`, `evt_…`) and stops one kind being accepted where another is meant.
public protocol IdentifierKind: Sendable {
    static var prefix: String { get }
}

/// A typed, prefixed identifier: `Identifier<LinkKind>` can never be passed where an agent id belongs.
public struct Identifier<Kind: IdentifierKind>: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let rawValue: String

    /// Body length: 24 base62 characters, 8 of time and 16 random (~95 bits).
    static var bodyLength: Int { 24 }
    /// Leading characters that carry the creation time in milliseconds (62^8 ms ≈ 6,900 years).
    static var timeLength: Int { 8 }

    public init?(_ rawValue: String) {
        guard rawValue.hasPrefix(Kind.prefix) else { return nil }
        let body = rawValue.dropFirst(Kind.prefix.count)
        guard body.count == Self.bodyLength, body.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            return nil
        }
        self.rawValue = rawValue
    }


    /// Makes a fresh id: the current time in milliseconds as 8 base62 digits, then 16 random
    /// characters (~95 bits, so ids still cannot be guessed or enumerated).
    ///
    /// Time first makes ids roughly ascending, so each new row's entry in a unique index on
    /// the id (links, payments, events on PostgreSQL, and `events (link_id, seq)`) lands on the same
    /// right-most B-tree page as the last one, instead of a random page: a create dirtied four
    /// random index pages with fully random ids, each written to the WAL on commit and again to
    /// the database by the checkpoint.
    ///
    /// Random characters come from 32 bytes of the system CSPRNG (one call; `SecureRandom`),
    /// each byte below 248 = 4 × 62 mapped to a character and the rest dropped, so each
    /// character stays equally likely; in the rare case that fewer than 16 survive, 32 more.
    public static func generate(now: Date = Date()) -> Self {
        let alphabet = base62Alphabet
        let prefix = Kind.prefix.utf8
        let total = prefix.count + bodyLength
        let randomStart = prefix.count + timeLength
        return Self(
            trusted: String(unsafeUninitializedCapacity: total) { output in
                var index = 0
                for byte in prefix {
                    output[index] = byte
                    index += 1
                }
                var millis = UInt64(max(0, (now.timeIntervalSince1970 * 1000).rounded()))
                for position in stride(from: randomStart - 1, through: index, by: -1) {
                    output[position] = alphabet[Int(millis % 62)]
                    millis /= 62
                }
                index = randomStart
                withUnsafeTemporaryAllocation(byteCount: 32, alignment: 8) { random in
                    while index < total {
                        SecureRandom.fill(random)
                        for byte in random where index < total && byte < 248 {
                            output[index] = alphabet[Int(byte % 62)]
                            index += 1
                        }
                    }
                }
                return total
            })
    }

    /// For values read back from our own database, which only ever holds ids we generated.
    init(trusted rawValue: String) { self.rawValue = rawValue }

    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        guard let id = Self(string) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a \(Kind.prefix) id"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Base62 digits in ASCII order, so ids compare like the numbers they spell. (A generic type
/// cannot hold a stored static, and a computed one made a new array per id.)
private let base62Alphabet: [UInt8] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

public enum LinkKind: IdentifierKind { public static let prefix = "lnk_" }
public enum EventKind: IdentifierKind { public static let prefix = "evt_" }
public enum AgentKind: IdentifierKind { public static let prefix = "agt_" }
public enum PaymentKind: IdentifierKind { public static let prefix = "pay_" }
public enum RefundKind: IdentifierKind { public static let prefix = "re_" }
public enum DeliveryKind: IdentifierKind { public static let prefix = "dlv_" }

public typealias LinkID = Identifier<LinkKind>
public typealias EventID = Identifier<EventKind>
public typealias AgentID = Identifier<AgentKind>
public typealias PaymentID = Identifier<PaymentKind>
