import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// `GET /p/TOKEN`, the customer's page (SPEC §3). A GET never changes anything: it does not
/// mark the link opened (the page's own script reports a human view) and consumes nothing, so
/// link previewers, scanners and curl leave no trace.
///
/// | state | when | status |
/// |---|---|---|
/// | card form | open, no attempt in flight | 200 |
/// | confirming (polls `/status`) | an attempt is `processing` / `requires_action` (e.g. back from 3-D Secure) | 200 |
/// | receipt: amount, reference, brand and last four | paid | 200 |
/// | "contact the agent" | expired or cancelled | 410 |
/// | "too many attempts, ask for a new link" | locked | 409, as `link_locked` from `/pay` |
/// | "link not valid" | unknown, altered, truncated or retired-key token | 404, identical bytes |
/// | details and "temporarily unavailable", no card form | open, but no PSP configured | 200 |
/// | "temporarily unavailable" | storage outage | 503 + `Retry-After` |
///
/// An attempt in flight outranks expiry: a payment that completes after the link expired is
/// still recorded (SPEC §3), so the customer waits for its outcome rather than being told the
/// link is gone.
struct PaymentPageController: Sendable {
    let store: any PaylinkStore
    let keyRing: SigningKeyRing
    let clock: any WallClock
    /// Base of the PSP's API as the browser reaches it; the script tokenises at `pspURL/v1/tokens`.
    /// Nil when no PSP is configured (`--psp-port 0` and no `--psp-url`): an open link's page
    /// then shows the link and says payment is temporarily unavailable, rather than offering a
    /// form that cannot tokenise. Still 200: the link is valid and open (SPEC §3).
    let pspURL: String?
    /// The PSP's origin for the CSP's `connect-src`, worked out once; none without a PSP.
    let connectSources: [String]
    let templates: MustacheLibrary

    init(store: any PaylinkStore, keyRing: SigningKeyRing, clock: any WallClock, pspURL: String?) throws {
        self.store = store
        self.keyRing = keyRing
        self.clock = clock
        self.pspURL = pspURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.connectSources = pspURL.map { [PSPEndpoint.origin(of: $0)] } ?? []
        var library = MustacheLibrary()
        try library.register(PageTemplate.layout, named: "page")
        self.templates = library
    }

    func addRoutes(to router: Router<PaylinkRequestContext>) {
        router.get("p/:token", use: page)
    }

    /// A customer's browser that asks for no token, or for one with a `/` in it, matches no
    /// route: it gets the same "link not valid" page as any other token that is not a link's,
    /// not the API's JSON 404. The page's own endpoints (`/p/TOKEN/status`…) still answer JSON.
    struct NoRouteMiddleware: RouterMiddleware {
        typealias Context = PaylinkRequestContext
        let controller: PaymentPageController

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            do {
                return try await next(request, context)
            } catch let error as HTTPError where error.status == .notFound {
                let path = request.uri.path
                guard request.method == .get || request.method == .head, path == "/p" || path.hasPrefix("/p/") else { throw error }
                return controller.notValidPage(acceptLanguage: request.headers[.acceptLanguage])
            }
        }
    }

    /// Depends on nothing but the request's languages: no oracle for which tokens exist.
    func notValidPage(acceptLanguage: String?) -> Response {
        let strings = PageStrings.forLocale(PageLocale.negotiate(acceptLanguage: acceptLanguage, linkLocale: nil))
        return render(.notFound, strings, ["heading": strings[.invalidTitle], "body": strings[.invalidBody]])
    }

    /// What the page shows for a link at a moment.
    enum State: String, Equatable {
        case open, confirming, paid, closed, locked

        init(_ link: Link, at now: Date) {
            let status = link.status(at: now)
            if status == .paid {
                self = .paid
            } else if let payment = link.payment, !payment.status.isFinal {
                self = .confirming
            } else if status != .open {
                self = .closed
            } else {
                self = link.locked ? .locked : .open
            }
        }
    }

    /// The customer always gets a page, never a JSON error: a storage outage is a 503 page.
    @Sendable func page(_ request: Request, context: PaylinkRequestContext) async throws -> Response {
        let acceptLanguage = request.headers[.acceptLanguage]
        do {
            return try await linkPage(context, acceptLanguage: acceptLanguage)
        } catch {
            context.logger.error("payment page failed", metadata: ["error.type": "\(type(of: error))"])
            let strings = PageStrings.forLocale(PageLocale.negotiate(acceptLanguage: acceptLanguage, linkLocale: nil))
            var response = render(.serviceUnavailable, strings, ["heading": strings[.unavailableTitle], "body": strings[.unavailableBody]])
            response.headers[.retryAfter] = "5"
            return response
        }
    }

    private func linkPage(_ context: PaylinkRequestContext, acceptLanguage: String?) async throws -> Response {
        let presented = context.decodedParameter("token") ?? ""
        guard let link = try await keyRing.link(presented: presented, in: store) else {
            return notValidPage(acceptLanguage: acceptLanguage)
        }
        let now = clock.now()
        let strings = PageStrings.forLocale(PageLocale.of(link))
        let state = State(link, at: now)
        var values: [String: Any] = [:]
        switch state {
        case .closed:
            // No details: whoever holds a dead link learns nothing more from it.
            return render(.gone, strings, ["heading": strings[.closedTitle], "body": strings[.closedBody]])
        case .locked:
            values = ["heading": strings[.lockedTitle], "body": strings[.lockedBody], "help": true]
            values.merge(script(state, link, presented, strings, now)) { $1 }
            return render(.conflict, strings, values)
        case .paid:
            // PCI DSS 3.4.1: at most brand and last four.
            values = details(link, strings) { $0 != "description" }
            values["heading"] = strings[.receiptTitle]
            values["body"] = strings[.receiptBody]
            if let card = link.payment?.card {
                values["card"] = "\(Self.brandNames[card.brand] ?? strings[.cardLabel]) \(strings[.endingIn]) \(card.last4)"
            }
            return render(.ok, strings, values)
        case .confirming:
            values = details(link, strings) { _ in true }
            values["heading"] = strings[.confirmingTitle]
            values["body"] = strings[.confirmingBody]
            values["confirming"] = true
            values["continueLabel"] = strings[.continueLabel]
        case .open where pspURL == nil:
            // Nothing to pay with (`/pay` answers 503 psp_unavailable): the details, the reason,
            // and the help button, no form.
            values = details(link, strings) { _ in true }
            values["heading"] = strings[.unavailableTitle]
            values["body"] = strings[.unavailableBody]
        case .open:
            values = details(link, strings) { _ in true }
            values["heading"] = strings[.title]
            values["expiresAt"] = RFC3339.string(link.expiresAt)
            values["expiresText"] = Self.utcText(link.expiresAt)
            values["expiresLabel"] = strings[.expiresLabel]
            values["form"] = true
            for key: PageStrings.Key in [.numberLabel, .expiryLabel, .cvcLabel, .nameLabel, .secureNote, .noScript] {
                values[key.rawValue] = strings[key]
            }
            values["payLabel"] = "\(strings[.payLabel]) \(AmountFormat.display(link.amount))"
            // Back from a declined or failed attempt (or 3-D Secure that failed): say why.
            if let payment = link.payment {
                switch payment.status {
                case .declined, .blocked: values["notice"] = strings.declineMessage(payment.declineCode)
                case .failed: values["notice"] = strings.failureMessage(payment.failureCode)
                case .processing, .requiresAction, .succeeded: break
                }
            }
        }
        values["help"] = true
        values.merge(script(state, link, presented, strings, now)) { $1 }
        return render(.ok, strings, values)
    }

    /// Amount, reference and (where `include` allows) description, with their labels.
    private func details(_ link: Link, _ strings: PageStrings, include: (String) -> Bool) -> [String: Any] {
        var values: [String: Any] = [
            "details": true, "amountLabel": strings[.amountLabel], "amount": AmountFormat.display(link.amount),
            "referenceLabel": strings[.referenceLabel], "reference": link.reference, "cardLabel": strings[.cardLabel],
        ]
        if include("description"), let description = link.description, !description.isEmpty {
            values["description"] = description
            values["descriptionLabel"] = strings[.descriptionLabel]
        }
        return values
    }

    /// The script and its configuration, for the states a person acts on.
    private func script(_ state: State, _ link: Link, _ token: String, _ strings: PageStrings, _ now: Date) -> [String: Any] {
        var messages: [String: String] = [:]
        for key in PageStrings.scriptKeys { messages[key.rawValue] = strings[key] }
        let config: [String: Any] = [
            "base": "/p/\(token)", "psp": pspURL ?? "", "state": state.rawValue, "link": link.id.rawValue,
            "amount": link.amount.minorUnits, "currency": link.amount.currency.code,
            "left": max(0, Int(link.expiresAt.timeIntervalSince(now).rounded(.down))), "t": messages,
        ]
        return ["script": true, "config": Self.scriptJSON(config), "js": PageScript.source]
    }

    /// JSON safe inside `<script type="application/json">`: `<`, `>` and `&` as `\u` escapes,
    /// so no value (a reference, a description) can close the element.
    static func scriptJSON(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
            .replacingOccurrences(of: "<", with: "\\u003c")
            .replacingOccurrences(of: ">", with: "\\u003e")
            .replacingOccurrences(of: "&", with: "\\u0026")
    }

    private func render(_ status: HTTPResponse.Status, _ strings: PageStrings, _ values: [String: Any]) -> Response {
        let security = PageSecurityHeaders(connectSources: connectSources)
        var context = values
        context["lang"] = strings.lang
        context["nonce"] = security.nonce
        context["css"] = PageTemplate.css
        context["helpLabel"] = strings[.helpLabel]
        let html = templates.render(context, withTemplate: "page") ?? ""
        var headers = HTTPFields()
        security.apply(to: &headers)
        headers[.contentLanguage] = strings.lang
        headers[.vary] = "Accept-Language"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static let brandNames = [
        "visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover", "diners": "Diners Club",
        "jcb": "JCB", "unionpay": "UnionPay",
    ]

    /// `2027-01-15 08:00 UTC`: shown until the script rewrites it in the customer's own time zone.
    static func utcText(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        func two(_ value: Int?) -> String { value.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        return "\(c.year ?? 0)-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute)) UTC"
    }
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
