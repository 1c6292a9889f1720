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
        let record: TokenRecord
        let expiresAt: ContinuousClock.Instant
    }

    /// Why a token cannot be charged; each has its own error code.
    enum Refusal: Error, Equatable {
        case unknown, used, expired
        /// The charge differs from what the token is bound to, in this field; the token stays unspent.
        case mismatch(param: String)
    }

    /// What a charge asks of the token, compared with its binding before the card is handed out.
    struct ChargeTerms: Sendable {
        let amount: Int
        let currency: String
        let reference: String
        let metadata: [String: String]
    }

    private var entries: [String: Entry] = [:]
    /// Tokens already charged or expired: why, when, and their public record (the card is gone),
    /// so a second use says why it failed and `GET /v1/tokens/{id}` still answers. Cleared after a day.
    private var spent: [String: (reason: Refusal, at: ContinuousClock.Instant, record: TokenRecord)] = [:]
    private let lifetime: Duration
    private let clock = ContinuousClock()
    /// Key for fingerprints: the same card maps to the same value under this key and nowhere else.
    private let fingerprintKey: SymmetricKey

    /// `fingerprintKey` nil means a fresh random key per process.
    init(tokenLifetime: Duration, fingerprintKey: [UInt8]? = nil) {
        self.lifetime = tokenLifetime
        self.fingerprintKey = fingerprintKey.map { SymmetricKey(data: $0) } ?? SymmetricKey(size: .bits256)
    }

    /// Stores the card under a new token bound to `binding` and returns its public record.
    func store(_ card: CardDetails, binding: TokenBinding, created: Int) -> TokenRecord {
        sweep()
        let summary = CardSummary(
            brand: card.number.brand, last4: card.number.last4, expMonth: card.expMonth, expYear: card.expYear,
            fingerprint: fingerprint(of: card.number))
        let record = TokenRecord(
            id: SandboxID.make("tok_"), created: created, card: summary, binding: binding,
            riskScore: TestCardBehaviour(number: card.number).riskScore)
        entries[record.id] = Entry(card: card, record: record, expiresAt: clock.now.advanced(by: lifetime))
        return record
    }

    /// Takes the card out of the vault: afterwards the token is spent whatever the charge's outcome.
    /// A charge that disagrees with the token's binding is refused first and spends nothing;
    /// check and removal are one actor step, so no concurrent charge can slip between them.
    func consume(_ id: String, for terms: ChargeTerms) throws(Refusal) -> (card: CardDetails, record: TokenRecord) {
        sweep()
        guard let entry = entries[id] else {
            throw spent[id]?.reason ?? .unknown
        }
        if let param = entry.record.binding.mismatch(
            amount: terms.amount, currency: terms.currency, reference: terms.reference, metadata: terms.metadata)
        {
            throw .mismatch(param: param)
        }
        entries[id] = nil
        spent[id] = (.used, clock.now, entry.record)
        return (entry.card, entry.record)
    }

    /// The token's public record and whether it was charged; `.expired` or `.unknown` otherwise.
    func record(_ id: String) throws(Refusal) -> (record: TokenRecord, used: Bool) {
        sweep()
        if let entry = entries[id] { return (entry.record, false) }
        guard let spent = spent[id] else { throw .unknown }
        guard spent.reason == .used else { throw spent.reason }
        return (spent.record, true)
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
            spent[id] = (.expired, now, entry.record)
        }
        for (id, record) in spent where record.at.duration(to: now) > .seconds(86_400) {
            spent[id] = nil
        }
    }
}
