import Foundation
import Testing

@testable import Paylink

/// `paylink serve` settings: flags, then `PAYLINK_*`, then the JSON file; a value that cannot be
/// right stops start-up with a message naming the setting, never a crash or a silent default.
@Suite("Configuration")
struct ConfigurationTests {
    @Test func flagsWinOverTheEnvironmentWhichWinsOverTheFile() async throws {
        try await withFile(#"{"port": 9001, "host": "127.0.0.2", "maxAmount": 500, "noTls": true}"#) { file in
            let configuration = try await PaylinkConfiguration.load(
                flags: ["config": file, "port": "9003"], environment: ["PAYLINK_PORT": "9002", "PAYLINK_HOST": "127.0.0.3"])
            #expect(configuration.port == 9003)
            #expect(configuration.host == "127.0.0.3")
            #expect(configuration.maxAmount == 500)
            #expect(configuration.tlsDisabled)
        }
    }

    static let refusedFiles: [(String, String)] = [
        (#"{"Port": 9443}"#, "unknown setting 'Port'"),
        (#"{"paylink": {"port": 9443}}"#, "unknown setting 'paylink'"),
        (#"{"bogusKey": 1}"#, "unknown setting 'bogusKey'"),
        (#"{"port": true}"#, "port"),
        (#"{"port": [9443]}"#, "port"),
        (#"{"port": {"value": 9443}}"#, "port"),
        (#"{"port": null}"#, "port"),
        (#"{"logLevel": ["info"]}"#, "logLevel"),
        (#"[{"port": 9443}]"#, "not a JSON object"),
        ("port = 9443", "not a JSON object"),
    ]

    @Test(arguments: refusedFiles) func filesThatCannotBeRightAreRefused(_ text: String, _ message: String) async throws {
        try await withFile(text) { file in
            let error = await #expect(throws: ConfigurationError.self) {
                _ = try await PaylinkConfiguration.load(flags: ["config": file], environment: [:])
            }
            #expect(error?.description.contains(message) == true, "\(error?.description ?? "no error")")
        }
    }

    static let refusedValues: [(String, String)] = [
        ("heartbeatSeconds", "1e20"), ("heartbeatSeconds", "inf"), ("heartbeatSeconds", "nan"), ("heartbeatSeconds", "0"),
        ("heartbeatSeconds", "0.000001"), ("expirySweepSeconds", "1e18"), ("stallSeconds", "-5"), ("idleTimeoutSeconds", "5s"),
        ("databaseTimeoutSeconds", "1e300"), ("fraudVelocityWindowSeconds", "31700000"), ("paymentReconcileSeconds", "Infinity"),
        ("publicUrl", "https://pay.example.com/?q=1"), ("publicUrl", "https://pay.example.com/#top"),
        ("publicUrl", "https://user:secret@pay.example.com"), ("publicUrl", "ftp://pay.example.com"),
        ("port", "70000"), ("noTls", "maybe"),
    ]

    @Test(arguments: refusedValues) func valuesThatCannotBeRightNameTheirSetting(_ key: String, _ value: String) async throws {
        let variable = "PAYLINK_" + key.replacing(/([a-z])([A-Z])/) { "\($0.output.1)_\($0.output.2)" }.uppercased()
        let error = await #expect(throws: ConfigurationError.self) {
            _ = try await PaylinkConfiguration.load(flags: [:], environment: [variable: value])
        }
        #expect(error?.description.contains(key) == true, "\(error?.description ?? "no error")")
    }

    @Test func sensibleValuesAreAccepted() async throws {
        let configuration = try await PaylinkConfiguration.load(
            flags: [:],
            environment: [
                "PAYLINK_HEARTBEAT_SECONDS": "0.5", "PAYLINK_IDLE_TIMEOUT_SECONDS": "90", "PAYLINK_PUBLIC_URL": "https://pay.example.com/base/",
            ])
        #expect(configuration.heartbeatInterval == .milliseconds(500))
        #expect(configuration.idleTimeout == .seconds(90))
        #expect(configuration.resolvedPublicURL == "https://pay.example.com/base")
    }

    @Test func agentNamesFollowTheTextRules() async throws {
        for bad in ["", "   ", "\u{200B}", "a\nb", "a\u{202E}b", String(repeating: "n", count: 101)] {
            #expect(Agent.nameProblem(bad) != nil, "\(bad.debugDescription)")
        }
        for good in ["Ada", "Zoë Brontë", String(repeating: "n", count: 100)] { #expect(Agent.nameProblem(good) == nil) }
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        let runtime = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
        defer { runtime.close() }
        await #expect(throws: ConfigurationError.self) { _ = try await runtime.createAgent(name: " ", role: .agent) }
    }

    @Test func anUnusableDataDirectoryIsNamedWithItsReason() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-not-a-dir-\(UUID().uuidString)")
        try Data().write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        var configuration = PaylinkConfiguration()
        configuration.dataDirectory = file.appendingPathComponent("data").path
        let error = #expect(throws: ConfigurationError.self) { _ = try PaylinkRuntime.make(configuration) }
        #expect(error?.description.contains("Not a directory") == true, "\(error?.description ?? "")")
    }

    @Test func unknownPaylinkVariablesAreNamed() {
        let environment = [
            "PAYLINK_PROT": "9443", "PAYLINK_PORT": "9443", "PAYLINK_MAX_AMOUNT": "5", "PAYLINK_FRAUD_MAX_ATTEMPTS_PER_IP": "3",
            "PAYLINK_NO_TLS": "1", "PAYLINK_CONFIG": "x.json", "PAYLINK_TEST_DATABASE_URL": "postgres://", "PAYLINK_LOAD_KEY": "k", "PAYLINK_KEY": "plk_…",
            "PAYLINK_MAXAMOUNT": "5", "HOME": "/root",
        ]
        #expect(PaylinkConfiguration.unknownEnvironmentVariables(environment) == ["PAYLINK_MAXAMOUNT", "PAYLINK_PROT"])
        // Names as the README's settings table spells them.
        let documented = [
            "PAYLINK_PSP_CA_FILE", "PAYLINK_TRUST_FORWARDED_FOR", "PAYLINK_SANDBOX_WEBHOOK_SECRET", "PAYLINK_IDLE_TIMEOUT_SECONDS",
            "PAYLINK_DATABASE_TIMEOUT_SECONDS", "PAYLINK_MASTER_KEY", "PAYLINK_DATA_DIR", "PAYLINK_PROGRESS_REPORTS_PER_MINUTE",
        ]
        #expect(PaylinkConfiguration.unknownEnvironmentVariables(Dictionary(uniqueKeysWithValues: documented.map { ($0, "x") })).isEmpty)
    }

    private func withFile(_ text: String, _ body: (String) async throws -> Void) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-config-\(UUID().uuidString).json").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await body(path)
    }
}
