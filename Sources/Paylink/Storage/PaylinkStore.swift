import Foundation

/// Everything Paylink keeps, behind one contract that the embedded SQLite store and the
/// PostgreSQL store both implement; one test suite runs against each.
///
/// The store owns atomicity, never business rules: each mutating call runs the caller's
/// pure `transform` inside one transaction, then appends the events it returns with the next
/// `seq` numbers, in that same transaction, and only then tells the `EventDoorbell`.
public protocol PaylinkStore: Sendable {
    /// Applies pending migrations. Safe to call from several processes at once.
    func migrate() async throws
    /// Throws unless the database answers and every migration is applied.
    func checkReady() async throws

    // MARK: Agents
    func insertAgent(_ agent: Agent, key: APIKey) async throws
    /// The agent owning the key with this lookup handle, and the key's stored digest.
    func credential(lookupID: String) async throws -> (agent: Agent, digest: Data)?
    func agents() async throws -> [Agent]
    func setAgentDisabled(_ id: AgentID, disabled: Bool) async throws -> Agent?

    // MARK: Link-signing keys
    func signingKeys() async throws -> [StoredSigningKey]
    /// Stores a new key and makes it the current one; the previous current key stays active.
    func insertSigningKey(sealedSecret: Data, createdAt: Date) async throws -> StoredSigningKey
    /// Marks a key retired. Returns nil if there is no such key.
    func retireSigningKey(id: Int, at: Date) async throws -> StoredSigningKey?

    // MARK: Links and their events
    func insertLink(_ link: Link, event: EventDraft, idempotency: IdempotencyCompletion<Link>?) async throws -> Event
    /// Loads the link (if `scope` may see it), applies `transform`, saves the result and its events.
    /// Throws `StoreError.notFound` when the link does not exist for this scope.
    func updateLink(
        _ id: LinkID, scope: AgentScope, idempotency: IdempotencyCompletion<Link>?,
        transform: @escaping @Sendable (inout Link) throws -> [EventDraft]
    ) async throws -> (Link, [Event])
    func link(_ id: LinkID, scope: AgentScope) async throws -> Link?
    func link(tokenNonce: Data) async throws -> Link?
    func links(_ query: LinkQuery) async throws -> (links: [Link], hasMore: Bool)
    /// Open links whose `expires_at` has passed, oldest first.
    func linksDueToExpire(asOf: Date, limit: Int) async throws -> [LinkID]

    func events(link: LinkID, afterSeq: Int, limit: Int) async throws -> [Event]
    func events(afterCursor: Int64, scope: AgentScope, limit: Int) async throws -> [Event]
    /// The store-wide cursor of the newest event `scope` may see (0 when there is none): no
    /// client of that scope can hold a later one.
    func latestEventCursor(scope: AgentScope) async throws -> Int64

    // MARK: Payments
    /// Loads the link (any agent's) with its payment attempts and activity, applies `transform`,
    /// and saves all three with the returned events in one transaction, the link row locked.
    /// With a `receipt`, records it in the same transaction and throws `StoreError.duplicate`
    /// (changing nothing) if that PSP event was already recorded.
    func updatePayments(
        _ id: LinkID, receipt: WebhookReceipt?, transform: @escaping @Sendable (inout PaymentRecord) throws -> [EventDraft]
    ) async throws -> (PaymentRecord, [Event])
    /// The link a payment attempt belongs to.
    func paymentLink(_ id: PaymentID) async throws -> LinkID?
    /// Attempts (any status but `blocked`) matching `key` created at or after `since`.
    func countPayments(_ key: VelocityKey, since: Date) async throws -> Int
    /// Open links whose page reported something and then nothing since `lastActivityBefore`,
    /// and that are not already marked stalled for that silence.
    func linksToMarkStalled(lastActivityBefore: Date, limit: Int) async throws -> [LinkID]
    /// Live attempts (`processing`, `requires_action`) last changed before `updatedBefore`, oldest first.
    func paymentsAwaitingOutcome(updatedBefore: Date, limit: Int) async throws -> [(payment: PaymentID, link: LinkID)]

    // MARK: Idempotency keys
    /// Takes a key in a transaction of its own, with a lease. Requests take theirs inside the
    /// change's transaction instead (`IdempotencyCompletion`); this one stands for a claim whose
    /// holder went away, which the same rules then judge.
    func claimIdempotencyKey(_ claim: IdempotencyClaim) async throws -> IdempotencyClaimResult
    func purgeIdempotencyKeys(createdBefore: Date) async throws -> Int

    // MARK: Webhook receipts
    /// Deletes receipts received before `receivedBefore`; returns how many.
    func purgeWebhookReceipts(receivedBefore: Date) async throws -> Int
}

/// Errors a store raises for conditions callers handle; anything else is an outage.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound
    case duplicate
    case unavailable(String)

    /// What the CLI prints after `Error:` (the API answers with its own codes instead).
    public var description: String {
        switch self {
        case .notFound: "not found"
        case .duplicate: "duplicate"
        case .unavailable(let reason): "database unavailable: \(reason)"
        }
    }
}

/// A link-signing key as kept in the database: its secret sealed under the data key.
public struct StoredSigningKey: Sendable, Equatable {
    public enum Status: String, Sendable, Codable { case current, active, retired }
    public let id: Int
    public let sealedSecret: Data
    public let status: Status
    public let createdAt: Date
    public let retiredAt: Date?
}

/// Filters and cursor of `GET /v1/links`.
public struct LinkQuery: Sendable {
    public var scope: AgentScope
    public var limit: Int
    public var startingAfter: LinkID?
    public var status: Link.Status?
    public var reference: String?
    public var customerEmail: String?
    public var customerPhone: String?
    /// Used to classify open links past their time as expired.
    public var now: Date
}
