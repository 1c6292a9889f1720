import HTTPTypes
import Hummingbird

/// Resolves `Authorization: Bearer plk_…` to an enabled agent, or answers 401 (SPEC §2).
///
/// The key's lookup handle finds one stored digest; the digests are then compared in
/// constant time. A malformed key is rejected before any database access.
struct AgentAuthenticator: RouterMiddleware {
    typealias Context = PaylinkRequestContext
    let store: any PaylinkStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers.value(.authorization) else { throw APIError.apiKeyMissing }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw APIError.apiKeyInvalid }
        guard let key = APIKey(presented: String(parts[1])),
            let (agent, digest) = try await store.credential(lookupID: key.lookupID),
            key.matches(digest: digest)
        else { throw APIError.apiKeyInvalid }
        guard !agent.disabled else { throw APIError.agentDisabled }
        var context = context
        context.agent = agent
        context.apiKeyLookupID = key.lookupID
        // No `agent_id` on `context.logger`: nothing behind this middleware logs through it,
        // and setting it copied the logger's storage and metadata on every request (≈ 1.5 %
        // of a create's CPU). Whoever logs for an agent adds `context.agent` to that line.
        return try await next(request, context)
    }
}

extension PaylinkStore {
    /// Whether the key behind this lookup handle still authenticates an enabled agent: an
    /// event stream asks before every write, so disabling an agent ends its open streams
    /// before they deliver anything more.
    func credentialStillValid(lookupID: String?) async throws -> Bool {
        guard let lookupID, let (agent, _) = try await credential(lookupID: lookupID) else { return false }
        return !agent.disabled
    }
}
