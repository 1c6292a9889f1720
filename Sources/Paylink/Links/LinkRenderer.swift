import Foundation

/// Renders the API's Link object (SPEC §2). One renderer serves first responses and the bytes
/// stored for idempotent replay, so a replay is byte-for-byte the original.
struct LinkRenderer: Sendable {
    let keys: SigningKeyRing.Snapshot
    let publicURL: String
    let now: Date

    struct Resource: Encodable {
        let link: Link
        let url: String
        let now: Date

        enum CodingKeys: String, CodingKey {
            case id, object, url, status, amount, currency, reference, description, locale, expires_at, created_at
            case agent_id, customer, metadata, conversation, payment, amount_refunded, locked
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(link.id, forKey: .id)
            try container.encode("link", forKey: .object)
            try container.encode(url, forKey: .url)
            try container.encode(link.status(at: now).rawValue, forKey: .status)
            try container.encode(link.amount.minorUnits, forKey: .amount)
            try container.encode(link.amount.currency.code, forKey: .currency)
            try container.encode(link.reference, forKey: .reference)
            try container.encode(link.description, forKey: .description)
            try container.encode(link.locale, forKey: .locale)
            try container.encode(RFC3339.string(link.expiresAt), forKey: .expires_at)
            try container.encode(RFC3339.string(link.createdAt), forKey: .created_at)
            try container.encode(link.agentID, forKey: .agent_id)
            try container.encode(link.customer.map(CustomerResource.init), forKey: .customer)
            try container.encode(link.metadata, forKey: .metadata)
            try container.encode(link.conversation, forKey: .conversation)
            try container.encode(link.payment.map(PaymentResource.init), forKey: .payment)
            try container.encode(link.amountRefunded, forKey: .amount_refunded)
            try container.encode(link.locked, forKey: .locked)
        }
    }

    /// A link's `payment`: `{id, object, status, card: {brand, last4}, fraud: {outcome, reasons,
    /// risk_score}, decline_code, failure_code, late, created_at}`, every key always present.
    struct PaymentResource: Encodable {
        let payment: PaymentSummary
        init(_ payment: PaymentSummary) { self.payment = payment }
        enum CodingKeys: String, CodingKey { case id, object, status, card, fraud, decline_code, failure_code, late, created_at }
        enum FraudKeys: String, CodingKey { case outcome, reasons, risk_score }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(payment.id, forKey: .id)
            try container.encode("payment", forKey: .object)
            try container.encode(payment.status, forKey: .status)
            try container.encode(payment.card, forKey: .card)
            var fraud = container.nestedContainer(keyedBy: FraudKeys.self, forKey: .fraud)
            try fraud.encode(payment.fraud.outcome, forKey: .outcome)
            try fraud.encode(payment.fraud.reasons, forKey: .reasons)
            try fraud.encode(payment.fraud.riskScore, forKey: .risk_score)
            try container.encode(payment.declineCode, forKey: .decline_code)
            try container.encode(payment.failureCode, forKey: .failure_code)
            try container.encode(payment.late, forKey: .late)
            try container.encode(RFC3339.string(Date(unixSeconds: payment.createdAt)), forKey: .created_at)
        }
    }

    /// Always all three keys, null when unknown, so clients never branch on a key's absence.
    struct CustomerResource: Encodable {
        let customer: Link.Customer
        init(_ customer: Link.Customer) { self.customer = customer }
        enum CodingKeys: String, CodingKey { case name, email, phone }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(customer.name, forKey: .name)
            try container.encode(customer.email, forKey: .email)
            try container.encode(customer.phone, forKey: .phone)
        }
    }

    func url(_ link: Link) throws -> String {
        "\(publicURL)/p/\(try keys.encode(LinkToken(keyID: link.signingKeyID, nonce: link.tokenNonce)))"
    }

    func resource(_ link: Link) throws -> Resource {
        Resource(link: link, url: try url(link), now: now)
    }

    func render(_ link: Link) throws -> Data {
        try APIJSON.encoder.encode(resource(link))
    }

    func renderList(_ links: [Link], hasMore: Bool) throws -> Data {
        try APIJSON.encoder.encode(ListResource(data: try links.map(resource), hasMore: hasMore))
    }
}

/// `{"object": "list", "data": [...], "has_more": bool}`, Stripe's list envelope.
struct ListResource<Item: Encodable>: Encodable {
    let data: [Item]
    let hasMore: Bool
    enum CodingKeys: String, CodingKey { case object, data, has_more }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("list", forKey: .object)
        try container.encode(data, forKey: .data)
        try container.encode(hasMore, forKey: .has_more)
    }
}

/// The encoder for every API body: stable key order, no escaped slashes in URLs.
enum APIJSON {
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
