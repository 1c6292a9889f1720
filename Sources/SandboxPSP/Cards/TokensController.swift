import Foundation
import Hummingbird
import Logging

/// `POST /v1/tokens`: the page's script sends the card here, straight from the browser,
/// and gets back a single-use `tok_…` that Paylink's server can charge.
/// `GET /v1/tokens/{id}`: Paylink's server reads the token back (binding, card summary, risk)
/// to check it before charging.
struct TokensController {
    let vault: CardVault
    let allowedOrigins: [String]

    /// The browser's route, behind CORS and no key.
    func addRoutes(to router: Router<SandboxRequestContext>) {
        let tokens = router.group("v1/tokens").add(middleware: BrowserCORSMiddleware(allowedOrigins: allowedOrigins))
        tokens.post(use: create)
        // Preflights are answered by the middleware; this route only makes OPTIONS reach it.
        tokens.on("", method: .options) { _, _ in Response(status: .noContent) }
    }

    /// The server's route, in the group that requires the secret key; it never speaks CORS.
    func addServerRoutes(to group: RouterGroup<SandboxRequestContext>) {
        group.get("tokens/:id", use: show)
    }

    @Sendable func create(_ request: Request, context: SandboxRequestContext) async throws -> Response {
        let body = try await JSONBody.read(request, context: context)
        let card = try CardDetails.validate(body, now: Date())
        let binding = try TokenBinding.read(body)
        let record = await vault.store(card, binding: binding, created: Int(Date().timeIntervalSince1970))
        context.logger.info(
            "token created",
            metadata: [
                "token_id": .string(record.id), "card.brand": .string(record.card.brand.rawValue), "card.last4": .string(record.card.last4),
                "reference": .string(binding.reference ?? "-"),
            ])
        let object = TokenObject(record: record, used: false, includesRisk: false)
        return JSONResponse.make(.created, body: try JSONResponse.encode(object))
    }

    @Sendable func show(_ request: Request, context: SandboxRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let found: (record: TokenRecord, used: Bool)
        do {
            found = try await vault.record(id)
        } catch .expired {
            // 404 because the token is gone; its own code so the page can ask for the card again.
            throw PSPError(.notFound, code: "token_expired", "This token has expired; tokenise the card again.", param: "id")
        } catch {
            throw PSPError.resourceMissing("token", id: id, param: "id")
        }
        let object = TokenObject(record: found.record, used: found.used, includesRisk: true)
        return JSONResponse.make(.ok, body: try JSONResponse.encode(object))
    }
}
