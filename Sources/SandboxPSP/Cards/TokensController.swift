import Foundation
import Hummingbird
import Logging

/// `POST /v1/tokens`: the page's script sends the card here, straight from the browser,
/// and gets back a single-use `tok_…` that Paylink's server can charge.
struct TokensController {
    let vault: CardVault
    let allowedOrigins: [String]

    /// What the caller gets back: the token and the card's public summary.
    struct TokenObject: Encodable {
        let id: String
        let object = "token"
        let card: CardSummary
        let created: Int
        let livemode = false
        let used = false
    }

    func addRoutes(to router: Router<SandboxRequestContext>) {
        let tokens = router.group("v1/tokens").add(middleware: BrowserCORSMiddleware(allowedOrigins: allowedOrigins))
        tokens.post(use: create)
        // Preflights are answered by the middleware; this route only makes OPTIONS reach it.
        tokens.on("", method: .options) { _, _ in Response(status: .noContent) }
    }

    @Sendable func create(_ request: Request, context: SandboxRequestContext) async throws -> Response {
        let body = try await JSONBody.read(request, context: context)
        let card = try CardDetails.validate(body, now: Date())
        let (id, summary) = await vault.store(card)
        context.logger.info(
            "token created", metadata: ["token_id": .string(id), "card.brand": .string(summary.brand.rawValue), "card.last4": .string(summary.last4)])
        let object = TokenObject(id: id, card: summary, created: Int(Date().timeIntervalSince1970))
        return JSONResponse.make(.created, body: try JSONResponse.encode(object))
    }
}
