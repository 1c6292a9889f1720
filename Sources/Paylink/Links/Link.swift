import Foundation

/// A signed, expiring request for one payment, issued by an agent (SPEC §2 "Link").
public struct Link: Sendable, Equatable {
    /// What is stored. `expired` is written by the expiry service; readers use `status(at:)`,
    /// which already reports an open link past its `expires_at` as expired.
    public enum Status: String, Sendable, Codable, CaseIterable {
        case open, paid, expired, cancelled
    }

    public struct Customer: Sendable, Equatable, Codable {
        public var name: String?
        public var email: String?
        /// E.164, e.g. `+447700900123`.
        public var phone: String?
    }

    /// The chat or call this link belongs to, so a contact-center platform can find it again.
    public struct Conversation: Sendable, Equatable, Codable {
        public var channel: String
        public var id: String
    }

    public let id: LinkID
    public let agentID: AgentID
    /// Which signing key minted the token, and the token's random part (see `LinkToken`).
    public let signingKeyID: Int
    public let tokenNonce: Data
    public var status: Status
    public let amount: Money
    public let reference: String
    public let description: String?
    public let locale: String
    public var expiresAt: Date
    public let createdAt: Date
    public let customer: Customer?
    public let metadata: [String: String]
    public let conversation: Conversation?
    public var amountRefunded: Int64
    /// The `seq` of this link's newest event; the next event gets `lastSeq + 1`.
    public var lastSeq: Int
    /// Too many declined attempts: the page refuses further payments (the agent issues a new link).
    public var locked: Bool = false
    /// The attempt the agent should see, if any (see `PaymentSummary`).
    public var payment: PaymentSummary? = nil

    /// The status a reader should see at `now`: an open link whose time is up is expired,
    /// even in the seconds before the expiry service records it.
    public func status(at now: Date) -> Status {
        status == .open && expiresAt <= now ? .expired : status
    }
}
