import Foundation
import HTTPTypes
import Hummingbird

/// Anything that can be shown to an API client as Stripe-style `{"error": {type, code, message, param}}`.
///
/// Each area keeps its own error enum and conforms it here, so the status and machine-readable
/// code of every failure are decided in one place per area, never ad hoc in a handler.
public protocol APIErrorConvertible: Error {
    var apiError: APIError { get }
}

/// The error object every `/v1` failure is rendered as.
public struct APIError: Error, Sendable, Equatable, APIErrorConvertible {
    /// Stripe's coarse error families; clients branch on `code`, operators on `type`.
    public enum Kind: String, Sendable, Codable {
        case invalidRequest = "invalid_request_error"
        case authentication = "authentication_error"
        case permission = "permission_error"
        case idempotency = "idempotency_error"
        case rateLimit = "rate_limit_error"
        case api = "api_error"
    }

    public var status: HTTPResponse.Status
    public var kind: Kind
    public var code: String
    public var message: String
    public var param: String?
    /// Extra response headers, such as `Retry-After` on 429/503.
    public var headers: [String: String] = [:]

    public init(status: HTTPResponse.Status, kind: Kind = .invalidRequest, code: String, message: String, param: String? = nil) {
        self.status = status
        self.kind = kind
        self.code = code
        self.message = message
        self.param = param
    }

    public var apiError: APIError { self }

    struct Body: Encodable {
        struct Inner: Encodable {
            let type: String
            let code: String
            let message: String
            let param: String?

            // `param` is always present, null when no single parameter is at fault.
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(type, forKey: .type)
                try container.encode(code, forKey: .code)
                try container.encode(message, forKey: .message)
                try container.encode(param, forKey: .param)
            }
            enum CodingKeys: String, CodingKey { case type, code, message, param }
        }
        let error: Inner
    }

    /// The JSON body, always with the same four keys (`param` is null when no parameter is at fault).
    public var jsonBody: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // A client that sent a card number as a parameter name never gets it echoed back.
        let body = Body(
            error: .init(
                type: kind.rawValue, code: code, message: CardNumberRedaction.redact(message),
                param: param.map(CardNumberRedaction.redact)))
        // Encoding four strings cannot fail.
        return (try? encoder.encode(body)) ?? Data(#"{"error":{"type":"api_error","code":"internal_error","message":"error"}}"#.utf8)
    }

    public func response() -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        for (name, value) in headers {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: jsonBody)))
    }
}

extension APIError {
    // MARK: Request shape
    static let invalidJSONLead = "The request body is not valid JSON: "
    static func invalidJSON(_ detail: String) -> APIError {
        .init(status: .badRequest, code: "invalid_json", message: invalidJSONLead + detail)
    }
    static func missing(_ param: String) -> APIError {
        .init(status: .badRequest, code: "parameter_missing", message: "Missing required parameter: \(param).", param: param)
    }
    static func unknown(_ param: String) -> APIError {
        .init(status: .badRequest, code: "parameter_unknown", message: "Received unknown parameter: \(param).", param: param)
    }
    static func wrongType(_ param: String, expected: String) -> APIError {
        .init(status: .badRequest, code: "parameter_invalid_type", message: "Invalid \(param): expected \(expected).", param: param)
    }
    static func invalid(_ param: String, code: String = "parameter_invalid", _ message: String) -> APIError {
        .init(status: .badRequest, code: code, message: message, param: param)
    }
    static let bodyTooLarge = APIError(
        status: .contentTooLarge, code: "body_too_large", message: "The request body is larger than this endpoint accepts.")
    static let unsupportedMediaType = APIError(
        status: .unsupportedMediaType, code: "unsupported_media_type", message: "Send the request body as application/json, in UTF-8.")
    static let bodyIncomplete = APIError(
        status: .badRequest, code: "body_incomplete", message: "The request body ended before it was complete, or its chunked framing is broken.")
    static let contentEncodingUnsupported = APIError(
        status: .unsupportedMediaType, code: "unsupported_media_type",
        message: "Content-Encoding is not supported: send the request body uncompressed.")

    // MARK: Authentication and access
    static var apiKeyMissing: APIError {
        unauthorized(code: "api_key_missing", message: "No API key provided. Send it as 'Authorization: Bearer plk_…'.")
    }
    static var apiKeyInvalid: APIError { unauthorized(code: "api_key_invalid", message: "Invalid API key provided.") }
    static var agentDisabled: APIError {
        unauthorized(code: "agent_disabled", message: "The agent this API key belongs to is disabled.")
    }
    /// RFC 6750 §3: a 401 names the scheme the client should use.
    private static func unauthorized(code: String, message: String) -> APIError {
        var error = APIError(status: .unauthorized, kind: .authentication, code: code, message: message)
        error.headers["WWW-Authenticate"] = #"Bearer realm="paylink""#
        return error
    }
    static func resourceMissing(_ what: String, id: String, param: String? = "id") -> APIError {
        .init(status: .notFound, code: "resource_missing", message: "No such \(what): '\(id)'.", param: param)
    }
    static let routeNotFound = APIError(status: .notFound, code: "route_not_found", message: "Unrecognized request URL.")
    static let methodNotAllowed = APIError(
        status: .methodNotAllowed, code: "method_not_allowed", message: "This endpoint does not accept that HTTP method.")

    // MARK: Idempotency
    static let idempotencyKeyReused = APIError(
        status: .unprocessableContent, kind: .idempotency, code: "idempotency_key_reused",
        message: "This Idempotency-Key was already used with a different request.")
    static let idempotencyKeyInUse = APIError(
        status: .conflict, kind: .idempotency, code: "idempotency_key_in_use",
        message: "A request with this Idempotency-Key is still being processed; retry shortly.")
    static let idempotencyKeyInvalid = APIError(
        status: .badRequest, kind: .idempotency, code: "idempotency_key_invalid",
        message: "Idempotency-Key must be 1 to 255 printable ASCII characters.", param: "Idempotency-Key")

    // MARK: Server side
    static let internalError = APIError(
        status: .internalServerError, kind: .api, code: "internal_error", message: "An unexpected error occurred on our side.")
    static var storageUnavailable: APIError {
        var error = APIError(
            status: .serviceUnavailable, kind: .api, code: "storage_unavailable",
            message: "The database is not reachable right now; retry shortly.")
        error.headers["Retry-After"] = "1"
        return error
    }
}
