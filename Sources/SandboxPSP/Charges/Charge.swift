import Foundation

/// Where a charge stands. `requires_action` is the only non-final state (3-D Secure pending).
public enum ChargeStatus: String, Sendable, Codable {
    case succeeded
    case requiresAction = "requires_action"
    /// The issuer or the sandbox's fraud screen said no; `decline_code` says why.
    case declined
    /// It did not complete (processing error, failed authentication); `failure_code` says why.
    case failed
}

/// Stripe's risk bands: normal below 65, elevated 65–74, highest from 75.
public enum RiskLevel: String, Sendable, Codable {
    case normal, elevated, highest

    init(score: Int) {
        switch score {
        case ..<65: self = .normal
        case 65..<75: self = .elevated
        default: self = .highest
        }
    }
}

/// A charge as the API and webhooks show it. Holds the card summary only, never the number.
struct Charge: Sendable, Encodable {
    struct Outcome: Sendable, Encodable {
        let riskLevel: RiskLevel
        let riskScore: Int
        /// Stripe's outcome types: `authorized`, `issuer_declined`, `blocked`, `invalid`.
        var type: String
        enum CodingKeys: String, CodingKey {
            case type
            case riskLevel = "risk_level"
            case riskScore = "risk_score"
        }
    }
    struct NextAction: Sendable, Encodable {
        let type = "redirect_to_url"
        let redirectURL: String
        enum CodingKeys: String, CodingKey {
            case type
            case redirectURL = "redirect_url"
        }
    }

    let id: String
    let object = "charge"
    let amount: Int
    let currency: String
    var status: ChargeStatus
    let reference: String
    let metadata: [String: String]
    let token: String
    let card: CardSummary
    var declineCode: String?
    var failureCode: String?
    var failureMessage: String?
    var riskScore: Int
    var outcome: Outcome
    var nextAction: NextAction?
    let returnURL: String?
    var amountRefunded = 0
    var refunds: [Refund] = []
    let created: Int
    let livemode = false

    var refunded: Bool { amountRefunded >= amount }
    /// The charge's webhook behaviour, from `metadata.sandbox_webhook` if set.
    func webhookMode(default mode: WebhookMode) -> WebhookMode {
        metadata["sandbox_webhook"].flatMap(WebhookMode.init(rawValue:)) ?? mode
    }

    enum CodingKeys: String, CodingKey {
        case id, object, amount, currency, status, reference, metadata, token, card, outcome, refunds, refunded, created, livemode
        case declineCode = "decline_code"
        case failureCode = "failure_code"
        case failureMessage = "failure_message"
        case riskScore = "risk_score"
        case nextAction = "next_action"
        case returnURL = "return_url"
        case amountRefunded = "amount_refunded"
    }

    // Optional fields are always present (null when empty), so clients see one fixed shape.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(object, forKey: .object)
        try container.encode(amount, forKey: .amount)
        try container.encode(currency, forKey: .currency)
        try container.encode(status, forKey: .status)
        try container.encode(reference, forKey: .reference)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(token, forKey: .token)
        try container.encode(card, forKey: .card)
        try container.encode(declineCode, forKey: .declineCode)
        try container.encode(failureCode, forKey: .failureCode)
        try container.encode(failureMessage, forKey: .failureMessage)
        try container.encode(riskScore, forKey: .riskScore)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(nextAction, forKey: .nextAction)
        try container.encode(returnURL, forKey: .returnURL)
        try container.encode(amountRefunded, forKey: .amountRefunded)
        try container.encode(refunded, forKey: .refunded)
        try container.encode(refunds, forKey: .refunds)
        try container.encode(created, forKey: .created)
        try container.encode(livemode, forKey: .livemode)
    }
}

/// A refund of all or part of a succeeded charge.
struct Refund: Sendable, Encodable {
    let id: String
    let object = "refund"
    let amount: Int
    let currency: String
    let charge: String
    let status = "succeeded"
    let created: Int

    enum CodingKeys: String, CodingKey { case id, object, amount, currency, charge, status, created }
}
