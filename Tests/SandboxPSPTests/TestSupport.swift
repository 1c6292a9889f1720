import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

@testable import SandboxPSP

/// Known keys and a fixed Paylink origin, so tests can talk to a sandbox they build.
enum TestKeys {
    static let secret = "sk_test_sandbox_tests_0123456789abcdef"
    static let webhookSecret = "whsec_sandbox_tests_0123456789abcdef"
    static let paylinkOrigin = "https://pay.example.test"
}

/// A sandbox configured for tests: free port, known secrets, fast webhooks.
func testConfiguration(webhookURL: String? = nil, configure: (inout SandboxPSPConfiguration) -> Void = { _ in }) -> SandboxPSPConfiguration {
    var configuration = SandboxPSPConfiguration()
    configuration.port = 0
    configuration.allowedOrigins = [TestKeys.paylinkOrigin]
    configuration.secretKey = TestKeys.secret
    configuration.webhookSecret = TestKeys.webhookSecret
    configuration.webhookURL = webhookURL
    configuration.webhookDelay = .milliseconds(20)
    configuration.webhookRetryBase = .milliseconds(50)
    configuration.webhookReverseHold = .seconds(2)
    configure(&configuration)
    return configuration
}

func quietLogger() -> Logger {
    var logger = Logger(label: "sandbox-psp-test")
    logger.logLevel = .warning
    return logger
}

/// Runs `body` against a sandbox built by the public entry point.
func withSandbox<Value>(
    _ configuration: SandboxPSPConfiguration = testConfiguration(), logger: Logger = quietLogger(), _ setup: TestingSetup = .router,
    _ body: @Sendable (any TestClientProtocol) async throws -> Value
) async throws -> Value {
    let app = try buildSandboxPSP(configuration: configuration, logger: logger)
    return try await app.test(setup, body)
}

extension TestClientProtocol {
    @discardableResult
    func send(
        _ method: HTTPRequest.Method, _ uri: String, key: String? = TestKeys.secret, json: String? = nil,
        headers extra: [String: String] = [:]
    ) async throws -> TestResponse {
        var headers = HTTPFields()
        if let key { headers[.authorization] = "Bearer \(key)" }
        if json != nil { headers[.contentType] = "application/json" }
        for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
        return try await executeRequest(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }

    /// Tokenises a card as the page's script would (no API key) and returns the token id.
    /// `binding` is extra JSON members, e.g. `"reference": "lnk_1", "amount": 1999, "currency": "GBP"`.
    func tokenise(_ number: String, cvc: String = "123", expYear: Int = 2040, binding: String? = nil) async throws -> String {
        let extra = binding.map { ", " + $0 } ?? ""
        let response = try await send(
            .post, "/v1/tokens", key: nil,
            json: #"{"number": "\#(number)", "exp_month": 12, "exp_year": \#(expYear), "cvc": "\#(cvc)"\#(extra)}"#)
        #expect(response.status == .created, "tokenise failed: \(response.text)")
        return try #require(try response.jsonObject()["id"] as? String)
    }

    /// Tokenises and charges a card; returns the charge object.
    func charge(
        _ number: String, amount: Int = 1999, metadata: [String: String] = [:], returnURL: String? = nil, cvc: String = "123"
    ) async throws -> [String: Any] {
        let token = try await tokenise(number, cvc: cvc)
        let response = try await send(.post, "/v1/charges", json: chargeJSON(token: token, amount: amount, metadata: metadata, returnURL: returnURL))
        #expect(response.status == .created, "charge failed: \(response.text)")
        return try response.jsonObject()
    }
}

func chargeJSON(
    token: String, amount: Int = 1999, currency: String = "GBP", reference: String = "order-1", metadata: [String: String] = [:],
    returnURL: String? = nil
) -> String {
    var object: [String: Any] = ["amount": amount, "currency": currency, "token": token, "reference": reference, "metadata": metadata]
    if let returnURL { object["return_url"] = returnURL }
    return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

extension TestResponse {
    func jsonObject() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(buffer: body))
        guard let dictionary = object as? [String: Any] else { throw TestFailure("body is not a JSON object: \(text)") }
        return dictionary
    }

    var errorCode: String? { ((try? jsonObject())?["error"] as? [String: Any])?["code"] as? String }
    var errorParam: String? { ((try? jsonObject())?["error"] as? [String: Any])?["param"] as? String }
    var errorType: String? { ((try? jsonObject())?["error"] as? [String: Any])?["type"] as? String }
    var text: String { String(buffer: body) }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A webhook receiver: a real Hummingbird server on loopback that records what it is sent,
/// and can answer 500 to the first `failFirst` deliveries to exercise retries.
final class WebhookReceiver: Sendable {
    struct Delivery: Sendable {
        let body: Data
        let signature: String?
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var type: String? { json["type"] as? String }
        var eventID: String? { json["id"] as? String }
        var chargeObject: [String: Any] { ((json["data"] as? [String: Any])?["object"] as? [String: Any]) ?? [:] }
    }

    private let state = Mutex<(received: [Delivery], attempts: Int)>(([], 0))
    let failFirst: Int

    init(failFirst: Int = 0) { self.failFirst = failFirst }

    var deliveries: [Delivery] { state.withLock { $0.received } }
    var attempts: Int { state.withLock { $0.attempts } }

    /// Waits until `count` deliveries were accepted, or fails after `timeout` (generous: a bound for a
    /// loaded machine, not a measure; the loop returns as soon as they are in).
    func waitFor(_ count: Int, timeout: Duration = .seconds(20)) async throws -> [Delivery] {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            let current = deliveries
            if current.count >= count { return current }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("expected \(count) webhook deliveries, got \(deliveries.count)")
    }

    /// Runs the receiver on a free port and hands `body` its webhook URL.
    func run<Value>(_ body: @Sendable (String) async throws -> Value) async throws -> Value {
        let router = Router()
        router.post("hook") { request, context -> HTTPResponse.Status in
            var request = request
            let buffer = try await request.collectBody(upTo: 1 << 20)
            let accept = self.state.withLock { state -> Bool in
                state.attempts += 1
                guard state.attempts > self.failFirst else { return false }
                state.received.append(Delivery(body: Data(buffer: buffer), signature: request.headers[HTTPField.Name("Stripe-Signature")!]))
                return true
            }
            return accept ? .ok : .internalServerError
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: quietLogger())
        return try await app.test(.live) { client in
            try await body("http://127.0.0.1:\(client.port!)/hook")
        }
    }
}

/// Records every log line the sandbox writes, message and metadata, at every level.
final class RecordingLogHandler: LogHandler, Sendable {
    let lines = Mutex<[String]>([])
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    func log(event: LogEvent) {
        let merged = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        lines.withLock { $0.append("\(event.level) \(event.message) \(merged)") }
    }
}
