import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

@testable import Paylink

/// A clock tests move by hand, so expiry can be tested without waiting.
final class ManualClock: WallClock {
    private let current: Mutex<Date>
    init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = Mutex(start) }
    func now() -> Date { current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// The stores the contract tests run against: SQLite always, PostgreSQL when
/// `PAYLINK_TEST_DATABASE_URL` is set (CI sets it; see `.ci/run`).
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    static var available: [StoreKind] {
        ProcessInfo.processInfo.environment["PAYLINK_TEST_DATABASE_URL"].map { _ in [.sqlite, .postgres] } ?? [.sqlite]
    }

    var testDescription: String { rawValue }
}

/// One Paylink on a fresh database (a SQLite file in a temporary directory, or a PostgreSQL
/// schema of its own), with agents ready to use.
struct TestPaylink {
    let directory: URL
    var configuration: PaylinkConfiguration
    let clock: ManualClock
    let admin: String
    let agent: String
    let otherAgent: String
    let supervisor: String
    let agentID: AgentID
    let otherAgentID: AgentID

    static func make(
        _ store: StoreKind = .sqlite, tls: Bool = false, clock: ManualClock = ManualClock(),
        configure: (inout PaylinkConfiguration) -> Void = { _ in }
    ) async throws -> TestPaylink {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-test-\(UUID().uuidString)")
        var configuration = PaylinkConfiguration()
        configuration.dataDirectory = directory.appendingPathComponent("data").path
        configuration.certificatesDirectory = directory.appendingPathComponent("certs").path
        configuration.tlsDisabled = !tls
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.publicURL = "https://pay.example.test"
        configuration.pspPort = 0
        // A PSP the page can name (nothing here calls it): with none at all an open link's page
        // is "temporarily unavailable". Payment tests point this at a running sandbox.
        configuration.pspURL = "https://psp.example.test"
        configuration.heartbeatInterval = .milliseconds(300)
        configuration.expirySweepInterval = .milliseconds(100)
        // Tests create and delete many short-lived databases; power-loss durability is not what they test.
        configuration.sqliteSynchronous = .normal
        if store == .postgres {
            configuration.databaseURL = ProcessInfo.processInfo.environment["PAYLINK_TEST_DATABASE_URL"]
            configuration.databaseSchema = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            // Instances sharing one database share the master key (PAYLINK_MASTER_KEY in production).
            configuration.masterKey = Data(repeating: 7, count: 32).base64EncodedString()
            // The suite runs everything at once, browsers included, on CI's two cores: twenty
            // writers queued on one link's row lock can keep the pool's 20 connections busy for
            // longer than production's 5 s wait for a connection, and one of them then got 503
            // (seen once in a fresh-clone run). Outage tests set their own short timeouts.
            configuration.databaseTimeout = .seconds(30)
        }
        configure(&configuration)
        let runtime = try await PaylinkRuntime.open(configuration, clock: clock)
        defer { runtime.close() }
        let (_, admin) = try await runtime.createAgent(name: "admin", role: .admin)
        let (agent, agentKey) = try await runtime.createAgent(name: "alice", role: .agent)
        let (other, otherKey) = try await runtime.createAgent(name: "bob", role: .agent)
        let (_, supervisor) = try await runtime.createAgent(name: "sue", role: .supervisor)
        return TestPaylink(
            directory: directory, configuration: configuration, clock: clock, admin: admin.secret, agent: agentKey.secret,
            otherAgent: otherKey.secret, supervisor: supervisor.secret, agentID: agent.id, otherAgentID: other.id)
    }

    /// A second instance on the same database (PostgreSQL) with its own data directory.
    func secondInstance() -> TestPaylink {
        var copy = self
        copy.configuration.dataDirectory = directory.appendingPathComponent("data-b").path
        return copy
    }

    func application() async throws -> some ApplicationProtocol {
        var logger = Logger(label: "paylink-test")
        logger.logLevel = .warning
        return try await buildApplication(configuration, clock: clock, logger: logger, onBootstrapKey: { _, _, _ in })
    }

    /// Runs `body` against the real router and database, then removes the directory.
    func test<Value>(_ setup: TestingSetup = .router, _ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        let app = try await application()
        return try await app.test(setup, body)
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Request helpers that read like the API docs.
extension TestClientProtocol {
    @discardableResult
    func send(
        _ method: HTTPRequest.Method, _ uri: String, key: String?, json: String? = nil, headers extra: [String: String] = [:]
    ) async throws -> TestResponse {
        var headers = HTTPFields()
        if let key { headers[.authorization] = "Bearer \(key)" }
        if json != nil { headers[.contentType] = "application/json" }
        for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
        return try await executeRequest(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }

    /// Creates a link and returns its JSON object, failing the test if creation fails.
    func createLink(key: String, _ json: String = #"{"amount": 1999, "currency": "GBP", "reference": "order-1"}"#) async throws
        -> [String: Any]
    {
        let response = try await send(.post, "/v1/links", key: key, json: json)
        #expect(response.status == .created, "create failed: \(String(buffer: response.body))")
        return try response.jsonObject()
    }
}

extension TestResponse {
    func jsonObject() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(buffer: body))
        guard let dictionary = object as? [String: Any] else { throw TestFailure("body is not a JSON object: \(String(buffer: body))") }
        return dictionary
    }

    /// The `error.code` of an error response.
    var errorCode: String? {
        ((try? jsonObject())?["error"] as? [String: Any])?["code"] as? String
    }

    var errorParam: String? {
        ((try? jsonObject())?["error"] as? [String: Any])?["param"] as? String
    }

    var text: String { String(buffer: body) }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
