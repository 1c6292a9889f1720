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
            // A flag turns a boolean back off (`serve --tls` sends noTls=false).
            let tls = try await PaylinkConfiguration.load(flags: ["config": file, "noTls": "false"], environment: ["PAYLINK_NO_TLS": "true"])
            #expect(!tls.tlsDisabled)
        }
        let postgres = try await PaylinkConfiguration.load(
            flags: [:], environment: ["PAYLINK_DATABASE_TIMEOUT_SECONDS": "2", "PAYLINK_DATABASE_QUERY_TIMEOUT_SECONDS": "7.5"])
        #expect(postgres.databaseTimeout == .seconds(2))
        #expect(postgres.databaseQueryTimeout == .milliseconds(7500))
        #expect(try await PaylinkConfiguration.load(flags: [:], environment: [:]).databaseQueryTimeout == .seconds(30))
    }

    /// A database URL's user and password are percent-decoded once: `%25` is a literal `%`.
    @Test func databaseURLCredentialsAreDecodedOnce() throws {
        let settings = try ConnectionSettings(url: "postgres://pay%40link:a%2541b%3A@db.example:5433/paylink?sslmode=require")
        #expect(settings.username == "pay@link")
        #expect(settings.password == "a%41b:")
        #expect(settings.host == "db.example" && settings.port == 5433 && settings.database == "paylink")
        #expect(settings.encryption == .require)
    }

    /// `PAYLINK_MAX_AMOUNT=` (a compose file's placeholder) is unset: the file's value stands.
    @Test func anEmptyVariableIsUnset() async throws {
        try await withFile(#"{"port": 9001, "maxAmount": 500}"#) { file in
            let configuration = try await PaylinkConfiguration.load(
                flags: [:], environment: ["PAYLINK_CONFIG": file, "PAYLINK_PORT": "", "PAYLINK_MAX_AMOUNT": "", "PAYLINK_DATABASE_URL": ""])
            #expect(configuration.port == 9001)
            #expect(configuration.maxAmount == 500)
        }
        let defaults = try await PaylinkConfiguration.load(flags: [:], environment: ["PAYLINK_CONFIG": "", "PAYLINK_PORT": ""])
        #expect(defaults.port == 8443)
        // So is an empty flag: it does not hide the variable.
        let flagged = try await PaylinkConfiguration.load(flags: ["dataDir": ""], environment: ["PAYLINK_DATA_DIR": "/tmp/x"])
        #expect(flagged.dataDirectory == "/tmp/x")
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
        (#"{"port": 9001, "port": 9002}"#, "is not valid JSON: a key appears twice"),
        (#"{"port": 9001, "pspPort": 9001}"#, "pspPort must differ from port (both are 9001)"),
    ]

    /// With `pspUrl` no sandbox listens, so its port may be anything, Paylink's included.
    @Test func anExternalPSPLeavesPspPortUnchecked() async throws {
        let configuration = try await PaylinkConfiguration.load(
            flags: ["port": "8444", "pspUrl": "https://127.0.0.1:8444"], environment: [:])
        #expect(ListenCheck.listeners(of: configuration).map(\.port) == [8444])
    }

    @Test(arguments: refusedFiles) func filesThatCannotBeRightAreRefused(_ text: String, _ message: String) async throws {
        try await withFile(text) { file in
            let error = await #expect(throws: ConfigurationError.self) {
                _ = try await PaylinkConfiguration.load(flags: ["config": file], environment: [:])
            }
            #expect(error?.description.contains(message) == true, "\(error?.description ?? "no error")")
            #expect(error?.description.contains("request body") == false, "a file is not a request body")
        }
    }

    static let refusedValues: [(String, String)] = [
        ("heartbeatSeconds", "1e20"), ("heartbeatSeconds", "inf"), ("heartbeatSeconds", "nan"), ("heartbeatSeconds", "0"),
        ("heartbeatSeconds", "0.000001"), ("expirySweepSeconds", "1e18"), ("stallSeconds", "-5"), ("idleTimeoutSeconds", "5s"),
        ("databaseTimeoutSeconds", "1e300"), ("databaseQueryTimeoutSeconds", "0"), ("fraudVelocityWindowSeconds", "31700000"), ("paymentReconcileSeconds", "Infinity"),
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
        let certificates = #expect(throws: ConfigurationError.self) { _ = try DevelopmentCertificates.generate(in: file.path) }
        #expect(certificates?.description.contains("certificatesDir \(file.path) cannot be used: File exists") == true,
            "\(certificates?.description ?? "")")
    }

    /// Commands that list or change what is there refuse a folder with no database (a typo)
    /// instead of creating one; a new database is its owner's alone.
    @Test func aNewDatabaseIsTheOwnersAloneAndItsAbsenceIsSeen() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-mode-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = PaylinkConfiguration()
        configuration.dataDirectory = directory.path
        #expect(!PaylinkRuntime.hasDatabase(configuration))
        #expect(!FileManager.default.fileExists(atPath: directory.path), "asking creates nothing")
        let runtime = try await PaylinkRuntime.open(configuration)
        defer { runtime.close() }
        #expect(PaylinkRuntime.hasDatabase(configuration))
        for suffix in ["", "-wal", "-shm"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: PaylinkRuntime.sqlitePath(configuration) + suffix)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "paylink.sqlite\(suffix)")
        }
        // One others could read (made before the rule, or copied in) is made private on opening.
        let path = PaylinkRuntime.sqlitePath(configuration)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        _ = try SQLiteStore(path: path)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(PaylinkRuntime.hasMasterKey(configuration))
        var elsewhere = configuration
        elsewhere.dataDirectory = directory.appendingPathComponent("other").path
        #expect(!PaylinkRuntime.hasMasterKey(elsewhere))
        elsewhere.masterKey = "AAAA"
        #expect(PaylinkRuntime.hasMasterKey(elsewhere))
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
            "PAYLINK_DATABASE_TIMEOUT_SECONDS", "PAYLINK_DATABASE_QUERY_TIMEOUT_SECONDS", "PAYLINK_MASTER_KEY", "PAYLINK_DATA_DIR", "PAYLINK_PROGRESS_REPORTS_PER_MINUTE",
        ]
        #expect(PaylinkConfiguration.unknownEnvironmentVariables(Dictionary(uniqueKeysWithValues: documented.map { ($0, "x") })).isEmpty)
    }

    /// A certificate and a key that are each fine but not a pair stop start-up naming both settings.
    @Test func aKeyThatIsNotTheCertificatesIsNamed() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-pairs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let one = try DevelopmentCertificates.generate(in: base.appendingPathComponent("one").path)
        let two = try DevelopmentCertificates.generate(in: base.appendingPathComponent("two").path)
        _ = try TLSSetup.serverConfiguration(certificateChain: one.certificateChain, privateKey: one.privateKey)
        let error = #expect(throws: ConfigurationError.self) {
            _ = try TLSSetup.serverConfiguration(certificateChain: one.certificateChain, privateKey: two.privateKey)
        }
        #expect(error?.description.contains("tlsKey") == true && error?.description.contains("tlsCert") == true, "\(String(describing: error))")
    }

    private func withFile(_ text: String, _ body: (String) async throws -> Void) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-config-\(UUID().uuidString).json").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await body(path)
    }
}
