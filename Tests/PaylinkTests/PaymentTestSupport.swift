import AsyncHTTPClient
import Foundation
import HummingbirdTesting
import Logging
import NIOCore
import SandboxPSP
import ServiceLifecycle
import Synchronization
import Testing

@testable import Paylink

/// A real sandbox PSP on a loopback port of its own, talking to a live Paylink only over HTTP,
/// the way `serve` runs them (tests start both themselves so each gets free ports).
final class RunningSandbox: Sendable {
    let url: String
    let secretKey = "sk_test_paylink_tests_0123456789abcdef"
    let webhookSecret = "whsec_paylink_tests_0123456789abcdef"
    private let group: ServiceGroup
    private let task: Task<Void, Never>

    /// `allowedOrigin` is the page's origin the sandbox accepts tokenisation from (CORS): a real
    /// browser sends it, so a browser test passes Paylink's own `publicURL`.
    static func start(
        mode: WebhookMode = .normal, allowedOrigin: String = "https://pay.example.test", logger: Logger = quiet("sandbox-psp")
    ) async throws -> RunningSandbox {
        let port = Mutex<Int?>(nil)
        // Set once Paylink's port is known; the sandbox asks at each delivery.
        let target = WebhookTarget()
        var configuration = SandboxPSPConfiguration()
        configuration.port = 0
        configuration.allowedOrigins = [allowedOrigin]
        configuration.secretKey = "sk_test_paylink_tests_0123456789abcdef"
        configuration.webhookSecret = "whsec_paylink_tests_0123456789abcdef"
        configuration.webhookDelay = .milliseconds(50)
        configuration.webhookRetryBase = .milliseconds(100)
        configuration.webhookReverseHold = .milliseconds(500)
        configuration.webhookMode = mode
        configuration.webhookURLProvider = { target.url }
        configuration.onListening = { bound in port.withLock { $0 = bound } }
        let app = try buildSandboxPSP(configuration: configuration, logger: logger)
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: logger)
        let task = Task { do { try await group.run() } catch {} }
        for _ in 0..<500 where port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        guard let bound = port.withLock({ $0 }) else { throw TestFailure("sandbox did not start") }
        return RunningSandbox(url: "http://127.0.0.1:\(bound)", group: group, task: task, target: target)
    }

    private let target: WebhookTarget

    private init(url: String, group: ServiceGroup, task: Task<Void, Never>, target: WebhookTarget) {
        self.url = url
        self.group = group
        self.task = task
        self.target = target
    }

    func sendWebhooks(to paylinkBase: String) {
        target.set(paylinkBase + "/webhooks/sandbox")
    }

    final class WebhookTarget: Sendable {
        private let value = Mutex<String?>(nil)
        var url: String? { value.withLock { $0 } }
        func set(_ url: String) { value.withLock { $0 = url } }
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.value
    }

    static func quiet(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = .warning
        return logger
    }
}

/// The customer's side: what the page's script does, over plain HTTP.
struct Customer: Sendable {
    let http: HTTPClient
    let sandbox: RunningSandbox
    let paylink: String
    let token: String
    let linkID: String
    let amount: Int
    let currency: String

    init(http: HTTPClient, sandbox: RunningSandbox, paylink: String, link: [String: Any]) {
        self.http = http
        self.sandbox = sandbox
        self.paylink = paylink
        self.linkID = link["id"] as! String
        self.amount = link["amount"] as! Int
        self.currency = link["currency"] as! String
        self.token = (link["url"] as! String).components(separatedBy: "/p/").last!
    }

    /// `POST /v1/tokens` at the sandbox, bound to this link and amount.
    func tokenise(_ number: String, cvc: String = "123", reference: String? = nil, amount: Int? = nil) async throws -> String {
        let body: [String: Any] = [
            "number": number, "exp_month": 12, "exp_year": 2040, "cvc": cvc,
            "reference": reference ?? linkID, "amount": amount ?? self.amount, "currency": currency,
        ]
        let (status, object) = try await send("POST", sandbox.url + "/v1/tokens", json: body)
        guard status == 201, let id = object["id"] as? String else { throw TestFailure("tokenise failed: \(status) \(object)") }
        return id
    }

    func progress(_ type: String, field: String? = nil) async throws -> (Int, [String: Any]) {
        var body: [String: Any] = ["type": type]
        if let field { body["field"] = field }
        return try await send("POST", "\(paylink)/p/\(token)/progress", json: body)
    }

    func pay(_ pspToken: String, brand: String? = nil, last4: String? = nil) async throws -> (Int, [String: Any]) {
        var body: [String: Any] = ["psp_token": pspToken]
        if let brand { body["brand"] = brand }
        if let last4 { body["last4"] = last4 }
        return try await send("POST", "\(paylink)/p/\(token)/pay", json: body)
    }

    func status() async throws -> [String: Any] {
        try await send("GET", "\(paylink)/p/\(token)/status", json: nil).1
    }

    /// Polls the page status until `done` holds (bounded).
    func waitForStatus(_ done: ([String: Any]) -> Bool) async throws -> [String: Any] {
        var last: [String: Any] = [:]
        for _ in 0..<100 {
            last = try await status()
            if done(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("status never settled: \(last)")
    }

    /// Approves or fails the sandbox's 3-D Secure challenge, as the customer would on its page.
    /// Presses Approve or Fail on the PSP's challenge; the `Location` it answers (which ends in
    /// `redirect_status=succeeded` or `failed`, the PSP's word on the charge), if any.
    @discardableResult
    func completeThreeDS(_ redirectURL: String, approve: Bool) async throws -> String? {
        var request = HTTPClientRequest(url: redirectURL + "/complete")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: "result=\(approve ? "approve" : "fail")"))
        let response = try await http.execute(request, timeout: .seconds(10))
        #expect([200, 303].contains(response.status.code), "3-D Secure completion answered \(response.status.code)")
        return response.headers.first(name: "Location")
    }

    func send(_ method: String, _ url: String, json: [String: Any]?, headers: [String: String] = [:]) async throws -> (Int, [String: Any]) {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await http.execute(request, timeout: .seconds(20))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: bytes))) as? [String: Any] ?? [:]
        return (Int(response.status.code), object)
    }
}

extension TestPaylink {
    /// A Paylink configured to use `sandbox` as its PSP (the embedded one is off in tests).
    static func withPSP(
        _ store: StoreKind = .sqlite, sandbox: RunningSandbox, clock: ManualClock = ManualClock(Date()),
        configure: (inout PaylinkConfiguration) -> Void = { _ in }
    ) async throws -> TestPaylink {
        try await make(store, clock: clock) { configuration in
            configuration.pspURL = sandbox.url
            configuration.pspSecretKey = sandbox.secretKey
            configuration.sandboxWebhookSecrets = [sandbox.webhookSecret]
            configure(&configuration)
        }
    }

    /// Runs `body` with a live Paylink whose webhooks the sandbox can reach.
    func live<Value: Sendable>(
        sandbox: RunningSandbox, logger: Logger? = nil, _ body: @Sendable (_ base: String, _ http: HTTPClient) async throws -> Value
    ) async throws -> Value {
        var quiet = Logger(label: "paylink-test")
        quiet.logLevel = .warning
        let app = try await buildApplication(configuration, clock: clock, logger: logger ?? quiet, onBootstrapKey: { _, _, _ in })
        // Redirects are checked, not followed (3-D Secure sends the customer back to the public URL).
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        do {
            let value = try await app.test(.live) { client in
                let base = "http://127.0.0.1:\(client.port!)"
                sandbox.sendWebhooks(to: base)
                return try await body(base, http)
            }
            try await http.shutdown()
            return value
        } catch {
            try? await http.shutdown()
            throw error
        }
    }
}

/// An agent's view over HTTP: create links and read them back with the API key.
struct AgentClient {
    let http: HTTPClient
    let base: String
    let key: String

    func createLink(_ json: String = #"{"amount": 1999, "currency": "GBP", "reference": "order-1"}"#) async throws -> [String: Any] {
        let (status, object) = try await send("POST", "/v1/links", body: json)
        guard status == 201 else { throw TestFailure("create failed: \(status) \(object)") }
        return object
    }

    func link(_ id: String) async throws -> [String: Any] { try await send("GET", "/v1/links/\(id)", body: nil).1 }

    func eventTypes(_ id: String) async throws -> [String] {
        let (_, object) = try await send("GET", "/v1/links/\(id)/events?limit=100", body: nil)
        return (object["data"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
    }

    func events(_ id: String) async throws -> [[String: Any]] {
        (try await send("GET", "/v1/links/\(id)/events?limit=100", body: nil).1["data"] as? [[String: Any]]) ?? []
    }

    func send(_ method: String, _ path: String, body: String?) async throws -> (Int, [String: Any]) {
        var request = HTTPClientRequest(url: base + path)
        request.method = .init(rawValue: method)
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await http.execute(request, timeout: .seconds(20))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: bytes))) as? [String: Any] ?? [:]
        return (Int(response.status.code), object)
    }
}

extension SandboxModeChoice {
    var mode: WebhookMode {
        switch self {
        case .normal: .normal
        case .duplicate: .duplicate
        case .reverse: .reverse
        case .drop: .drop
        }
    }
}
