import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// `Idempotency-Key` handling for every POST (SPEC §2, Stripe's semantics): the first
/// response is stored for 24 h and replayed for the same key and body; the same key with a
/// different body is 422; a duplicate that finds the key claimed by a request still running
/// is 409.
///
/// The key is claimed in the mutation's own transaction (see `IdempotencyCompletion`), not in
/// one before it, so a crash mid-request leaves no claim behind and a keyed request costs one
/// commit. "Still running" (SPEC §2: a concurrent duplicate is 409) is therefore known without
/// a row: on this instance from `inFlight`, across PostgreSQL instances from a transaction-scoped
/// advisory lock on the key (`PostgresStore.claim`). A claim with a lease is what an older
/// version left, or `claimIdempotencyKey` (a 409 until the lease runs out).
struct IdempotencyGate: Sendable {
    let store: any PaylinkStore
    let clock: any WallClock
    let sealer: ResponseSealer
    /// How long a claim left by a crash blocks others before it is presumed abandoned.
    var lease: TimeInterval = 60
    /// Keys whose request is running on this instance.
    let inFlight = InFlightKeys()
    static let retention: TimeInterval = 24 * 60 * 60

    /// Runs `operation` at most once per key. `operation` receives the claim to take and complete
    /// in its own transaction, and its response must be exactly what that completion stores.
    func run(
        _ request: Request, agent: Agent, body: Data,
        _ operation: (IdempotencyClaim?) async throws -> Response
    ) async throws -> Response {
        guard let key = request.headers.value(.idempotencyKey) else { return try await operation(nil) }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else {
            throw APIError.idempotencyKeyInvalid
        }
        let claim = IdempotencyClaim(
            agentID: agent.id, key: key,
            requestHash: IdempotencyClaim.hash(method: request.method.rawValue, path: request.uri.path, body: body),
            now: clock.now(), lease: lease)
        guard inFlight.enter(agent.id, key) else { throw APIError.idempotencyKeyInUse }
        defer { inFlight.leave(agent.id, key) }
        // A request that fails stores nothing, so its key stays free for a corrected retry.
        do {
            return try await operation(claim)
        } catch let refusal as IdempotencyRefusal {
            switch refusal.result {
            case .replay(let stored):
                var headers = HTTPFields()
                headers[.contentType] = "application/json"
                headers[.cacheControl] = "no-store"
                headers[.idempotentReplayed] = "true"
                let body = try sealer.open(stored.body)
                return Response(
                    status: HTTPResponse.Status(code: stored.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
            case .mismatch:
                throw APIError.idempotencyKeyReused
            case .inProgress, .acquired:
                throw APIError.idempotencyKeyInUse
            }
        }
    }
}

/// The (agent, key) pairs with a request running in this process.
final class InFlightKeys: Sendable {
    private struct Entry: Hashable {
        let agent: AgentID
        let key: String
    }
    private let running = Mutex<Set<Entry>>([])

    /// False if a request with this key is already running.
    func enter(_ agent: AgentID, _ key: String) -> Bool {
        running.withLock { $0.insert(Entry(agent: agent, key: key)).inserted }
    }

    func leave(_ agent: AgentID, _ key: String) {
        _ = running.withLock { $0.remove(Entry(agent: agent, key: key)) }
    }
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
    static let idempotentReplayed = Self("Idempotent-Replayed")!
    static let lastEventID = Self("Last-Event-ID")!
}

/// Stored idempotent responses hold payment URLs (bearer links for customers), so they are
/// sealed with AES-GCM under the data key like every other stored secret: a copy of the
/// database alone yields no working link.
struct ResponseSealer: Sendable {
    let dataKey: DataKey
    static let purpose = "idempotent-response"

    func seal(_ body: Data) throws -> Data { try dataKey.seal(body, purpose: Self.purpose) }
    func open(_ sealed: Data) throws -> Data { try dataKey.open(sealed, purpose: Self.purpose) }
}
