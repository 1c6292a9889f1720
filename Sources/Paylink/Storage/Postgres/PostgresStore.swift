import Foundation
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// The store for several instances on one PostgreSQL (SPEC: `PAYLINK_DATABASE_URL`).
///
/// Same contract as `SQLiteStore`. Concurrency comes from the database, not from memory:
/// a link's row is locked (`FOR UPDATE`) while its change and events are written, so `seq`
/// has no gaps across instances; event-appending transactions also take one advisory lock,
/// so the store-wide cursor commits in order and a reader never skips an event that commits
/// late. Each commit with events also sends `NOTIFY paylink_events`: every instance's
/// `PostgresEventListener` rings its doorbell, and streams re-read the table.
public final class PostgresStore: PaylinkStore, Service {
    let client: PostgresClient
    let doorbell: EventDoorbell?
    let logger: Logger
    /// A schema of its own (tests); nil uses the connection's default search_path.
    let schema: String?
    let configuration: PostgresClient.Configuration
    /// How long a request waits for a database connection before answering 503; also the
    /// deadline of `/readyz`'s query, so readiness fails promptly on a server that stopped answering.
    let timeout: Duration
    /// The deadline of a request's work on a connection (see `withLease`).
    let queryTimeout: Duration
    /// Work on a connection that has closed is given up on (see `withLease`).
    let closedConnections = ClosedConnectionWatch()

    static let notificationChannel = "paylink_events"
    /// Serialises event appends store-wide so cursor order is commit order.
    static let appendLockKey: Int64 = 0x7061_796c_696e_6b01

    /// The URL's parts, kept to open one connection outside the pool (`connectionProblem()`).
    let settings: ConnectionSettings

    public init(
        url: String, schema: String? = nil, timeout: Duration = .seconds(5), queryTimeout: Duration = .seconds(30), doorbell: EventDoorbell? = nil, logger: Logger
    ) throws {
        let settings = try ConnectionSettings(url: url)
        var configuration = Self.configuration(settings)
        self.settings = settings
        if let schema {
            configuration.options.additionalStartupParameters.append(("search_path", schema))
        }
        self.configuration = configuration
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.doorbell = doorbell
        self.logger = logger
        self.schema = schema
        self.timeout = timeout
        self.queryTimeout = queryTimeout
    }

    /// Runs the connection pool; a `Service` in the application's group.
    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.client.run() }
    }

    /// The pool's configuration for `postgres://user:pass@host:port/db?sslmode=…` (see `ConnectionSettings`).
    static func configuration(_ settings: ConnectionSettings) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.username, password: settings.password,
            database: settings.database, tls: settings.clientTLS)
        configuration.options.maximumConnections = 20
        return configuration
    }

    public func migrate() async throws {
        do {
            try await migrateOnce()
        } catch StoreError.unavailable(let reason) {
            // The pool only logs why its connections fail; `paylink migrate` (and `serve` at
            // start) should say it: a wrong password, database or sslmode is the usual cause.
            guard let problem = await connectionProblem() else { throw StoreError.unavailable(reason) }
            throw StoreError.unavailable("\(reason); connecting directly: \(problem)")
        }
    }

    private func migrateOnce() async throws {
        try await guarded {
            try await self.withLease(deadline: nil) { connection in
                if let schema = self.schema {
                    try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(schema)\""), logger: self.logger)
                }
                try await PostgresMigrations.apply(on: connection, logger: self.logger)
            }
        }
    }

    public func checkReady() async throws {
        try await guarded {
            let missing = try await self.withLease(deadline: self.timeout) { connection in
                try await PostgresMigrations.pending(on: connection, logger: self.logger)
            }
            guard missing.isEmpty else { throw StoreError.unavailable("migrations are not applied") }
        }
    }

    /// Runs `body` in a transaction and maps connection failures to `StoreError.unavailable`.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await guarded {
            try await self.withLease(deadline: self.queryTimeout) { connection in
                try await connection.query("BEGIN", logger: self.logger)
                do {
                    let result = try await body(connection)
                    try await connection.query("COMMIT", logger: self.logger)
                    return result
                } catch {
                    // Not on a closed connection (lost, or closed at the deadline): the query would
                    // be dropped and never return, and PostgreSQL rolls back on the close anyway.
                    if !connection.isClosed { _ = try? await connection.query("ROLLBACK", logger: self.logger) }
                    throw error
                }
            }
        }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await guarded { try await self.withLease(deadline: self.queryTimeout, body) }
    }

    /// Database and network failures become `StoreError.unavailable` (503 with Retry-After);
    /// the store's own errors pass through.
    func guarded<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as StoreError {
            throw error
        } catch let error as PSQLError {
            if error.code == .server, let state = error.serverInfo?[.sqlState], state.hasPrefix("23") {
                throw StoreError.duplicate
            }
            logger.warning("database unavailable", metadata: ["error.code": "\(error.code)", "sqlstate": "\(error.serverInfo?[.sqlState] ?? "")"])
            throw StoreError.unavailable("database error \(error.code)")
        } catch let error as any APIErrorConvertible {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // Connection-level failures (NIO channel errors, pool closed) surface as other error types.
            if String(reflecting: type(of: error)).contains("NIO") || String(reflecting: type(of: error)).contains("Pool") {
                throw StoreError.unavailable("database connection failed")
            }
            throw error
        }
    }
}
