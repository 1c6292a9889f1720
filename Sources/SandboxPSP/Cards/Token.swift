/// What a token may be charged for, fixed when it is minted: Paylink binds each token to one link
/// and amount so a token minted on one page cannot pay for another. Every field is optional; a
/// field left out binds nothing.
struct TokenBinding: Sendable, Equatable {
    var reference: String?
    var amount: Int?
    var currency: String?

    /// The optional `reference`, `amount` and `currency` of `POST /v1/tokens`, validated as a charge's are.
    static func read(_ body: JSONBody) throws -> TokenBinding {
        TokenBinding(reference: try body.optionalReference(), amount: try body.optionalAmount(), currency: try body.optionalCurrency())
    }

    /// The first field (`amount`, `currency`, `reference`) the charge disagrees on, or nil.
    ///
    /// The bound reference must be the charge's `reference` or one of its `metadata` values: Paylink
    /// binds the token to its link (`lnk_…`) but charges under its payment id (`pay_…`) with the
    /// link in `metadata.link_id`.
    func mismatch(amount: Int, currency: String, reference: String, metadata: [String: String]) -> String? {
        if let bound = self.amount, bound != amount { return "amount" }
        if let bound = self.currency, bound != currency { return "currency" }
        if let bound = self.reference, bound != reference, !metadata.values.contains(bound) { return "reference" }
        return nil
    }
}

/// A token's public record: everything `GET /v1/tokens/{id}` shows, and nothing of the card
/// beyond its summary. It outlives the card: kept for a day after the card is charged or expires.
struct TokenRecord: Sendable {
    let id: String
    let created: Int
    let card: CardSummary
    let binding: TokenBinding
    /// The risk the charge of this card will get, evaluated at tokenisation as Stripe Radar does
    /// before authorisation, so the merchant can screen before charging.
    let riskScore: Int

    var riskLevel: RiskLevel { RiskLevel(score: riskScore) }
}

/// The token object as JSON. The browser's `POST /v1/tokens` answer leaves the risk out (a card
/// tester must not learn which cards the fraud screen dislikes); the server's `GET` includes it.
struct TokenObject: Encodable {
    let record: TokenRecord
    let used: Bool
    let includesRisk: Bool

    enum CodingKeys: String, CodingKey {
        case id, object, created, livemode, used, card, reference, amount, currency
        case riskScore = "risk_score"
        case riskLevel = "risk_level"
    }

    // Optional fields are always present (null when empty), as on a charge.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(record.id, forKey: .id)
        try container.encode("token", forKey: .object)
        try container.encode(record.created, forKey: .created)
        try container.encode(false, forKey: .livemode)
        try container.encode(used, forKey: .used)
        try container.encode(record.card, forKey: .card)
        try container.encode(record.binding.reference, forKey: .reference)
        try container.encode(record.binding.amount, forKey: .amount)
        try container.encode(record.binding.currency, forKey: .currency)
        if includesRisk {
            try container.encode(record.riskScore, forKey: .riskScore)
            try container.encode(record.riskLevel, forKey: .riskLevel)
        }
    }
}
