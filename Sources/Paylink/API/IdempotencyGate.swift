import Foundation
import HTTPTypes
import Hummingbird

/// `Idempotency-Key` handling for every POST (SPEC §2, Stripe's semantics): the first
/// response is stored for 24 h and replayed for the same key and body; the same key with a
/// different body is 422; a duplicate that arrives while the first is running is 409.
struct IdempotencyGate: Sendable {
    let store: any PaylinkStore
    let clock: any WallClock
    let sealer: ResponseSealer
    /// How long a claimed key blocks others before the claim is presumed abandoned by a crash.
    var lease: TimeInterval = 60
    static let retention: TimeInterval = 24 * 60 * 60

    /// Runs `operation` at most once per key. `operation` receives the claim to complete in its
    /// own transaction, and its response must be exactly what that completion stores.
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
        switch try await store.claimIdempotencyKey(claim) {
        case .replay(let stored):
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.cacheControl] = "no-store"
            headers[.idempotentReplayed] = "true"
            let body = try sealer.open(stored.body)
            return Response(status: HTTPResponse.Status(code: stored.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        case .mismatch:
            throw APIError.idempotencyKeyReused
        case .inProgress:
            throw APIError.idempotencyKeyInUse
        case .acquired:
            do {
                return try await operation(claim)
            } catch {
                // Nothing was committed with the claim: free the key so a corrected retry can run.
                try? await store.releaseIdempotencyKey(claim)
                throw error
            }
        }
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
