import Crypto
import Foundation

/// Makes the sandbox's object ids: a Stripe-style prefix and 144 random bits, URL-safe.
enum SandboxID {
    static func make(_ prefix: String) -> String {
        let bytes = SymmetricKey(size: .init(bitCount: 144)).withUnsafeBytes { Data($0) }
        return prefix + bytes.base64EncodedString()
            .replacingOccurrences(of: "+", with: "A").replacingOccurrences(of: "/", with: "B").replacingOccurrences(of: "=", with: "")
    }
}

/// The in-memory card vault: the only place a card number lives, and only until its token
/// is charged or expires. Tokens are single-use, like Stripe's.
actor CardVault {
    struct Entry {
        let card: CardDetails
        let summary: CardSummary
        let expiresAt: ContinuousClock.Instant
    }

    /// Why a token cannot be charged; each has its own error code.
    enum Refusal: Error { case unknown, used, expired }

    private var entries: [String: Entry] = [:]
    /// Ids of tokens already charged or expired, so a second use says why it failed. Cleared after a day.
    private var spent: [String: (reason: Refusal, at: ContinuousClock.Instant)] = [:]
    private let lifetime: Duration
    private let clock = ContinuousClock()
    /// Key for fingerprints: the same card maps to the same value under this key and nowhere else.
    private let fingerprintKey: SymmetricKey

    /// `fingerprintKey` nil means a fresh random key per process.
    init(tokenLifetime: Duration, fingerprintKey: [UInt8]? = nil) {
        self.lifetime = tokenLifetime
        self.fingerprintKey = fingerprintKey.map { SymmetricKey(data: $0) } ?? SymmetricKey(size: .bits256)
    }

    /// Stores the card and returns its new token id and public summary.
    func store(_ card: CardDetails) -> (id: String, summary: CardSummary) {
        sweep()
        let id = SandboxID.make("tok_")
        let summary = CardSummary(
            brand: card.number.brand, last4: card.number.last4, expMonth: card.expMonth, expYear: card.expYear,
            fingerprint: fingerprint(of: card.number))
        entries[id] = Entry(card: card, summary: summary, expiresAt: clock.now.advanced(by: lifetime))
        return (id, summary)
    }

    /// Takes the card out of the vault: afterwards the token is spent whatever the charge's outcome.
    func consume(_ id: String) throws(Refusal) -> (card: CardDetails, summary: CardSummary) {
        sweep()
        guard let entry = entries.removeValue(forKey: id) else {
            throw spent[id]?.reason ?? .unknown
        }
        spent[id] = (.used, clock.now)
        return (entry.card, entry.summary)
    }

    /// How many cards are held right now (tests check that consumed and expired cards are gone).
    var count: Int {
        sweep()
        return entries.count
    }

    /// HMAC-SHA256 of the digits under the fingerprint key, hex, first 16 bytes: links payments by
    /// the same card without being reversible (PCI DSS 3.5.1.1: keyed cryptographic hash).
    private func fingerprint(of number: CardNumber) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(number.digits.utf8), using: fingerprintKey)
        return mac.prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    private func sweep() {
        let now = clock.now
        for (id, entry) in entries where entry.expiresAt <= now {
            entries[id] = nil
            spent[id] = (.expired, now)
        }
        for (id, record) in spent where record.at.duration(to: now) > .seconds(86_400) {
            spent[id] = nil
        }
    }
}
