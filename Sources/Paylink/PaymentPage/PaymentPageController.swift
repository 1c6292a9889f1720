import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// `GET /p/TOKEN`, the customer's page (SPEC §3). A GET never changes anything: it does not
/// mark the link opened (the page's own script will report a human view) and consumes nothing.
///
/// An unknown, altered, truncated or retired-key token all get the same 404 page, byte for
/// byte, so the page is no oracle for which tokens exist.
struct PaymentPageController: Sendable {
    let store: any PaylinkStore
    let keyRing: SigningKeyRing
    let clock: any WallClock
    let templates: MustacheLibrary

    init(store: any PaylinkStore, keyRing: SigningKeyRing, clock: any WallClock) throws {
        self.store = store
        self.keyRing = keyRing
        self.clock = clock
        var library = MustacheLibrary()
        try library.register(Self.layout, named: "page")
        self.templates = library
    }

    func addRoutes(to router: Router<PaylinkRequestContext>) {
        router.get("p/:token", use: page)
    }

    /// The customer always gets a page, never a JSON error: a storage outage is a 503 page.
    @Sendable func page(_ request: Request, context: PaylinkRequestContext) async throws -> Response {
        do {
            return try await linkPage(context)
        } catch {
            context.logger.error("payment page failed", metadata: ["error.type": "\(type(of: error))"])
            var response = render(status: .serviceUnavailable, strings: .forLocale("en")) { strings in
                ["title": strings.unavailableTitle, "message": strings.unavailableBody]
            }
            response.headers[.retryAfter] = "5"
            return response
        }
    }

    private func linkPage(_ context: PaylinkRequestContext) async throws -> Response {
        let presented = context.parameters.get("token") ?? ""
        guard let token = try await keyRing.verify(presented), let link = try await store.link(tokenNonce: token.nonce) else {
            return render(status: .notFound, strings: .forLocale("en")) { strings in
                ["title": strings.invalidTitle, "message": strings.invalidBody]
            }
        }
        let strings = PageStrings.forLocale(link.locale)
        switch link.status(at: clock.now()) {
        case .expired, .cancelled:
            return render(status: .gone, strings: strings) { strings in ["title": strings.closedTitle, "message": strings.closedBody] }
        case .open, .paid:
            return render(status: .ok, strings: strings) { strings in
                [
                    "title": strings.title, "amountLabel": strings.amountLabel, "amount": AmountFormat.display(link.amount),
                    "referenceLabel": strings.referenceLabel, "reference": link.reference,
                    "expiresLabel": strings.expiresLabel, "expiresAt": RFC3339.string(link.expiresAt),
                    "message": strings.comingSoon, "showDetails": true,
                ]
            }
        }
    }

    private func render(status: HTTPResponse.Status, strings: PageStrings, _ values: (PageStrings) -> [String: Any]) -> Response {
        let security = PageSecurityHeaders()
        var context = values(strings)
        context["lang"] = strings.lang
        context["nonce"] = security.nonce
        let html = templates.render(context, withTemplate: "page") ?? ""
        var headers = HTTPFields()
        security.apply(to: &headers)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static let layout = """
        <!doctype html>
        <html lang="{{lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>{{title}}</title>
        <style nonce="{{nonce}}">body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1a1a1a;background:#fff}main{max-width:28rem;margin:0 auto;padding:1.5rem}h1{font-size:1.4rem}dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem}dt{color:#4a4a4a}</style>
        </head><body><main>
        <h1>{{title}}</h1>
        {{#showDetails}}<dl><dt>{{amountLabel}}</dt><dd>{{amount}}</dd><dt>{{referenceLabel}}</dt><dd>{{reference}}</dd><dt>{{expiresLabel}}</dt><dd><time datetime="{{expiresAt}}">{{expiresAt}}</time></dd></dl>{{/showDetails}}
        <p role="status">{{message}}</p>
        </main></body></html>
        """
}

/// Formats minor units for people: `GBP 19.99`, `JPY 500`, `KWD 1.500`.
enum AmountFormat {
    static func display(_ money: Money) -> String {
        let digits = money.currency.minorUnits
        guard digits > 0 else { return "\(money.currency.code) \(money.minorUnits)" }
        var divisor: Int64 = 1
        for _ in 0..<digits { divisor *= 10 }
        let whole = money.minorUnits / divisor
        let fraction = String(money.minorUnits % divisor)
        return "\(money.currency.code) \(whole).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
    }
}
