import Foundation

/// Renders the API's Link object (SPEC §2). One renderer serves first responses and the bytes
/// stored for idempotent replay, so a replay is byte-for-byte the original.
struct LinkRenderer: Sendable {
    let keys: SigningKeyRing.Snapshot
    let publicURL: String
    let now: Date

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

    func url(_ link: Link) throws -> String {
        "\(publicURL)/p/\(try keys.encode(LinkToken(keyID: link.signingKeyID, nonce: link.tokenNonce)))"
    }

    func render(_ link: Link) throws -> Data {
        var writer = JSONWriter()
        try write(link, to: &writer)
        return writer.data
    }

    func renderList(_ links: [Link], hasMore: Bool) throws -> Data {
        var writer = JSONWriter(capacity: 1024 * max(links.count, 1))
        try writer.list(links, hasMore: hasMore) { writer, link in try write(link, to: &writer) }
        return writer.data
    }

    /// `Resource` written by hand, keys in sorted order: the same bytes as `APIJSON.encoder`
    /// produces for it (tested), at a fraction of the cost.
    private func write(_ link: Link, to writer: inout JSONWriter) throws {
        let url = try url(link)
        try writer.object { writer in
            writer.key("agent_id")
            writer.string(link.agentID.rawValue)
            writer.key("amount")
            writer.integer(link.amount.minorUnits)
            writer.key("amount_refunded")
            writer.integer(link.amountRefunded)
            writer.key("conversation")
            writer.object(ifPresent: link.conversation) { writer, conversation in
                writer.key("channel")
                writer.string(conversation.channel)
                writer.key("id")
                writer.string(conversation.id)
            }
            writer.key("created_at")
            writer.string(RFC3339.string(link.createdAt))
            writer.key("currency")
            writer.string(link.amount.currency.code)
            writer.key("customer")
            writer.object(ifPresent: link.customer) { writer, customer in
                writer.key("email")
                writer.string(customer.email)
                writer.key("name")
                writer.string(customer.name)
                writer.key("phone")
                writer.string(customer.phone)
            }
            writer.key("description")
            writer.string(link.description)
            writer.key("expires_at")
            writer.string(RFC3339.string(link.expiresAt))
            writer.key("id")
            writer.string(link.id.rawValue)
            writer.key("locale")
            writer.string(link.locale)
            writer.key("locked")
            writer.bool(link.locked)
            writer.key("metadata")
            writer.object(link.metadata)
            writer.key("object")
            writer.string("link")
            writer.key("payment")
            if let payment = link.payment {
                // Only paid or attempted links have one: the encoder is fine there.
                writer.raw(try APIJSON.encoder.encode(PaymentResource(payment)))
            } else {
                writer.null()
            }
            writer.key("reference")
            writer.string(link.reference)
            writer.key("status")
            writer.string(link.status(at: now).rawValue)
            writer.key("url")
            writer.string(url)
        }
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
