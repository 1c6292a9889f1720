import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// Headers every customer-facing page carries (SPEC §3): a strict CSP whose only allowed
/// inline style and script carry this response's nonce, no framing, no referrer, no caching.
/// `connectSources` are the origins the page's script may call besides its own: the PSP's, for
/// tokenisation, and nothing else (PCI DSS 4.0 req. 6.4.3, 11.6.1: the page loads and talks to
/// no third party).
struct PageSecurityHeaders {
    let nonce: String
    let connectSources: [String]

    init(connectSources: [String] = []) {
        nonce = Base64URL.encode(SymmetricKey(size: .bits128).withUnsafeBytes { Data($0) })
        self.connectSources = connectSources
    }

    func apply(to headers: inout HTTPFields) {
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] =
            "default-src 'none'; script-src 'nonce-\(nonce)'; style-src 'nonce-\(nonce)'; img-src 'self' data:; "
            + "connect-src \((["'self'"] + connectSources).joined(separator: " ")); form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        headers[.referrerPolicy] = "no-referrer"
        headers[.cacheControl] = "no-store"
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
    }
}

/// HSTS on every response served over TLS (RFC 6797): browsers then refuse plain HTTP for two years.
struct StrictTransportSecurityMiddleware: RouterMiddleware {
    typealias Context = PaylinkRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.strictTransportSecurity] = "max-age=63072000; includeSubDomains"
        if response.headers[.xContentTypeOptions] == nil { response.headers[.xContentTypeOptions] = "nosniff" }
        return response
    }
}

extension HTTPField.Name {
    static let referrerPolicy = Self("Referrer-Policy")!
}
