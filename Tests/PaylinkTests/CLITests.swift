import Foundation
import NIOCore
import NIOPosix
import Testing

/// The `paylink` executable itself (built by `swift test` with the tests), for what only the
/// command line decides: exit statuses, what goes to standard error, what is left on disk.
@Suite("The paylink command")
struct CLITests {
    /// Commands that list or change what a database holds stop on a folder without one (a
    /// mistyped `--data-dir`), and create nothing there.
    @Test func commandsNeedingADatabaseStopWithoutCreatingOne() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let missing = root.appendingPathComponent("typo").path
        for arguments in [["agents", "list"], ["agents", "disable", "agt_0Vc4EesyQT09xem2Hc3F7dTJ"], ["keys", "list"], ["keys", "rotate"], ["keys", "retire", "1"]] {
            let result = try Self.paylink(arguments + ["--data-dir", missing])
            #expect(result.status == 1, "\(arguments): \(result.error)")
            #expect(result.error.contains("Error: no Paylink database in \(missing)"), "\(arguments): \(result.error)")
            #expect(!result.error.contains("Usage:"), "\(arguments)")
            #expect(!FileManager.default.fileExists(atPath: missing), "\(arguments) created \(missing)")
        }
    }

    /// A command that parsed but cannot be done says why and exits 1; a mistake in the
    /// arguments gets the subcommand's usage; a database without its master key is not given a new one.
    @Test func refusalsSayWhyAndMistakesShowTheUsage() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let data = root.appendingPathComponent("data").path
        let created = try Self.paylink(["agents", "create", "--name", "Ada", "--json", "--data-dir", data])
        #expect(created.status == 0, "\(created.error)")
        #expect(created.output.contains(#""api_key":"plk_"#))

        let retire = try Self.paylink(["keys", "retire", "99", "--data-dir", data])
        #expect(retire.status == 1 && retire.error.contains("Error: no signing key 99") && !retire.error.contains("Usage:"), "\(retire.error)")
        let current = try Self.paylink(["keys", "retire", "1", "--data-dir", data])
        #expect(current.status == 1 && current.error.contains("is the current key") && !current.error.contains("Usage:"), "\(current.error)")
        let unknown = try Self.paylink(["agents", "disable", "agt_0Vc4EesyQT09xem2Hc3F7dTJ", "--data-dir", data])
        #expect(unknown.status == 1 && unknown.error.contains("Error: no agent agt_0Vc4EesyQT09xem2Hc3F7dTJ"), "\(unknown.error)")

        let malformed = try Self.paylink(["agents", "disable", "not-an-id", "--data-dir", data])
        #expect(malformed.status == 64, "\(malformed.error)")
        #expect(malformed.error.contains("'not-an-id' is not an agent id") && malformed.error.contains("Usage: paylink agents disable"), "\(malformed.error)")

        try FileManager.default.removeItem(atPath: data + "/master.key")
        let keyless = try Self.paylink(["agents", "list", "--data-dir", data])
        #expect(keyless.status == 1 && keyless.error.contains("Error: no master key"), "\(keyless.error)")
        #expect(!FileManager.default.fileExists(atPath: data + "/master.key"), "no new master key was made")
    }

    /// A port in use stops `serve` before anything starts (no database, no bootstrap key), with
    /// the setting that chose the port, not NIO's bare `bind(…)` error.
    @Test func servePortInUseNamesTheSetting() async throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let taken = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(taken.localAddress?.port)
        let data = root.appendingPathComponent("data").path
        let common = ["--data-dir", data, "--certificates-dir", root.appendingPathComponent("certs").path, "--host", "127.0.0.1"]
        let paylinkPort = try Self.paylink(["serve", "--port", "\(port)", "--psp-port", "0"] + common)
        #expect(paylinkPort.status == 1, "\(paylinkPort.error)")
        #expect(paylinkPort.error.contains("Error: Paylink cannot listen on 127.0.0.1:\(port) (--port/PAYLINK_PORT): Address already in use"), "\(paylinkPort.error)")
        #expect(!paylinkPort.output.contains("plk_"), "no bootstrap key was made")
        #expect(!FileManager.default.fileExists(atPath: data + "/paylink.sqlite"))
        // Paylink's own port must be free here: one the kernel just handed out and took back.
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let free = try #require(probe.localAddress?.port)
        try await probe.close()
        let pspPort = try Self.paylink(["serve", "--port", "\(free)", "--psp-port", "\(port)"] + common)
        #expect(pspPort.status == 1, "\(pspPort.error)")
        #expect(pspPort.error.contains("the sandbox PSP cannot listen on 127.0.0.1:\(port) (--psp-port/PAYLINK_PSP_PORT)"), "\(pspPort.error)")
        try await taken.close()
    }

    /// `agents disable` run while the service answers, from its own process: the service's
    /// next request with that agent's key is refused, though it had the key's row cached.
    /// (End to end, with the real 1 s backstop: on a slow run the backstop alone could pass
    /// it. That the marker alone suffices is shown in SQLiteCredentialCacheTests.)
    @Test func agentsDisableReachesARunningServerAtOnce() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            for _ in 0..<2 { #expect(try await client.send(.get, "/v1/links", key: paylink.agent).status == .ok) }
            let disable = try Self.paylink(["agents", "disable", paylink.agentID.rawValue, "--data-dir", paylink.configuration.dataDirectory])
            #expect(disable.status == 0, "\(disable.error)")
            let refused = try await client.send(.get, "/v1/links", key: paylink.agent)
            #expect(refused.status == .unauthorized)
            #expect(refused.errorCode == "agent_disabled")
            #expect(try await client.send(.get, "/v1/links", key: paylink.otherAgent).status == .ok)
        }
    }

    /// `migrate` against a PostgreSQL that refuses the connection says what PostgreSQL said,
    /// not only that no connection came within the timeout (the pool keeps the reason to its log).
    @Test(.enabled(if: StoreKind.available.contains(.postgres), "needs PAYLINK_TEST_DATABASE_URL"))
    func migrateSaysWhyPostgreSQLRefused() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var url = try #require(URLComponents(string: ProcessInfo.processInfo.environment["PAYLINK_TEST_DATABASE_URL"]!))
        url.user = "no_such_role_here"
        url.password = "s3cret-not-echoed"
        let result = try Self.paylink([
            "migrate", "--data-dir", root.path, "--database-url", url.string!, "--config", Self.write(#"{"databaseTimeoutSeconds": 1}"#, in: root),
        ])
        #expect(result.status == 1, "\(result.error)")
        #expect(result.error.contains("Error: database unavailable: no database connection within"), "\(result.error)")
        #expect(result.error.contains("PostgreSQL said:") && result.error.contains("no_such_role_here"), "\(result.error)")
        #expect(!result.error.contains("s3cret-not-echoed"), "the password is not printed")
        #expect(!result.error.contains("Usage:"))
    }

    static func write(_ text: String, in directory: URL) throws -> String {
        let file = directory.appendingPathComponent("config.json")
        try Data(text.utf8).write(to: file)
        return file.path
    }

    /// Runs the built `paylink` with `arguments`, no `PAYLINK_*` variables but `environment`, at most 60 s.
    static func paylink(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PAYLINK_") }.merging(environment) { $1 }
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            process.terminate()
            Issue.record("paylink \(arguments) did not finish in 60 s")
        }
        process.waitUntilExit()
        return (
            process.terminationStatus,
            String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        )
    }

    /// The executable `swift test` built beside the test bundle (or in the package's `.build`).
    static func binary() throws -> URL {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("paylink"),
            packageRoot.appendingPathComponent(".build/debug/paylink"),
        ]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw CLITestError.noBinary(candidates.map(\.path))
        }
        return found
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    enum CLITestError: Error { case noBinary([String]) }
}
