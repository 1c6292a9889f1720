import Foundation
import HTTPTypes
import Hummingbird

/// A failure shown to the caller as Stripe's `{"error": {type, code, message, param}}`.
///
/// Card validation errors are `card_error` with Stripe's codes (`invalid_number`, `expired_card`…),
/// so a page can show the customer a precise message without parsing text.
public struct PSPError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var type: String
    public var code: String
    public var message: String
    public var param: String?
    var headers: [String: String] = [:]

    init(_ status: HTTPResponse.Status, type: String = "invalid_request_error", code: String, _ message: String, param: String? = nil) {
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.param = param
    }

    public var description: String { "PSPError(\(status.code) \(code))" }

    private struct Body: Encodable {
        struct Inner: Encodable {
            let type: String
            let code: String
            let message: String
            let param: String?
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

    var jsonBody: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(Body(error: .init(type: type, code: code, message: message, param: param)))) ?? Data()
    }

    func response() -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        for (name, value) in headers {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: jsonBody)))
    }
}

extension PSPError {
    // MARK: Request shape
    static func invalidJSON() -> PSPError { .init(.badRequest, code: "invalid_json", "The request body is not a valid JSON object.") }
    static func missing(_ param: String) -> PSPError {
        .init(.badRequest, code: "parameter_missing", "Missing required parameter: \(param).", param: param)
    }
    static func wrongType(_ param: String, expected: String) -> PSPError {
        .init(.badRequest, code: "parameter_invalid_type", "Invalid \(param): expected \(expected).", param: param)
    }
    static func invalid(_ param: String, _ message: String, code: String = "parameter_invalid") -> PSPError {
        .init(.badRequest, code: code, message, param: param)
    }
    static func card(_ code: String, _ message: String, param: String) -> PSPError {
        .init(.badRequest, type: "card_error", code: code, message, param: param)
    }
    static let unsupportedMediaType = PSPError(
        .unsupportedMediaType, code: "unsupported_media_type", "Send the request body as application/json.")
    static let bodyTooLarge = PSPError(.contentTooLarge, code: "body_too_large", "The request body is too large.")

    // MARK: Access
    static var apiKeyMissing: PSPError { unauthorized("api_key_missing", "No API key provided. Send 'Authorization: Bearer sk_test_…'.") }
    static var apiKeyInvalid: PSPError { unauthorized("api_key_invalid", "Invalid API key provided.") }
    private static func unauthorized(_ code: String, _ message: String) -> PSPError {
        var error = PSPError(.unauthorized, type: "authentication_error", code: code, message)
        error.headers["WWW-Authenticate"] = #"Bearer realm="sandbox-psp""#
        return error
    }
    static let originNotAllowed = PSPError(
        .forbidden, type: "permission_error", code: "origin_not_allowed", "This origin may not call the sandbox PSP.")
    static func resourceMissing(_ what: String, id: String, param: String) -> PSPError {
        .init(.notFound, code: "resource_missing", "No such \(what): '\(id)'.", param: param)
    }
    static let routeNotFound = PSPError(.notFound, code: "route_not_found", "Unrecognized request URL.")
    static let methodNotAllowed = PSPError(.methodNotAllowed, code: "method_not_allowed", "This endpoint does not accept that method.")

    // MARK: Idempotency (Stripe's names)
    static let idempotencyKeyReused = PSPError(
        .unprocessableContent, type: "idempotency_error", code: "idempotency_key_reused",
        "This Idempotency-Key was already used with a different request.")
    static let idempotencyKeyInUse = PSPError(
        .conflict, type: "idempotency_error", code: "idempotency_key_in_use",
        "A request with this Idempotency-Key is still being processed; retry shortly.")
    static let idempotencyKeyInvalid = PSPError(
        .badRequest, type: "idempotency_error", code: "idempotency_key_invalid",
        "Idempotency-Key must be 1 to 255 printable ASCII characters.", param: "Idempotency-Key")

    static let internalError = PSPError(.internalServerError, type: "api_error", code: "internal_error", "An unexpected error occurred.")
}

/// Renders every failure as the JSON error object; unexpected errors are logged by type only.
struct PSPErrorMiddleware: RouterMiddleware {
    typealias Context = SandboxRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as PSPError {
            return error.response()
        } catch let error as HTTPError {
            switch error.status {
            case .notFound: return PSPError.routeNotFound.response()
            case .methodNotAllowed: return PSPError.methodNotAllowed.response()
            case .contentTooLarge: return PSPError.bodyTooLarge.response()
            case let status where (400..<500).contains(status.code):
                return PSPError(status, code: "invalid_request", error.body ?? status.reasonPhrase).response()
            default:
                context.logger.error("request failed", metadata: ["error.type": "\(String(reflecting: type(of: error)))"])
                return PSPError.internalError.response()
            }
        } catch {
            // Only the type: an error's text could in theory echo request data.
            context.logger.error("request failed", metadata: ["error.type": "\(String(reflecting: type(of: error)))"])
            return PSPError.internalError.response()
        }
    }
}
