import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL
import ServiceLifecycle

/// What a running Paylink is made of, opened from configuration. The CLI's one-shot commands
/// (`agents`, `keys`, `migrate`) use this without starting a server.
public struct PaylinkRuntime: Sendable {
    public let configuration: PaylinkConfiguration
    public let store: any PaylinkStore
    public let keyRing: SigningKeyRing
    public let doorbell: EventDoorbell
    public let metrics: PaylinkMetrics
    public let clock: any WallClock

    /// Opens the data directory and database, applies migrations and makes sure a link-signing key exists.
    public static func open(_ configuration: PaylinkConfiguration, clock: any WallClock = SystemWallClock()) async throws -> PaylinkRuntime {
        let directory = URL(fileURLWithPath: configuration.dataDirectory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let dataKey = try configuration.masterKey.map(DataKey.init(base64:)) ?? DataKey.loadOrCreate(in: directory)
        let metrics = PaylinkMetrics()
        let doorbell = EventDoorbell(heartbeatInterval: configuration.heartbeatInterval, onAppend: metrics.recordAppended)
        if configuration.databaseURL != nil {
            throw ConfigurationError.invalid(
                "PAYLINK_DATABASE_URL is set, but this build has only the embedded SQLite store; unset it to use SQLite")
        }
        let store = try SQLiteStore(
            path: directory.appendingPathComponent("paylink.sqlite").path, synchronous: configuration.sqliteSynchronous,
            doorbell: doorbell)
        try await store.migrate()
        let keyRing = SigningKeyRing(store: store, dataKey: dataKey)
        try await keyRing.bootstrap(now: clock.now())
        return PaylinkRuntime(
            configuration: configuration, store: store, keyRing: keyRing, doorbell: doorbell, metrics: metrics, clock: clock)
    }

    /// Creates an agent and its first API key; the key is returned once and only its digest is kept.
    public func createAgent(name: String, role: Agent.Role) async throws -> (Agent, APIKey) {
        let agent = Agent(id: .generate(), name: name, role: role, createdAt: clock.now())
        let key = APIKey.generate()
        try await store.insertAgent(agent, key: key)
        return (agent, key)
    }

    /// On an empty database, an admin to get started with; nil once any agent exists.
    public func bootstrapAdminIfEmpty() async throws -> (Agent, APIKey)? {
        guard try await store.agents().isEmpty else { return nil }
        return try await createAgent(name: "bootstrap-admin", role: .admin)
    }
}

/// Builds the HTTP(S) application from configuration: routes, middleware and background services.
public func buildApplication(
    _ configuration: PaylinkConfiguration, clock: any WallClock = SystemWallClock(), logger: Logger? = nil,
    onBootstrapKey: @Sendable (Agent, APIKey, String) -> Void = { _, key, console in
        print("Bootstrap admin API key (shown once, store it now): \(key.secret)\nConsole: \(console)")
    }
) async throws -> some ApplicationProtocol {
    let logger = logger ?? Logger(label: "paylink")
    let runtime = try await PaylinkRuntime.open(configuration, clock: clock)
    if let (agent, key) = try await runtime.bootstrapAdminIfEmpty() {
        onBootstrapKey(agent, key, configuration.resolvedPublicURL + "/console")
        logger.notice("created bootstrap admin", metadata: ["agent_id": .string(agent.id.rawValue)])
    }
    let router = try buildRouter(runtime)

    let server: HTTPServerBuilder
    if configuration.tlsDisabled {
        logger.warning("TLS is disabled (--no-tls): serve only behind a TLS-terminating proxy")
        server = .http1()
    } else {
        let chain: String
        let key: String
        if let certificate = configuration.tlsCertificatePath, let privateKey = configuration.tlsKeyPath {
            (chain, key) = (certificate, privateKey)
        } else {
            let paths = try DevelopmentCertificates.ensure(in: configuration.certificatesDirectory)
            (chain, key) = (paths.certificateChain, paths.privateKey)
        }
        server = try .tls(.http1(), tlsConfiguration: TLSSetup.serverConfiguration(certificateChain: chain, privateKey: key))
    }

    let links = LinkService(
        store: runtime.store, keyRing: runtime.keyRing, clock: clock, publicURL: configuration.resolvedPublicURL,
        maxAmount: configuration.maxAmount)
    let expiry = LinkExpiryService(
        links: links, store: runtime.store, clock: clock, interval: configuration.expirySweepInterval, logger: logger)
    return Application(
        router: router, server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
        services: [runtime.doorbell, expiry], logger: logger)
}

/// The routes and middleware, separate from the server so tests can drive it in-process.
func buildRouter(_ runtime: PaylinkRuntime) throws -> Router<PaylinkRequestContext> {
    let configuration = runtime.configuration
    let links = LinkService(
        store: runtime.store, keyRing: runtime.keyRing, clock: runtime.clock, publicURL: configuration.resolvedPublicURL,
        maxAmount: configuration.maxAmount)
    let router = Router(context: PaylinkRequestContext.self)
    if !configuration.tlsDisabled { router.add(middleware: StrictTransportSecurityMiddleware()) }
    router.add(middleware: RequestMetricsMiddleware(metrics: runtime.metrics))
    router.add(middleware: APIErrorMiddleware())
    router.add(middleware: BodyLimitMiddleware(maxBodyBytes: configuration.maxBodyBytes))

    HealthController(store: runtime.store, metrics: runtime.metrics).addRoutes(to: router)
    OpenAPIController().addRoutes(to: router)
    try PaymentPageController(store: runtime.store, keyRing: runtime.keyRing, clock: runtime.clock).addRoutes(to: router)

    let api = router.group("v1").add(middleware: AgentAuthenticator(store: runtime.store))
    LinksController(
        links: links, store: runtime.store, idempotency: IdempotencyGate(store: runtime.store, clock: runtime.clock),
        clock: runtime.clock
    ).addRoutes(to: api)
    EventsController(store: runtime.store, stream: EventStream(doorbell: runtime.doorbell, metrics: runtime.metrics))
        .addRoutes(to: api)
    return router
}

/// Carries the configured body limit into each request's context.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = PaylinkRequestContext
    let maxBodyBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.maxBodyBytes = maxBodyBytes
        return try await next(request, context)
    }
}
