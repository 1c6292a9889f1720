import Crypto
import Foundation
import Hummingbird

/// `Authorization: Bearer sk_test_…` on the server-to-server endpoints.
///
/// The presented key is checked with `HMAC.isValidAuthenticationCode` against a MAC of the real key
/// under a per-process random key: a constant-time comparison whatever the presented length.
struct SecretKeyAuthenticator: RouterMiddleware {
    typealias Context = SandboxRequestContext
    private let macKey = SymmetricKey(size: .bits256)
    private let expected: HashedAuthenticationCode<SHA256>

    init(secretKey: String) {
        expected = HMAC<SHA256>.authenticationCode(for: Data(secretKey.utf8), using: macKey)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else { throw PSPError.apiKeyMissing }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer",
            HMAC<SHA256>.isValidAuthenticationCode(expected, authenticating: Data(parts[1].utf8), using: macKey)
        else { throw PSPError.apiKeyInvalid }
        return try await next(request, context)
    }
}
