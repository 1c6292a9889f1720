import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import SandboxPSP
import ServiceLifecycle
import Synchronization

/// What a running Paylink is made of, from configuration. The CLI's one-shot commands
/// (`agents`, `keys`, `migrate`) use it without starting a server.
public struct PaylinkRuntime: Sendable {
    public let configuration: PaylinkConfiguration
    public let store: any PaylinkStore
    public let keyRing: SigningKeyRing
    /// Seals stored secrets; here for idempotent responses, which contain payment URLs.
    let dataKey: DataKey
    public let doorbell: EventDoorbell
    public let metrics: PaylinkMetrics
    public let clock: any WallClock
    /// Background work the store needs: PostgreSQL's connection pool and LISTEN loop, SQLite's WAL checkpoints.
    public let services: [any Service]
    /// Open once `prepare()` has run: background services that read tables wait for it.
    let started: StartupGate
    /// Set for one-shot use: the task running `services`, ended by `close()`.
    private let backgroundTask: Task<Void, Never>?

    /// Builds the parts without touching a PostgreSQL server; `prepare()` does the I/O.
    public static func make(_ configuration: PaylinkConfiguration, clock: any WallClock = SystemWallClock(), logger: Logger = Logger(label: "paylink"))
        throws -> PaylinkRuntime
    {
        let directory = URL(fileURLWithPath: configuration.dataDirectory)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ConfigurationError.unusableDirectory("dataDir", configuration.dataDirectory, error)
        }
        let dataKey = try configuration.masterKey.map(DataKey.init(base64:)) ?? DataKey.loadOrCreate(in: directory)
        let metrics = PaylinkMetrics()
        let doorbell = EventDoorbell(heartbeatInterval: configuration.heartbeatInterval, onAppend: metrics.recordAppended)
        let store: any PaylinkStore
        var services: [any Service] = []
        if let url = configuration.databaseURL {
            let postgres = try PostgresStore(
                url: url, schema: configuration.databaseSchema, timeout: configuration.databaseTimeout,
                queryTimeout: configuration.databaseQueryTimeout, doorbell: doorbell,
                logger: logger)
            store = postgres
            services = [postgres, PostgresEventListener(store: postgres, doorbell: doorbell, logger: logger)]
        } else {
            let sqlite = try SQLiteStore(path: sqlitePath(configuration), synchronous: configuration.sqliteSynchronous, doorbell: doorbell)
            store = sqlite
            services = [SQLiteCheckpointer(store: sqlite, logger: logger)]
        }
        return PaylinkRuntime(
            configuration: configuration, store: store, keyRing: SigningKeyRing(store: store, dataKey: dataKey), dataKey: dataKey,
            doorbell: doorbell,
            metrics: metrics, clock: clock, services: services, started: StartupGate(), backgroundTask: nil)
    }

    /// Where the embedded store keeps its database (when no `databaseURL` is set).
    public static func sqlitePath(_ configuration: PaylinkConfiguration) -> String {
        URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("paylink.sqlite").path
    }

    /// Whether there is a database to work on: always with PostgreSQL (the server says), with
    /// SQLite when the data directory holds one. Commands that only read or change what is
    /// there ask first, so a mistyped `--data-dir` is an error, not a new empty database.
    public static func hasDatabase(_ configuration: PaylinkConfiguration) -> Bool {
        configuration.databaseURL != nil || FileManager.default.fileExists(atPath: sqlitePath(configuration))
    }

    /// Whether the key that unseals the database's secrets is there (`PAYLINK_MASTER_KEY` or
    /// `DATA_DIR/master.key`); commands working on an existing database must not make a new one.
    public static func hasMasterKey(_ configuration: PaylinkConfiguration) -> Bool {
        configuration.masterKey != nil
            || FileManager.default.fileExists(atPath: DataKey.file(in: URL(fileURLWithPath: configuration.dataDirectory)).path)
    }

    /// Applies migrations and makes sure a link-signing key exists. Needs `services` running.
    public func prepare() async throws {
        try await store.migrate()
        try await keyRing.bootstrap(now: clock.now())
        started.open()
    }

    /// For one-shot use (CLI commands, test set-up): runs `services` in the background and prepares.
    /// Call `close()` when done.
    public static func open(_ configuration: PaylinkConfiguration, clock: any WallClock = SystemWallClock()) async throws -> PaylinkRuntime {
        var logger = Logger(label: "paylink")
        logger.logLevel = .warning
        let made = try make(configuration, clock: clock, logger: logger)
        let services = made.services
        let task: Task<Void, Never>? = services.isEmpty ? nil : Task {
            await withTaskGroup(of: Void.self) { group in
                for service in services { group.addTask { try? await service.run() } }
            }
        }
        let runtime = PaylinkRuntime(
            configuration: made.configuration, store: made.store, keyRing: made.keyRing, dataKey: made.dataKey, doorbell: made.doorbell,
            metrics: made.metrics, clock: clock, services: services, started: made.started, backgroundTask: task)
        try await runtime.prepare()
        return runtime
    }

    /// Ends the background services started by `open`.
    public func close() {
        backgroundTask?.cancel()
    }

    /// The link rules wired to this runtime's store, keys and clock; one definition for the
    /// routes and the expiry service alike.
    var linkService: LinkService {
        LinkService(
            store: store, keyRing: keyRing, clock: clock, publicURL: configuration.resolvedPublicURL,
            maxAmount: configuration.maxAmount, sealer: ResponseSealer(dataKey: dataKey))
    }

    /// Creates an agent and its first API key; the key is returned once and only its digest is kept.
    public func createAgent(name: String, role: Agent.Role) async throws -> (Agent, APIKey) {
        if let problem = Agent.nameProblem(name) { throw ConfigurationError.invalid(problem) }
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
    onBootstrapKey: @escaping @Sendable (Agent, APIKey, String) -> Void = { _, key, console in
        // Unbuffered, so the key shows even when standard output is a pipe to a log collector.
        FileHandle.standardOutput.write(Data("Bootstrap admin API key (shown once, store it now): \(key.secret)\nConsole: \(console)\n".utf8))
    }
) async throws -> some ApplicationProtocol {
    let logger = logger ?? Logger(label: "paylink")
    let runtime = try PaylinkRuntime.make(configuration, clock: clock, logger: logger)

    let server: HTTPServerBuilder
    let http1 = HTTP1Channel.Configuration(
        additionalChannelHandlers: [HTTP1RequestGuard.Installer(), ExpectContinueHandler(maxBodyBytes: configuration.maxBodyBytes)], idleTimeout: TimeAmount(configuration.idleTimeout))
    var certificate: (chain: String, key: String, developmentCA: String?)?
    if configuration.tlsDisabled {
        logger.warning("TLS is disabled (--no-tls): serve only behind a TLS-terminating proxy")
        server = .http1(configuration: http1)
    } else {
        if let chain = configuration.tlsCertificatePath, let privateKey = configuration.tlsKeyPath {
            certificate = (chain, privateKey, nil)
        } else {
            let paths = try DevelopmentCertificates.ensure(in: configuration.certificatesDirectory)
            certificate = (paths.certificateChain, paths.privateKey, paths.caCertificate)
        }
        server = try .tls(
            .http1(configuration: http1), tlsConfiguration: TLSSetup.serverConfiguration(certificateChain: certificate!.chain, privateKey: certificate!.key))
    }

    // The PSP: the embedded sandbox on its own listener unless `--psp-port 0` or `--psp-url`.
    let ownAddress = OwnAddress(configuration)
    let psp = runtime.pspEndpoint
    var pspServices: [any Service] = []
    if !configuration.hasPSP {
        logger.warning("no PSP: the sandbox is off (--psp-port 0) and no --psp-url is set; payments will answer 503 psp_unavailable")
    } else if configuration.pspURL == nil {
        pspServices.append(
            try buildSandboxPSP(
                configuration: runtime.sandboxConfiguration(
                    certificate: certificate.map { ($0.chain, $0.key) }, trustRoots: certificate?.developmentCA, webhookBase: ownAddress),
                logger: Logger(label: "sandbox-psp")))
    }
    let pspClient = PSPClient(
        baseURL: psp.url, secretKey: psp.secretKey, trustRoots: configuration.pspCAFile ?? certificate?.developmentCA, logger: logger)
    let payments = runtime.paymentService(psp: pspClient, logger: logger)
    let router = try buildRouter(runtime, payments: payments)

    let links = runtime.linkService
    let expiry = LinkExpiryService(
        links: links, store: runtime.store, clock: clock, interval: configuration.expirySweepInterval, started: runtime.started,
        logger: logger)
    let watcher = PaymentWatcher(
        payments: payments, store: runtime.store, clock: clock, interval: .seconds(1), started: runtime.started, logger: logger)
    var app = Application(
        router: router, server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
        // Store services first: the group stops services in reverse order, so the database goes last.
        services: runtime.services + [runtime.doorbell, pspClient, expiry, watcher] + pspServices,
        onServerRunning: { channel in ownAddress.bound(port: channel.localAddress?.port) },
        logger: logger)
    app.beforeServerStarts {
        try await runtime.prepare()
        if let (agent, key) = try await runtime.bootstrapAdminIfEmpty() {
            onBootstrapKey(agent, key, configuration.resolvedPublicURL + "/console")
            logger.notice("created bootstrap admin", metadata: ["agent_id": .string(agent.id.rawValue)])
        }
    }
    return app
}

/// The routes and middleware, separate from the server so tests can drive it in-process.
/// Without `payments` the page's pay endpoint answers 503 (no PSP), which suits tests of other areas.
func buildRouter(_ runtime: PaylinkRuntime, payments: PaymentService? = nil) throws -> Router<PaylinkRequestContext> {
    let payments = payments ?? runtime.paymentService(psp: nil, logger: Logger(label: "paylink"))
    let configuration = runtime.configuration
    let links = runtime.linkService
    // HEAD wherever GET is (RFC 9110 §9.1), answered by the GET handler without the body.
    let router = Router(context: PaylinkRequestContext.self, options: .autoGenerateHeadEndpoints)
    if !configuration.tlsDisabled { router.add(middleware: StrictTransportSecurityMiddleware()) }
    router.add(middleware: RequestMetricsMiddleware(metrics: runtime.metrics))
    router.add(middleware: APIErrorMiddleware())
    router.add(middleware: BodyLimitMiddleware(maxBodyBytes: configuration.maxBodyBytes))
    let page = try PaymentPageController(
        store: runtime.store, keyRing: runtime.keyRing, clock: runtime.clock,
        pspURL: configuration.hasPSP ? runtime.pspEndpoint.url : nil)
    router.add(middleware: PaymentPageController.NoRouteMiddleware(controller: page))

    HealthController(store: runtime.store, metrics: runtime.metrics).addRoutes(to: router)
    OpenAPIController().addRoutes(to: router)
    page.addRoutes(to: router)
    PaymentPageAPIController(payments: payments, clock: runtime.clock, trustForwardedFor: configuration.trustForwardedFor)
        .addRoutes(to: router)
    PSPWebhookController(
        provider: "sandbox", verifier: StripeSignatureVerifier(secrets: runtime.pspEndpoint.webhookSecrets), payments: payments,
        store: runtime.store, clock: runtime.clock
    ).addRoutes(to: router)

    let api = router.group("v1").add(middleware: AgentAuthenticator(store: runtime.store))
    LinksController(
        links: links, payments: payments, store: runtime.store,
        idempotency: IdempotencyGate(store: runtime.store, clock: runtime.clock, sealer: links.sealer), clock: runtime.clock
    ).addRoutes(to: api)
    EventsController(store: runtime.store, stream: EventStream(doorbell: runtime.doorbell, metrics: runtime.metrics, logger: Logger(label: "paylink")))
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
