import HTTPTypes
import Hummingbird
import NIOCore

/// Per-request state: who is calling (set by `AgentAuthenticator`) and the body limit.
public struct PaylinkRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated agent on `/v1` routes.
    public var agent: Agent?
    /// The lookup handle of the API key that authenticated the request, so a long-lived
    /// response (an event stream) can check that the key still works.
    var apiKeyLookupID: String?
    public let remoteAddress: SocketAddress?
    var maxBodyBytes: Int = 64 * 1024

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    public var maxUploadSize: Int { maxBodyBytes }

    /// The authenticated agent; routes behind `AgentAuthenticator` can rely on it.
    func requireAgent() throws -> Agent {
        guard let agent else { throw APIError.apiKeyMissing }
        return agent
    }
}

extension PaylinkRequestContext {
    /// A path parameter with its percent-encoding undone: `lnk%5Fabc` and `lnk_abc` name the
    /// same link (RFC 3986 §6.2.2.2), and the router hands parameters over as sent. Nil when
    /// the parameter is absent or its encoding is malformed (`%zz`).
    func decodedParameter(_ name: String) -> String? {
        parameters.get(name)?.removingPercentEncoding
    }
}
