import HTTPTypes
import Hummingbird

/// CORS for the one endpoint a browser calls (`POST /v1/tokens`), and only for Paylink's origins.
///
/// An allowed origin is echoed (never `*`) with `Vary: Origin`; any other origin gets no CORS
/// headers at all and its POST is refused with 403, so a page elsewhere cannot even mint tokens.
/// Requests without `Origin` (servers, curl) pass: CORS is a browser guard, not authentication.
struct BrowserCORSMiddleware: RouterMiddleware {
    typealias Context = SandboxRequestContext
    /// Normalised `scheme://host[:port]` values.
    let allowedOrigins: Set<String>

    init(allowedOrigins: [String]) {
        self.allowedOrigins = Set(allowedOrigins.map(Self.normalise))
    }

    static func normalise(_ origin: String) -> String {
        var value = origin.lowercased()
        while value.hasSuffix("/") { value.removeLast() }
        return value
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else {
            return try await next(request, context)
        }
        let allowed = allowedOrigins.contains(Self.normalise(origin))
        if request.method == .options {
            guard allowed, request.headers[.accessControlRequestMethod] == "POST" else {
                var headers = HTTPFields()
                headers[.vary] = "Origin"
                return Response(status: .forbidden, headers: headers)
            }
            var headers = HTTPFields()
            headers[.accessControlAllowOrigin] = origin
            headers[.accessControlAllowMethods] = "POST"
            headers[.accessControlAllowHeaders] = "Content-Type"
            headers[.accessControlMaxAge] = "600"
            headers[.vary] = "Origin"
            return Response(status: .noContent, headers: headers)
        }
        guard allowed else {
            var response = PSPError.originNotAllowed.response()
            response.headers[.vary] = "Origin"
            return response
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as PSPError {
            response = error.response()
        }
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.vary] = "Origin"
        return response
    }
}
