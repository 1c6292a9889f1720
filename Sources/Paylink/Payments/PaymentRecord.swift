import Foundation

/// Everything the payment rules read and change about one link, loaded and saved in one
/// transaction with the link row locked: the link, its attempts and the customer's progress.
public struct PaymentRecord: Sendable, Equatable {
    public var link: Link
    /// Oldest first.
    public var payments: [Payment]
    public var activity: LinkActivity

    /// The attempt that holds the link (live or succeeded), if any.
    var holdingPayment: Payment? { payments.last(where: { $0.status.holdsLink }) }

    /// What the Link object shows: the holding attempt, else the latest.
    var displayedPayment: Payment? { holdingPayment ?? payments.last }

    mutating func replace(_ payment: Payment) {
        if let index = payments.firstIndex(where: { $0.id == payment.id }) {
            payments[index] = payment
        } else {
            payments.append(payment)
        }
    }
}

/// What the customer's page has reported about a link, so each step is told once and a link
/// that stops moving can be flagged as stalled.
public struct LinkActivity: Sendable, Equatable, Codable {
    public var openedAt: Date?
    public var lastActivityAt: Date?
    public var stalledAt: Date?
    public var declines: Int
    /// Steps already reported (`opened`, `entry_started:1`, `field:1:cvc`…): a repeated report is a no-op.
    public var marks: Set<String>

    public init(openedAt: Date? = nil, lastActivityAt: Date? = nil, stalledAt: Date? = nil, declines: Int = 0, marks: Set<String> = []) {
        self.openedAt = openedAt
        self.lastActivityAt = lastActivityAt
        self.stalledAt = stalledAt
        self.declines = declines
        self.marks = marks
    }

    enum CodingKeys: String, CodingKey { case openedAt = "opened_at", lastActivityAt = "last_activity_at", stalledAt = "stalled_at", declines, marks }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        openedAt = try container.decodeIfPresent(Int64.self, forKey: .openedAt).map(Date.init(unixSeconds:))
        lastActivityAt = try container.decodeIfPresent(Int64.self, forKey: .lastActivityAt).map(Date.init(unixSeconds:))
        stalledAt = try container.decodeIfPresent(Int64.self, forKey: .stalledAt).map(Date.init(unixSeconds:))
        declines = try container.decode(Int.self, forKey: .declines)
        marks = try container.decode(Set<String>.self, forKey: .marks)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(openedAt?.unixSeconds, forKey: .openedAt)
        try container.encode(lastActivityAt?.unixSeconds, forKey: .lastActivityAt)
        try container.encode(stalledAt?.unixSeconds, forKey: .stalledAt)
        try container.encode(declines, forKey: .declines)
        try container.encode(marks.sorted(), forKey: .marks)
    }
}

/// A PSP notification already acted on, recorded in the same transaction as its effect so a
/// duplicate delivery (on any instance) changes nothing twice.
public struct WebhookReceipt: Sendable, Equatable {
    public let provider: String
    public let eventID: String
    public let receivedAt: Date

    /// How long a receipt is kept (the expiry sweeper deletes older ones). Far longer than any
    /// PSP retries a delivery (Stripe: 3 days), and a report that comes later still changes
    /// nothing: a payment with an outcome ignores a second one (`late`, or the same outcome).
    static let retention: TimeInterval = 30 * 24 * 60 * 60
}

/// Which attempts a velocity rule counts.
public enum VelocityKey: Sendable, Equatable {
    case link(LinkID)
    case clientIP(String)
    case card(fingerprint: String)
}
