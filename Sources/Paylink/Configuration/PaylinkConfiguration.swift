import Configuration
import Foundation
import Logging
import SystemPackage

/// Every setting of `paylink serve`, read once at start-up and passed down; nothing deeper
/// in the service reads the environment.
///
/// Sources, first match wins: command-line flags, `PAYLINK_*` environment variables, then
/// the JSON file named by `--config` / `PAYLINK_CONFIG` (keys as below, e.g. `{"port": 9443}`).
public struct PaylinkConfiguration: Sendable {
    public var dataDirectory: String = "./.paylink"
    public var host: String = "127.0.0.1"
    public var port: Int = 8443
    /// 0 turns the sandbox PSP's listener off.
    public var pspPort: Int = 8444
    public var publicURL: String?
    public var databaseURL: String?
    /// PostgreSQL schema to use (search_path); nil for the server's default. Tests use one per test.
    public var databaseSchema: String?
    /// How long a request waits for a PostgreSQL connection before answering 503 (and how long
    /// `/readyz`'s own query may take on one).
    public var databaseTimeout: Duration = .seconds(5)
    /// How long a request's work on a PostgreSQL connection (row locks included) may take before
    /// the connection is closed and the request answers 503. Generous: it is there so a server
    /// that stops answering cannot hold requests forever, not to shed ordinary load.
    public var databaseQueryTimeout: Duration = .seconds(30)
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// Plain HTTP, only for running behind a TLS-terminating proxy.
    public var tlsDisabled: Bool = false
    public var certificatesDirectory: String = "Certificates"
    /// Base64 of 32 bytes; when nil, `DATA_DIR/master.key` is used (created on first run).
    public var masterKey: String?
    public var sqliteSynchronous: SQLiteStore.Synchronous = .full
    /// Largest `amount` accepted, in minor units (Stripe's default ceiling).
    public var maxAmount: Int64 = 99_999_999
    public var maxBodyBytes: Int = 64 * 1024
    public var heartbeatInterval: Duration = .seconds(15)
    public var expirySweepInterval: Duration = .seconds(1)
    /// A connection that sends nothing for this long is closed: an idle keep-alive, a request
    /// whose headers or body stop arriving, a TLS handshake never begun. A request being
    /// answered (an event stream) is not idle.
    public var idleTimeout: Duration = .seconds(60)
    public var logLevel: Logger.Level = .info
    public var stripeWebhookSecrets: [String] = []
    public var adyenHMACKey: String?
    public var smsURL: String?
    public var whatsappURL: String?
    public var smtpURL: String?
    public var chatWebhookURL: String?
    /// Base URL of the PSP's API, for Paylink's server and the page's script alike. Nil means the
    /// embedded sandbox: `https://HOST:PSP_PORT` (http with `--no-tls`).
    public var pspURL: String?
    /// Bearer key for the PSP's server API. Nil derives the embedded sandbox's key from the data key.
    public var pspSecretKey: String?
    /// `whsec_…` secrets for `/webhooks/sandbox`. Empty derives the embedded sandbox's from the data key.
    public var sandboxWebhookSecrets: [String] = []
    /// Extra CA (PEM) to trust when calling the PSP; nil trusts the development CA when the
    /// development certificate is in use, else the system roots.
    public var pspCAFile: String?
    public var payments = PaymentSettings()
    /// Behind a reverse proxy: take the customer's address from the last `X-Forwarded-For` entry
    /// (the one the proxy appended) instead of the TCP peer. Off by default: a client can forge it.
    public var trustForwardedFor: Bool = false

    public init() {}

    /// Every setting: its key (flag `--kebab-case`, variable `PAYLINK_SNAKE_CASE`, file `camelCase`) and meaning.
    public static let settings: [(key: String, help: String)] = [
        ("dataDir", "where SQLite, keys and generated secrets live (default ./.paylink)"),
        ("host", "listen address (default 127.0.0.1)"),
        ("port", "HTTPS listen port (default 8443)"),
        ("pspPort", "sandbox PSP listen port (default 8444; 0 turns it off)"),
        ("publicUrl", "base of the links' url (default https://HOST:PORT)"),
        ("databaseUrl", "postgres://… selects PostgreSQL; unset means SQLite in the data dir"),
        ("databaseSchema", "PostgreSQL schema (search_path) to keep Paylink's tables in (default: the server's)"),
        ("databaseTimeoutSeconds", "how long a request waits for a PostgreSQL connection before a 503 (default 5)"),
        ("databaseQueryTimeoutSeconds", "how long a request's work on a PostgreSQL connection may take before it is closed and the request gets a 503 (default 30)"),
        ("tlsCert", "certificate chain, PEM (default the development pair in Certificates/)"),
        ("tlsKey", "private key, PEM"),
        ("noTls", "serve plain HTTP; only behind a TLS-terminating proxy (logs a warning)"),
        ("certificatesDir", "where development certificates are kept (default Certificates)"),
        ("masterKey", "base64 of 32 bytes sealing stored secrets (default DATA_DIR/master.key); secret"),
        ("sqliteSynchronous", "full (default: every acknowledged write survives power loss) or normal"),
        ("maxAmount", "largest amount accepted, in minor units (default 99999999)"),
        ("maxBodyBytes", "largest request body accepted (default 65536)"),
        ("heartbeatSeconds", "SSE heartbeat interval (default 15)"),
        ("expirySweepSeconds", "how often expired links are looked for (default 1)"),
        ("idleTimeoutSeconds", "close a connection that sends nothing for this long, unless it is being answered (default 60)"),
        ("logLevel", "trace, debug, info, notice, warning, error, critical (default info)"),
        ("stripeWebhookSecret", "one or more whsec_… secrets, comma-separated during rotation; secret"),
        ("adyenHmacKey", "hex HMAC key for Adyen notifications; secret"),
        ("smsUrl", "Twilio-compatible SMS API endpoint"),
        ("whatsappUrl", "WhatsApp Cloud API endpoint"),
        ("smtpUrl", "SMTP server, smtp://user:pass@host:port"),
        ("chatWebhookUrl", "chat platform webhook"),
        ("pspUrl", "PSP API base (default the embedded sandbox, https://HOST:PSP_PORT)"),
        ("pspSecretKey", "PSP server API key (default derived for the embedded sandbox); secret"),
        ("sandboxWebhookSecret", "whsec_… secrets for /webhooks/sandbox, comma-separated (default derived); secret"),
        ("trustForwardedFor", "behind a reverse proxy: the client IP (fraud velocity) is the last X-Forwarded-For entry"),
        ("pspCaFile", "extra CA (PEM) to trust when calling the PSP (default the development CA with the dev certificate)"),
        ("fraudAmountLimit", "block payments above this amount, minor units of any currency (default 1000000)"),
        ("fraudVelocityWindowSeconds", "window of the velocity rules (default 3600)"),
        ("fraudMaxAttemptsPerLink", "attempts per link per window before blocking (default 10)"),
        ("fraudMaxAttemptsPerIp", "attempts per client IP per window before blocking (default 20)"),
        ("fraudMaxAttemptsPerCard", "attempts per card fingerprint per window before blocking (default 5)"),
        ("fraudReviewRiskScore", "PSP risk score from which a payment is flagged for review (default 65)"),
        ("fraudBlockRiskScore", "PSP risk score from which a payment is blocked (default 75)"),
        ("maxDeclines", "declines after which a link locks (default 5)"),
        ("stallSeconds", "opened, then no progress for this long: link.stalled (default 120)"),
        ("progressReportsPerMinute", "page progress reports accepted per link per minute (default 60)"),
        ("paymentReconcileSeconds", "ask the PSP about a payment with no outcome after this long (default 15)"),
        ("paymentAuthenticationTimeoutSeconds", "cancel a payment still waiting for 3-D Secure after this long (default 600)"),
    ]

    /// Reads every setting from `reader`, rejecting values that cannot be right.
    public init(reader: ConfigReader) throws {
        let config = reader.scoped(to: "paylink")
        /// Every value as text: flags and variables are strings already; a JSON file may hold
        /// numbers and booleans, which are read as such and turned into their text form.
        func string(_ key: String, secret: Bool = false) -> String? {
            let configKey = ConfigKey(key)
            if let text = config.string(forKey: configKey, isSecret: secret) { return text.isEmpty ? nil : text }
            if let int = config.int(forKey: configKey, isSecret: secret) { return String(int) }
            if let double = config.double(forKey: configKey, isSecret: secret) { return String(double) }
            if let bool = config.bool(forKey: configKey, isSecret: secret) { return String(bool) }
            return nil
        }
        func integer(_ key: String) throws -> Int? {
            guard let text = string(key) else { return nil }
            guard let value = Int(text) else { throw ConfigurationError.invalid("\(key) must be an integer, got '\(text)'") }
            return value
        }
        func flag(_ key: String) throws -> Bool {
            guard let text = string(key)?.lowercased() else { return false }
            switch text {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw ConfigurationError.invalid("\(key) must be true or false, got '\(text)'")
            }
        }
        func seconds(_ key: String) throws -> Duration? {
            guard let text = string(key) else { return nil }
            // Finite and at most a year: `inf`, `nan` or 1e300 would overflow the conversion below.
            guard let value = Double(text), value.isFinite, value >= 0.001, value <= 366 * 86_400 else {
                throw ConfigurationError.invalid("\(key) must be a number of seconds from 0.001 to a year, got '\(text)'")
            }
            return .milliseconds(Int64(value * 1000))
        }

        if let value = string("dataDir") { dataDirectory = value }
        if let value = string("host") { host = value }
        if let value = try integer("port") {
            guard (1...65535).contains(value) else { throw ConfigurationError.invalid("port must be 1–65535") }
            port = value
        }
        if let value = try integer("pspPort") {
            guard (0...65535).contains(value) else { throw ConfigurationError.invalid("pspPort must be 0–65535") }
            pspPort = value
        }
        publicURL = string("publicUrl")
        if let publicURL {
            // Links are `publicUrl + "/p/TOKEN"`: a query or fragment would swallow the path, and
            // credentials would be handed to every customer.
            guard let url = URL(string: publicURL), ["https", "http"].contains(url.scheme ?? ""), url.host != nil,
                url.query == nil, url.fragment == nil, url.user == nil, url.password == nil
            else {
                throw ConfigurationError.invalid("publicUrl must be an absolute http(s) URL without query, fragment or credentials")
            }
        }
        databaseURL = string("databaseUrl", secret: true)
        databaseSchema = string("databaseSchema")
        if let databaseSchema, !databaseSchema.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
            throw ConfigurationError.invalid("databaseSchema may contain only letters, digits and underscores")
        }
        tlsCertificatePath = string("tlsCert")
        tlsKeyPath = string("tlsKey")
        if (tlsCertificatePath == nil) != (tlsKeyPath == nil) {
            throw ConfigurationError.invalid("tlsCert and tlsKey go together: give both, or neither for the development pair")
        }
        tlsDisabled = try flag("noTls")
        if let value = string("certificatesDir") { certificatesDirectory = value }
        masterKey = string("masterKey", secret: true)
        if let value = string("sqliteSynchronous") {
            guard let mode = SQLiteStore.Synchronous(rawValue: value.lowercased()) else {
                throw ConfigurationError.invalid("sqliteSynchronous must be full or normal")
            }
            sqliteSynchronous = mode
        }
        if let value = try integer("maxAmount") {
            guard value > 0 else { throw ConfigurationError.invalid("maxAmount must be positive") }
            maxAmount = Int64(value)
        }
        if let value = try integer("maxBodyBytes") {
            guard value >= 1024 else { throw ConfigurationError.invalid("maxBodyBytes must be at least 1024") }
            maxBodyBytes = value
        }
        if let value = try seconds("heartbeatSeconds") { heartbeatInterval = value }
        if let value = try seconds("databaseTimeoutSeconds") { databaseTimeout = value }
        if let value = try seconds("databaseQueryTimeoutSeconds") { databaseQueryTimeout = value }
        if let value = try seconds("expirySweepSeconds") { expirySweepInterval = value }
        if let value = try seconds("idleTimeoutSeconds") { idleTimeout = value }
        if let value = string("logLevel") {
            guard let level = Logger.Level(rawValue: value.lowercased()) else {
                throw ConfigurationError.invalid("logLevel must be one of trace, debug, info, notice, warning, error, critical")
            }
            logLevel = level
        }
        stripeWebhookSecrets = (string("stripeWebhookSecret", secret: true) ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        adyenHMACKey = string("adyenHmacKey", secret: true)
        smsURL = string("smsUrl")
        whatsappURL = string("whatsappUrl")
        smtpURL = string("smtpUrl", secret: true)
        chatWebhookURL = string("chatWebhookUrl")
        pspURL = string("pspUrl").map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        if let pspURL {
            guard let url = URL(string: pspURL), ["https", "http"].contains(url.scheme ?? ""), url.host != nil else {
                throw ConfigurationError.invalid("pspUrl must be an absolute http(s) URL")
            }
        }
        // Only the embedded sandbox listens on pspPort; with --psp-url it is not started.
        if pspURL == nil && pspPort != 0 && pspPort == port {
            throw ConfigurationError.invalid(
                "pspPort must differ from port (both are \(port)): the sandbox PSP listens on its own port; 0 turns it off")
        }
        pspSecretKey = string("pspSecretKey", secret: true)
        sandboxWebhookSecrets = (string("sandboxWebhookSecret", secret: true) ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        pspCAFile = string("pspCaFile")
        trustForwardedFor = try flag("trustForwardedFor")
        func count(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let value = try integer(key) else { return nil }
            guard range.contains(value) else { throw ConfigurationError.invalid("\(key) must be \(range.lowerBound)–\(range.upperBound)") }
            return value
        }
        if let value = try count("fraudAmountLimit", 1...Int(Int32.max)) { payments.amountLimit = Int64(value) }
        if let value = try seconds("fraudVelocityWindowSeconds") { payments.velocityWindow = value }
        if let value = try count("fraudMaxAttemptsPerLink", 1...1_000_000) { payments.maxAttemptsPerLink = value }
        if let value = try count("fraudMaxAttemptsPerIp", 1...1_000_000) { payments.maxAttemptsPerIP = value }
        if let value = try count("fraudMaxAttemptsPerCard", 1...1_000_000) { payments.maxAttemptsPerCard = value }
        if let value = try count("fraudReviewRiskScore", 0...100) { payments.reviewRiskScore = value }
        if let value = try count("fraudBlockRiskScore", 0...100) { payments.blockRiskScore = value }
        if let value = try count("maxDeclines", 1...100) { payments.maxDeclines = value }
        if let value = try seconds("stallSeconds") { payments.stallAfter = value }
        if let value = try count("progressReportsPerMinute", 1...1_000_000) { payments.progressReportsPerMinute = value }
        if let value = try seconds("paymentReconcileSeconds") { payments.reconcileAfter = value }
        if let value = try seconds("paymentAuthenticationTimeoutSeconds") { payments.authenticationTimeout = value }
    }

    /// Builds the reader: flags first, then `PAYLINK_*` variables, then the optional JSON file.
    public static func load(flags: [String: String], environment: [String: String] = ProcessInfo.processInfo.environment)
        async throws -> PaylinkConfiguration
    {
        // An empty variable is an unset one (`PAYLINK_PORT=` in a compose file or an `env`
        // line): it must neither hide the file's value nor count as a value of its own.
        let environment = environment.filter { !$0.value.isEmpty }
        // The same for a flag given an empty value (`--data-dir ""`, a script's unset variable).
        let flags = flags.filter { !$0.value.isEmpty }
        var providers: [any ConfigProvider] = [
            InMemoryProvider(
                name: "flags",
                values: Dictionary(uniqueKeysWithValues: flags.map { (AbsoluteConfigKey(["paylink", $0.key]), ConfigValue(.string($0.value), isSecret: false)) })),
            EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: .dynamic { key, _ in
                [
                    "PAYLINK_MASTER_KEY", "PAYLINK_DATABASE_URL", "PAYLINK_STRIPE_WEBHOOK_SECRET", "PAYLINK_ADYEN_HMAC_KEY",
                    "PAYLINK_SMTP_URL", "PAYLINK_PSP_SECRET_KEY", "PAYLINK_SANDBOX_WEBHOOK_SECRET",
                ].contains(key.uppercased())
            }),
        ]
        if let file = flags["config"] ?? environment["PAYLINK_CONFIG"] {
            try checkFile(file)
            // The file's keys are unprefixed (`{"port": 9443}`); lookups are `paylink.port`.
            providers.append(
                try await FileProvider<JSONSnapshot>(filePath: FilePath(file)).mapKeys { key in
                    AbsoluteConfigKey(
                        key.components.first == "paylink" ? Array(key.components.dropFirst()) : key.components, context: key.context)
                })
        }
        return try PaylinkConfiguration(reader: ConfigReader(providers: providers))
    }

    /// `PAYLINK_*` variables that name no setting (a typo such as `PAYLINK_PROT` would otherwise
    /// be ignored without a word), sorted. The prefix's other users are left out: `PAYLINK_CONFIG`,
    /// the README tour's `PAYLINK_KEY` (a client's key, often exported in the same shell), and
    /// the test and load scripts' `PAYLINK_TEST_*`, `PAYLINK_LOAD_*` and `PAYLINK_BIN`.
    public static func unknownEnvironmentVariables(_ environment: [String: String]) -> [String] {
        let known = Set(settings.map { "PAYLINK_" + $0.key.replacing(/([a-z0-9])([A-Z])/) { "\($0.output.1)_\($0.output.2)" }.uppercased() })
            .union(["PAYLINK_CONFIG", "PAYLINK_KEY", "PAYLINK_BIN"])
        return environment.keys.filter { name in
            name.hasPrefix("PAYLINK_") && !known.contains(name) && !name.hasPrefix("PAYLINK_TEST_") && !name.hasPrefix("PAYLINK_LOAD_")
        }.sorted()
    }

    /// Settings that take true or false; in the JSON file only these may hold a boolean.
    static let flagSettings: Set<String> = ["noTls", "trustForwardedFor"]

    /// A configuration file must say only what we can read: a flat JSON object of known settings, each a string, a number, or (for flags) a boolean. The
    /// file provider would otherwise turn `true` into 1, skip arrays, objects and nulls, and
    /// ignore misspelt keys, so `{"Port": 9443}` would quietly listen on 8443.
    static func checkFile(_ path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConfigurationError.invalid("cannot read the configuration file \(path): \(error.localizedDescription)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ConfigurationError.invalid("the configuration file \(path) is not a JSON object")
        }
        // Foundation keeps the last of two equal keys; the API's parser refuses them, as here:
        // `{"port": 9443, "port": 8443}` has no one meaning.
        do { _ = try JSONParser.parseObject(data) } catch {
            // The parser speaks of a request body; here it is a file.
            let detail = error.message.hasPrefix(APIError.invalidJSONLead)
                ? String(error.message.dropFirst(APIError.invalidJSONLead.count)) : error.message
            throw ConfigurationError.invalid("the configuration file \(path) is not valid JSON: \(detail)")
        }
        let known = Set(settings.map(\.key))
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            guard known.contains(key) else {
                throw ConfigurationError.invalid("unknown setting '\(key)' in \(path); `paylink serve --help` lists them")
            }
            // JSONValue tells Foundation's booleans from its numbers.
            switch JSONValue(foundation: value) {
            case .string, .integer, .number: continue
            case .bool:
                guard flagSettings.contains(key) else { throw ConfigurationError.invalid("\(key) in \(path) must not be a boolean") }
            case .null, .array, .object: throw ConfigurationError.invalid("\(key) in \(path) must be a string or a number")
            }
        }
    }

    /// Whether payments have a PSP: one at `pspURL`, or the embedded sandbox (`pspPort` not 0).
    var hasPSP: Bool { pspURL != nil || pspPort != 0 }

    /// The origin links point at.
    public var resolvedPublicURL: String {
        if let publicURL { return publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL }
        let scheme = tlsDisabled ? "http" : "https"
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(hostPart):\(port)"
    }
}

/// Thresholds of the fraud checks and the payment page's watchers (SPEC §3: amount limits,
/// velocity per link, IP and card, a lock after repeated declines, the PSP's risk signal).
public struct PaymentSettings: Sendable {
    public var amountLimit: Int64 = 1_000_000
    public var velocityWindow: Duration = .seconds(3600)
    public var maxAttemptsPerLink = 10
    public var maxAttemptsPerIP = 20
    public var maxAttemptsPerCard = 5
    /// Stripe Radar's levels: elevated from 65, highest from 75.
    public var reviewRiskScore = 65
    public var blockRiskScore = 75
    public var maxDeclines = 5
    public var stallAfter: Duration = .seconds(120)
    public var progressReportsPerMinute = 60
    public var reconcileAfter: Duration = .seconds(15)
    /// A 3-D Secure challenge the customer left open is canceled at the PSP after this long, so
    /// the link takes another card (the token it was made from lives 10 minutes too).
    public var authenticationTimeout: Duration = .seconds(600)
    public init() {}
}

/// A setting that cannot be used; the message names the setting and what it must be.
public enum ConfigurationError: Error, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let message): message
        }
    }

    /// A folder setting (`dataDir`, `certificatesDir`) that cannot be created or written, with
    /// the operating system's reason: Foundation on Linux words it "error 512" or a Cocoa
    /// error dump; the POSIX error underneath says why ("File exists", "Permission denied").
    static func unusableDirectory(_ setting: String, _ path: String, _ error: any Error) -> ConfigurationError {
        let nsError = error as NSError
        let posix = [nsError, (nsError.userInfo[NSUnderlyingErrorKey] as? any Error).map { $0 as NSError }]
            .compactMap { $0 }.first { $0.domain == NSPOSIXErrorDomain }
        let reason = posix.map { String(cString: strerror(Int32($0.code))) }
            ?? (nsError.code == NSFileWriteFileExistsError ? "a file, not a folder, is in the way" : nsError.localizedDescription)
        return .invalid("\(setting) \(path) cannot be used: \(reason)")
    }
}
