import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle

/// Paylink's server side of the PSP's API (the sandbox speaks Stripe's shapes): look up a
/// card token, charge it, read a charge back. Card numbers never pass through here — only
/// tokens, brand, last four and the PSP's keyed fingerprint.
///
/// A `Service` so its HTTP client is shut down with the application.
public final class PSPClient: Service, Sendable {
    let baseURL: String
    private let secretKey: String
    private let client: HTTPClient
    private let logger: Logger
    static let timeout: TimeAmount = .seconds(15)

    /// `trustRoots`: an extra CA (PEM file) for a PSP with a development certificate.
    public init(baseURL: String, secretKey: String, trustRoots: String?, logger: Logger) {
        self.baseURL = baseURL
        self.secretKey = secretKey
        self.logger = logger
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let trustRoots { tls.trustRoots = .file(trustRoots) }
        // A PSP that is down should cost the customer seconds, not the default connect wait.
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: .seconds(3), read: .seconds(15)))
        configuration.redirectConfiguration = .disallow
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }

    /// `GET /v1/tokens/{id}`: what the PSP knows about a card token, with its risk score.
    func token(_ id: String) async throws -> PSPToken {
        try PSPToken(try await send(.GET, "/v1/tokens/\(id)", body: nil, idempotencyKey: nil))
    }

    /// `POST /v1/charges`, idempotent under `idempotencyKey` (the payment id): a retry after a
    /// crash or timeout gets the first charge back, never a second one.
    func charge(_ request: PSPChargeRequest, idempotencyKey: String) async throws -> PSPCharge {
        var body: [String: JSONValue] = [
            "amount": .integer(request.amount.minorUnits), "currency": .string(request.amount.currency.code),
            "token": .string(request.token), "reference": .string(request.reference),
            "metadata": .object(request.metadata.mapValues(JSONValue.string)),
        ]
        if let returnURL = request.returnURL { body["return_url"] = .string(returnURL) }
        return try PSPCharge(try await send(.POST, "/v1/charges", body: .object(body), idempotencyKey: idempotencyKey))
    }

    /// `GET /v1/charges/{id}`: the charge as it is now (after 3-D Secure, say).
    func charge(id: String) async throws -> PSPCharge {
        try PSPCharge(try await send(.GET, "/v1/charges/\(id)", body: nil, idempotencyKey: nil))
    }

    /// `POST /v1/charges/{id}/cancel`: cancels a charge waiting for 3-D Secure; the answer is
    /// the charge as it then is (`failed`, `canceled`; or its outcome if it settled first).
    func cancelCharge(id: String) async throws -> PSPCharge {
        try PSPCharge(try await send(.POST, "/v1/charges/\(id)/cancel", body: nil, idempotencyKey: nil))
    }

    private func send(_ method: HTTPMethod, _ path: String, body: JSONValue?, idempotencyKey: String?) async throws -> [String: JSONValue] {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(secretKey)")
        request.headers.add(name: "User-Agent", value: "Paylink/1.0")
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try APIJSON.encoder.encode(body)))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await client.execute(request, timeout: Self.timeout)
            bytes = try await response.body.collect(upTo: 1 << 20)
        } catch {
            logger.warning("PSP unreachable", metadata: ["psp.path": .string(Self.redactedPath(path)), "error.type": "\(type(of: error))"])
            throw PSPFailure.unreachable
        }
        let object = try? JSONValue.parse(Data(buffer: bytes)).objectValue
        switch response.status.code {
        case 200..<300:
            guard let object else { throw PSPFailure.unreachable }
            return object
        case 400..<500 where response.status.code != 429 && response.status.code != 409:
            let error = object?["error"]?.objectValue
            throw PSPFailure.rejected(
                status: Int(response.status.code), code: error?["code"]?.stringValue ?? "unknown", param: error?["param"]?.stringValue)
        default:
            // 5xx, 429 and 409 (an idempotent request still in flight) are worth retrying later.
            logger.warning("PSP answered \(response.status.code)", metadata: ["psp.path": .string(Self.redactedPath(path))])
            throw PSPFailure.unreachable
        }
    }

    /// Paths carry token and charge ids; logs get only the kind of object.
    static func redactedPath(_ path: String) -> String {
        path.split(separator: "/").map { $0.hasPrefix("tok_") ? "tok_…" : $0.hasPrefix("ch_") ? "ch_…" : String($0) }.joined(separator: "/")
    }
}

/// Why a PSP call did not give an answer to act on.
enum PSPFailure: Error, Equatable {
    /// No answer, a 5xx or a garbled body: the outcome is unknown, try again later.
    case unreachable
    /// The PSP refused the request itself (unknown token, token used…): nothing happened there.
    case rejected(status: Int, code: String, param: String?)
}

/// What Paylink asks the PSP to charge.
struct PSPChargeRequest: Sendable {
    let token: String
    let amount: Money
    /// The payment id, so a webhook names the attempt it is about.
    let reference: String
    let metadata: [String: String]
    let returnURL: String?
}

/// A card token as the PSP describes it to the server.
struct PSPToken: Sendable, Equatable {
    let id: String
    let used: Bool
    let card: CardSummary
    let fingerprint: String?
    let reference: String?
    let amount: Int64?
    let currency: String?
    let riskScore: Int?

    init(_ object: [String: JSONValue]) throws {
        guard let id = object["id"]?.stringValue, let card = object["card"]?.objectValue,
            let summary = CardSummary(brand: card["brand"]?.stringValue ?? "", last4: card["last4"]?.stringValue ?? "")
        else { throw PSPFailure.unreachable }
        self.id = id
        self.used = object["used"]?.boolValue ?? false
        self.card = summary
        self.fingerprint = card["fingerprint"]?.stringValue
        self.reference = object["reference"]?.stringValue
        self.amount = object["amount"]?.integerValue
        self.currency = object["currency"]?.stringValue
        self.riskScore = object["risk_score"]?.integerValue.map(Int.init)
    }
}

/// A charge as the PSP reports it, from its API or inside a webhook event.
struct PSPCharge: Sendable, Equatable {
    enum Status: String, Sendable { case succeeded, requiresAction = "requires_action", declined, failed }
    let id: String
    let status: Status
    let reference: String?
    let declineCode: String?
    let failureCode: String?
    let redirectURL: String?
    let riskScore: Int?
    /// What was charged, in minor units, and in which currency (the PSP's spelling).
    let amount: Int64?
    let currency: String?

    init(_ object: [String: JSONValue]) throws {
        guard let id = object["id"]?.stringValue, let status = object["status"]?.stringValue.flatMap(Status.init(rawValue:)) else {
            throw PSPFailure.unreachable
        }
        self.id = id
        self.status = status
        self.amount = object["amount"]?.integerValue
        self.currency = object["currency"]?.stringValue
        self.reference = object["reference"]?.stringValue
        self.declineCode = object["decline_code"]?.stringValue
        self.failureCode = object["failure_code"]?.stringValue
        self.redirectURL = object["next_action"]?.objectValue?["redirect_url"]?.stringValue
        self.riskScore = object["risk_score"]?.integerValue.map(Int.init)
    }
}
