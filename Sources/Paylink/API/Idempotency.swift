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

/// The response stored for replay: status and the exact body bytes.
public struct StoredResponse: Sendable, Equatable {
    public let status: Int
    public let body: Data
}

/// Finishes a claim inside the mutation's own transaction, so "the link was created" and
/// "the response to replay is stored" commit together or not at all: a crash in between
/// can neither lose the response nor create the link twice on retry.
public struct IdempotencyCompletion<Value: Sendable>: Sendable {
    public let claim: IdempotencyClaim
    public let render: @Sendable (Value) throws -> StoredResponse
}
