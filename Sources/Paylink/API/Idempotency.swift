import Crypto
import Foundation

/// One agent's use of one `Idempotency-Key` for one request.
public struct IdempotencyClaim: Sendable, Equatable {
    public let agentID: AgentID
    public let key: String
    /// SHA-256 of method, path and body: the same key with another request is a client bug (422).
    public let requestHash: Data
    public let now: Date
    /// How long an unfinished claim blocks retries before it is presumed abandoned (a crash).
    public let lease: TimeInterval

    static func hash(method: String, path: String, body: some DataProtocol) -> Data {
        var hasher = SHA256()
        hasher.update(data: Data(method.utf8))
        hasher.update(data: [0])
        hasher.update(data: Data(path.utf8))
        hasher.update(data: [0])
        hasher.update(data: Data(body))
        return Data(hasher.finalize())
    }
}

public enum IdempotencyClaimResult: Sendable, Equatable {
    /// First use (or an abandoned one): run the request.
    case acquired
    /// Already done: send this response again.
    case replay(StoredResponse)
    /// Same key, different request.
    case mismatch
    /// Same key, still running elsewhere.
    case inProgress
}

/// Thrown by a store from inside a mutation's transaction when its key is already taken: the
/// mutation changed nothing. `IdempotencyGate` answers with the replay, 422 or 409.
public struct IdempotencyRefusal: Error, Sendable, Equatable {
    /// `.replay`, `.mismatch` or `.inProgress`; never `.acquired`.
    public let result: IdempotencyClaimResult
}

/// The response stored for replay: status and the exact body bytes.
public struct StoredResponse: Sendable, Equatable {
    public let status: Int
    public let body: Data
}

/// Claims the key and stores the response inside the mutation's own transaction, so "the key
/// is taken", "the link was created" and "the response to replay is stored" commit together or
/// not at all: a crash can neither lose the response nor create the link twice on retry, nor
/// leave a claim behind that makes the retry wait for a lease (a claim in a transaction of its
/// own did, and cost a commit of its own on every keyed request).
public struct IdempotencyCompletion<Value: Sendable>: Sendable {
    public let claim: IdempotencyClaim
    public let render: @Sendable (Value) throws -> StoredResponse
}
