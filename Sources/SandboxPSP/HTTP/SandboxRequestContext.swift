import Hummingbird

/// Per-request state of the sandbox: a small body limit (the largest request is a charge with metadata).
public struct SandboxRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { 32 * 1024 }
}
