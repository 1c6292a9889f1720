import ArgumentParser
import Foundation
import Logging
import Paylink

/// `paylink`: argument parsing only; everything it does lives in the Paylink library.
@main
struct PaylinkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paylink",
        abstract: "Secure payment links for contact-center agents.",
        subcommands: [Serve.self, Migrate.self, Agents.self, Keys.self, Certs.self, SandboxPSP.self])
}

/// Settings every subcommand shares. Flags win over `PAYLINK_*` variables, which win over the config file.
struct CommonOptions: ParsableArguments {
    @Option(help: "Where SQLite, keys and generated secrets live (PAYLINK_DATA_DIR; default ./.paylink).")
    var dataDir: String?

    @Option(help: "postgres://… selects PostgreSQL; unset means SQLite in the data dir (PAYLINK_DATABASE_URL).")
    var databaseUrl: String?

    @Option(help: "A JSON file of settings, keys as in `serve --help` in camelCase (PAYLINK_CONFIG).")
    var config: String?

    var flags: [String: String] {
        var flags: [String: String] = [:]
        flags["dataDir"] = dataDir
        flags["databaseUrl"] = databaseUrl
        flags["config"] = config
        return flags
    }

    func load(_ extra: [String: String] = [:]) async throws -> PaylinkConfiguration {
        try await PaylinkConfiguration.load(flags: flags.merging(extra) { _, new in new })
    }

    /// For commands that read or change what a database holds: refuses, rather than creating
    /// a new empty one (and a master key) where a mistyped `--data-dir` points.
    func existing() async throws -> PaylinkRuntime {
        let configuration = try await load()
        guard PaylinkRuntime.hasDatabase(configuration) else {
            throw CommandFailure(
                "no Paylink database in \(configuration.dataDirectory); check --data-dir (or PAYLINK_DATA_DIR), "
                    + "or create one with `paylink migrate` or `paylink agents create`")
        }
        guard PaylinkRuntime.hasMasterKey(configuration) else {
            throw CommandFailure(
                "no master key: \(configuration.dataDirectory)/master.key is missing and PAYLINK_MASTER_KEY is not set; "
                    + "the database's sealed secrets need the key it was created with")
        }
        return try await PaylinkRuntime.open(configuration)
    }
}

/// A command that parsed fine but cannot do what it was asked: printed as `Error: …`, exit
/// status 1, without the usage text (which is for mistakes in the arguments themselves).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the service (HTTPS API, payment pages, background work).",
        discussion: "Every setting also reads from PAYLINK_<NAME> and from the --config JSON file:\n"
            + PaylinkConfiguration.settings.map { "  \($0.key): \($0.help)" }.joined(separator: "\n"))

    @OptionGroup var common: CommonOptions
    @Option(help: "Listen address (PAYLINK_HOST; default 127.0.0.1).") var host: String?
    @Option(help: "HTTPS port (PAYLINK_PORT; default 8443).") var port: Int?
    @Option(help: "Sandbox PSP port, 0 turns it off (PAYLINK_PSP_PORT; default 8444).") var pspPort: Int?
    @Option(help: "Base of the links' url (PAYLINK_PUBLIC_URL; default https://HOST:PORT).") var publicUrl: String?
    @Option(help: "Certificate chain, PEM (PAYLINK_TLS_CERT; default the development pair).") var tlsCert: String?
    @Option(help: "Private key, PEM (PAYLINK_TLS_KEY).") var tlsKey: String?
    @Flag(
        inversion: .prefixedNo,
        help: "--no-tls: plain HTTP, only behind a TLS-terminating proxy (PAYLINK_NO_TLS); --tls: HTTPS whatever PAYLINK_NO_TLS or the config file say.")
    var tls: Bool?
    @Option(help: "Development certificates folder (PAYLINK_CERTIFICATES_DIR; default Certificates).") var certificatesDir: String?
    @Option(help: "full (default) or normal: SQLite fsync policy (PAYLINK_SQLITE_SYNCHRONOUS).") var sqliteSynchronous: String?
    @Option(help: "Largest amount, minor units (PAYLINK_MAX_AMOUNT; default 99999999).") var maxAmount: Int?
    @Option(help: "Largest request body in bytes (PAYLINK_MAX_BODY_BYTES; default 65536).") var maxBodyBytes: Int?
    @Option(help: "SSE heartbeat seconds (PAYLINK_HEARTBEAT_SECONDS; default 15).") var heartbeatSeconds: Double?
    @Option(help: "Expiry sweep seconds (PAYLINK_EXPIRY_SWEEP_SECONDS; default 1).") var expirySweepSeconds: Double?
    @Option(help: "Close connections idle this long (PAYLINK_IDLE_TIMEOUT_SECONDS; default 60).") var idleTimeoutSeconds: Double?
    @Option(help: "Log level (PAYLINK_LOG_LEVEL; default info).") var logLevel: String?
    @Option(help: "PSP API base instead of the embedded sandbox (PAYLINK_PSP_URL).") var pspUrl: String?
    @Option(help: "Opened, then quiet this long: link.stalled (PAYLINK_STALL_SECONDS; default 120).") var stallSeconds: Double?

    func run() async throws {
        var flags: [String: String] = [:]
        flags["pspUrl"] = pspUrl
        flags["stallSeconds"] = stallSeconds.map { String($0) }
        flags["host"] = host
        flags["port"] = port.map(String.init)
        flags["pspPort"] = pspPort.map(String.init)
        flags["publicUrl"] = publicUrl
        flags["tlsCert"] = tlsCert
        flags["tlsKey"] = tlsKey
        flags["noTls"] = tls.map { $0 ? "false" : "true" }
        flags["certificatesDir"] = certificatesDir
        flags["sqliteSynchronous"] = sqliteSynchronous
        flags["maxAmount"] = maxAmount.map(String.init)
        flags["maxBodyBytes"] = maxBodyBytes.map(String.init)
        flags["heartbeatSeconds"] = heartbeatSeconds.map { String($0) }
        flags["expirySweepSeconds"] = expirySweepSeconds.map { String($0) }
        flags["idleTimeoutSeconds"] = idleTimeoutSeconds.map { String($0) }
        flags["logLevel"] = logLevel
        let configuration = try await common.load(flags)
        do { try await ListenCheck.check(ListenCheck.listeners(of: configuration)) } catch { throw CommandFailure(error.description) }
        bootstrapJSONLogging(level: configuration.logLevel)
        for name in PaylinkConfiguration.unknownEnvironmentVariables(ProcessInfo.processInfo.environment) {
            Logger(label: "paylink").warning("\(name) is not a setting and is ignored (`paylink serve --help` lists them)")
        }
        let app = try await buildApplication(configuration, logger: Logger(label: "paylink"))
        try await app.runService()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply database migrations and exit.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        _ = try await PaylinkRuntime.open(try await common.load())
        print("migrations applied")
    }
}

struct Agents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and disable agents.", subcommands: [Create.self, List.self, Disable.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an agent and print its API key once.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Display name.") var name: String
        @Option(help: "agent, supervisor or admin.") var role: Agent.Role = .agent
        @Flag(help: "Print {\"id\": …, \"api_key\": …} and nothing else.") var json = false

        func validate() throws {
            if let problem = Agent.nameProblem(name) { throw ValidationError(problem) }
        }

        func run() async throws {
            let runtime = try await PaylinkRuntime.open(try await common.load())
            let (agent, key) = try await runtime.createAgent(name: name, role: role)
            if json {
                let object = ["id": agent.id.rawValue, "api_key": key.secret]
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print("Created \(agent.role.rawValue) \(agent.id) (\(agent.name)).")
                print("API key (shown once, store it now): \(key.secret)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List agents.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            let runtime = try await common.existing()
            for agent in try await runtime.store.agents() {
                print("\(agent.id)\t\(agent.role.rawValue)\t\(agent.disabled ? "disabled" : "active")\t\(agent.name)")
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an agent: its API keys stop working at once.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The agent's id (agt_…).") var id: String

        func validate() throws {
            if AgentID(id) == nil { throw ValidationError("'\(id)' is not an agent id (agt_…)") }
        }

        func run() async throws {
            let agentID = AgentID(id)!
            let runtime = try await common.existing()
            guard let agent = try await runtime.store.setAgentDisabled(agentID, disabled: true) else {
                throw CommandFailure("no agent \(id)")
            }
            print("Disabled \(agent.id) (\(agent.name)).")
        }
    }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage link-signing keys.", subcommands: [Rotate.self, List.self, Retire.self])

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new signing key and make it current; links signed with older, unretired keys stay valid.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            let runtime = try await common.existing()
            do {
                let key = try await runtime.keyRing.rotate(now: runtime.clock.now())
                print("Key \(key.id) is now current.")
            } catch StoreError.duplicate {
                // The database allows one current key: a rotation that ran at the same moment won.
                throw CommandFailure(
                    "another `keys rotate` made a new current key at the same moment, so this one did not; "
                        + "`paylink keys list` shows it (rotate again if you need one more)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List signing keys (ids and status, never secrets).")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            let runtime = try await common.existing()
            for key in try await runtime.keyRing.list() {
                print("\(key.id)\t\(key.status.rawValue)\tcreated \(key.createdAt.formatted(.iso8601))")
            }
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Retire a key: links it signed stop opening.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The key id from `keys list`.") var id: Int

        func run() async throws {
            let runtime = try await common.existing()
            do {
                let key = try await runtime.keyRing.retire(id: id, now: runtime.clock.now())
                print("Key \(key.id) is retired.")
            } catch SigningKeyRing.Failure.retiringCurrentKey {
                throw CommandFailure("key \(id) is the current key; run `paylink keys rotate` first")
            } catch SigningKeyRing.Failure.unknownKey {
                throw CommandFailure("no signing key \(id)")
            } catch SigningKeyRing.Failure.recentlyCurrent {
                throw CommandFailure(
                    "key \(id) was current until moments ago, and running servers may still be signing new links with it "
                        + "(they reload keys every 2 seconds); retry in \(Int(SigningKeyRing.retireGrace)) seconds")
            }
        }
    }
}

struct Certs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Development certificates.", subcommands: [Dev.self])

    struct Dev: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "(Re)generate the development CA and server certificate into Certificates/.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Target folder (default Certificates).") var certificatesDir: String?

        func run() async throws {
            let configuration = try await common.load(certificatesDir.map { ["certificatesDir": $0] } ?? [:])
            let paths = try DevelopmentCertificates.generate(in: configuration.certificatesDirectory)
            print("Wrote \(paths.caCertificate), \(paths.certificateChain) and \(paths.privateKey).")
            print("Trust the CA for local testing, e.g. curl --cacert \(paths.caCertificate) https://127.0.0.1:8443/healthz")
        }
    }
}

struct SandboxPSP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox-psp",
        abstract: "Run the sandbox PSP alone (what `serve` runs on --psp-port).",
        discussion: """
            Uses the same data directory (or PAYLINK_MASTER_KEY) as `serve`, so both derive the same API key and \
            webhook secret; webhooks go to https://HOST:PORT/webhooks/sandbox. Run `serve --psp-url https://HOST:PSP_PORT` \
            (and no embedded sandbox) to use it. See docs/sandbox-psp.md.
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "Address of both listeners (PAYLINK_HOST; default 127.0.0.1).") var host: String?
    @Option(help: "Paylink's port, where webhooks go (PAYLINK_PORT; default 8443).") var port: Int?
    @Option(help: "The sandbox's port (PAYLINK_PSP_PORT; default 8444).") var pspPort: Int?
    @Option(help: "Paylink's public URL, the browser origin allowed to tokenise (PAYLINK_PUBLIC_URL).") var publicUrl: String?
    @Flag(inversion: .prefixedNo, help: "--no-tls: plain HTTP (PAYLINK_NO_TLS); --tls: HTTPS whatever PAYLINK_NO_TLS says.")
    var tls: Bool?
    @Option(help: "Log level (PAYLINK_LOG_LEVEL; default info).") var logLevel: String?

    func run() async throws {
        var flags: [String: String] = [:]
        flags["host"] = host
        flags["port"] = port.map(String.init)
        flags["pspPort"] = pspPort.map(String.init)
        flags["publicUrl"] = publicUrl
        flags["noTls"] = tls.map { $0 ? "false" : "true" }
        flags["logLevel"] = logLevel
        let configuration = try await common.load(flags)
        bootstrapJSONLogging(level: configuration.logLevel)
        try await buildStandaloneSandboxPSP(configuration, logger: Logger(label: "sandbox-psp")).runService()
    }
}

/// Long-running commands log JSON lines to standard error at the configured level.
func bootstrapJSONLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = JSONLogHandler(label: label)
        handler.logLevel = level
        return handler
    }
}

extension Agent.Role: ExpressibleByArgument {}
