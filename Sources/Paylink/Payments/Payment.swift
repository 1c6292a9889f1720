import Foundation

/// One attempt to pay a link: a PSP token charged once, with the fraud verdict that let it
/// through (or stopped it). A link has many attempts but at most one that is live or has
/// succeeded — the stores enforce that with a partial unique index, not only this code.
public struct Payment: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        /// Passed the fraud checks; the charge is being made or its answer is awaited.
        case processing
        /// The PSP asked for 3-D Secure; the customer is on the challenge page.
        case requiresAction = "requires_action"
        case succeeded
        /// Refused by the issuer or the PSP's fraud screen (`declineCode` says why).
        case declined
        /// Did not complete (processing error, failed 3-D Secure).
        case failed
        /// Stopped by Paylink's own fraud checks before any charge was made.
        case blocked

        /// Live or succeeded: the states that stop another attempt from starting.
        public var holdsLink: Bool { self == .processing || self == .requiresAction || self == .succeeded }
        public var isFinal: Bool { !(self == .processing || self == .requiresAction) }
        /// The outcomes that count towards locking the link.
        public var isDecline: Bool { self == .declined || self == .blocked }
    }

    public let id: PaymentID
    public let linkID: LinkID
    public var status: Status
    public let amount: Money
    /// PCI DSS 3.4.1: never more of the card than brand and last four.
    public let card: CardSummary
    /// The PSP's keyed hash of the card (not reversible), for velocity per card.
    public let fingerprint: String?
    /// The PSP's single-use card token; allowed to persist (it is useless once charged).
    public let pspToken: String
    public var pspChargeID: String?
    /// Keyed hash of the customer's IP, for velocity per IP without keeping the address.
    public let clientIPHash: String?
    public let fraud: FraudAssessment
    public var declineCode: String?
    public var failureCode: String?
    /// Where the customer completes 3-D Secure, while `requires_action`.
    public var redirectURL: String?
    /// Succeeded after the link had expired or been cancelled.
    public var late: Bool
    public let createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, linkID = "link_id", status, amount, currency, card, fingerprint, pspToken = "psp_token"
        case pspChargeID = "psp_charge_id", clientIPHash = "client_ip_hash", fraud, declineCode = "decline_code"
        case failureCode = "failure_code", redirectURL = "redirect_url", late, createdAt = "created_at", updatedAt = "updated_at"
    }

    public init(
        id: PaymentID, linkID: LinkID, status: Status, amount: Money, card: CardSummary, fingerprint: String?, pspToken: String,
        pspChargeID: String? = nil, clientIPHash: String?, fraud: FraudAssessment, declineCode: String? = nil,
        failureCode: String? = nil, redirectURL: String? = nil, late: Bool = false, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.linkID = linkID
        self.status = status
        self.amount = amount
        self.card = card
        self.fingerprint = fingerprint
        self.pspToken = pspToken
        self.pspChargeID = pspChargeID
        self.clientIPHash = clientIPHash
        self.fraud = fraud
        self.declineCode = declineCode
        self.failureCode = failureCode
        self.redirectURL = redirectURL
        self.late = late
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let code = try container.decode(String.self, forKey: .currency)
        guard let currency = Currency(code: code) else {
            throw DecodingError.dataCorruptedError(forKey: .currency, in: container, debugDescription: "unknown currency")
        }
        self.init(
            id: try container.decode(PaymentID.self, forKey: .id), linkID: try container.decode(LinkID.self, forKey: .linkID),
            status: try container.decode(Status.self, forKey: .status),
            amount: Money(minorUnits: try container.decode(Int64.self, forKey: .amount), currency: currency),
            card: try container.decode(CardSummary.self, forKey: .card),
            fingerprint: try container.decodeIfPresent(String.self, forKey: .fingerprint),
            pspToken: try container.decode(String.self, forKey: .pspToken),
            pspChargeID: try container.decodeIfPresent(String.self, forKey: .pspChargeID),
            clientIPHash: try container.decodeIfPresent(String.self, forKey: .clientIPHash),
            fraud: try container.decode(FraudAssessment.self, forKey: .fraud),
            declineCode: try container.decodeIfPresent(String.self, forKey: .declineCode),
            failureCode: try container.decodeIfPresent(String.self, forKey: .failureCode),
            redirectURL: try container.decodeIfPresent(String.self, forKey: .redirectURL),
            late: try container.decode(Bool.self, forKey: .late),
            createdAt: Date(unixSeconds: try container.decode(Int64.self, forKey: .createdAt)),
            updatedAt: Date(unixSeconds: try container.decode(Int64.self, forKey: .updatedAt)))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(linkID, forKey: .linkID)
        try container.encode(status, forKey: .status)
        try container.encode(amount.minorUnits, forKey: .amount)
        try container.encode(amount.currency.code, forKey: .currency)
        try container.encode(card, forKey: .card)
        try container.encode(fingerprint, forKey: .fingerprint)
        try container.encode(pspToken, forKey: .pspToken)
        try container.encode(pspChargeID, forKey: .pspChargeID)
        try container.encode(clientIPHash, forKey: .clientIPHash)
        try container.encode(fraud, forKey: .fraud)
        try container.encode(declineCode, forKey: .declineCode)
        try container.encode(failureCode, forKey: .failureCode)
        try container.encode(redirectURL, forKey: .redirectURL)
        try container.encode(late, forKey: .late)
        try container.encode(createdAt.unixSeconds, forKey: .createdAt)
        try container.encode(updatedAt.unixSeconds, forKey: .updatedAt)
    }
}

/// What may be kept and shown of a card (PCI DSS 3.4.1): its brand and last four digits.
public struct CardSummary: Sendable, Equatable, Codable, CustomStringConvertible {
    public let brand: String
    public let last4: String

    public init?(brand: String, last4: String) {
        let brands: Set<String> = ["visa", "mastercard", "amex", "discover", "diners", "jcb", "unionpay", "unknown"]
        guard brands.contains(brand), last4.utf8.count == 4, last4.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        self.brand = brand
        self.last4 = last4
    }

    public var description: String { "\(brand) ••••\(last4)" }
}

/// The verdict of the checks run before a charge, with a reason code for each rule that fired.
public struct FraudAssessment: Sendable, Equatable, Codable {
    public enum Outcome: String, Sendable, Codable { case pass, review, block }
    public let outcome: Outcome
    public let reasons: [String]
    /// The PSP's risk score (0–100) when it gave one.
    public let riskScore: Int?

    enum CodingKeys: String, CodingKey { case outcome, reasons, riskScore = "risk_score" }

    public init(outcome: Outcome, reasons: [String], riskScore: Int?) {
        self.outcome = outcome
        self.reasons = reasons
        self.riskScore = riskScore
    }
}

/// The `payment` of a Link: the attempt an agent should see (the live or successful one, else the
/// latest). Kept on the link row, as JSON with Unix-second times, in the same transaction as the
/// attempt it summarises; `LinkRenderer` turns it into the API's `{id, status, card, fraud, created_at}`.
public struct PaymentSummary: Sendable, Equatable, Codable {
    public let id: PaymentID
    public let status: Payment.Status
    public let card: CardSummary
    public let fraud: FraudAssessment
    public let declineCode: String?
    public let failureCode: String?
    public let late: Bool
    public let createdAt: Int64
    /// The 3-D Secure page while `requires_action`: for the customer's page, never the agent API.
    public let redirectURL: String?

    enum CodingKeys: String, CodingKey {
        case id, status, card, fraud, declineCode = "decline_code", failureCode = "failure_code", late
        case createdAt = "created_at", redirectURL = "redirect_url"
    }
}

extension Payment {
    var summary: PaymentSummary {
        PaymentSummary(
            id: id, status: status, card: card, fraud: fraud, declineCode: declineCode, failureCode: failureCode, late: late,
            createdAt: createdAt.unixSeconds, redirectURL: redirectURL)
    }
}
