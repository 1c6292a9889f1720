import HTTPTypes
import Hummingbird
import Logging

/// Turns every failure under `/v1` and `/webhooks` into the JSON error object. Client
/// mistakes get their 4xx; anything unexpected is logged with its type (never request
/// bodies) and answered with a generic 500 that reveals nothing.
struct APIErrorMiddleware: RouterMiddleware {
    typealias Context = PaylinkRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Self.response(for: error, logger: context.logger)
        }
    }

    static func response(for error: any Error, logger: Logger) -> Response {
        apiError(for: error, logger: logger).response()
    }

    static func apiError(for error: any Error, logger: Logger) -> APIError {
        switch error {
        case let convertible as any APIErrorConvertible:
            return convertible.apiError
        case let http as HTTPError:
            switch http.status {
            case .notFound: return .routeNotFound
            case .methodNotAllowed: return .methodNotAllowed
            case .contentTooLarge: return .bodyTooLarge
            case .unsupportedMediaType: return .unsupportedMediaType
            case let status where (400..<500).contains(status.code):
                return APIError(status: status, code: "invalid_request", message: http.body ?? status.reasonPhrase)
            default:
                logger.error("request failed", metadata: ["error.type": "\(String(reflecting: type(of: error)))"])
                return .internalError
            }
        case StoreError.unavailable:
            return .storageUnavailable
        default:
            logger.error("request failed", metadata: ["error.type": "\(String(reflecting: type(of: error)))", "error": "\(error)"])
            return .internalError
        }
    }
}
