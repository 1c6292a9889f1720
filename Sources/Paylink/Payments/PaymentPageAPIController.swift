import Foundation
import HTTPTypes
import Hummingbird

/// The JSON endpoints the payment page's own script calls, authorised by the link token in the
/// path (the same capability the customer received):
///
/// - `POST /p/TOKEN/progress` `{"type": …, "field"?: …}` → `{"recorded": bool}`
/// - `POST /p/TOKEN/pay` `{"psp_token": "tok_…", "brand"?: …, "last4"?: …}` → the page status
/// - `GET /p/TOKEN/status` → the page status
///
/// JSON bodies only (a cross-site form cannot send one without a CORS preflight, which is refused).
struct PaymentPageAPIController: Sendable {
    let payments: PaymentService
    let clock: any WallClock
    /// See `PaylinkConfiguration.trustForwardedFor`.
    var trustForwardedFor = false

    func addRoutes(to router: Router<PaylinkRequestContext>) {
        router.post("p/:token/progress", use: progress)
        router.post("p/:token/pay", use: pay)
        router.get("p/:token/status", use: status)
    }

    @Sendable func progress(_ request: Request, context: PaylinkRequestContext) async throws -> Response {
        let (_, object) = try await RequestBody.jsonObject(request, context: context)
        let report = try ProgressReport(json: object)
        let recorded = try await payments.report(report, token: try token(context))
        return json(#"{"recorded":\#(recorded)}"#)
    }

    @Sendable func pay(_ request: Request, context: PaylinkRequestContext) async throws -> Response {
        let (_, object) = try await RequestBody.jsonObject(request, context: context)
        let submission = try PaySubmission(json: object)
        let link = try await payments.pay(submission, token: try token(context), clientIP: clientIP(request, context))
        return try render(link)
    }

    @Sendable func status(_ request: Request, context: PaylinkRequestContext) async throws -> Response {
        // Like every JSON endpoint: unknown query parameters are refused, not ignored. (The
        // HTML page itself takes any, such as a campaign's `utm_*`.)
        _ = try ListQuery(request.uri, allowed: [])
        return try render(try await payments.link(token: try token(context)))
    }

    /// The customer's address for the per-IP velocity rule: the TCP peer, or behind a trusted
    /// proxy the entry it appended to `X-Forwarded-For` (the last one; earlier ones are the client's word).
    func clientIP(_ request: Request, _ context: PaylinkRequestContext) -> String? {
        if trustForwardedFor, let forwarded = request.headers[values: HTTPField.Name("X-Forwarded-For")!].last,
            let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty, last.count <= 64
        {
            return last
        }
        return context.remoteAddress?.ipAddress
    }

    private func token(_ context: PaylinkRequestContext) throws -> String {
        guard let token = context.decodedParameter("token") else { throw PaymentRefusal.linkNotFound }
        return token
    }

    private func render(_ link: Link) throws -> Response {
        let data = try APIJSON.encoder.encode(PageStatus(link: link, now: clock.now()))
        return json(String(decoding: data, as: UTF8.self))
    }

    private func json(_ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// What the page needs to know to draw itself: `{"link_status", "locked", "payment"}` where
/// `payment` is `{id, status, card: {brand, last4}, decline_code, failure_code, redirect_url}` or null.
struct PageStatus: Encodable {
    let link: Link
    let now: Date

    enum CodingKeys: String, CodingKey { case linkStatus = "link_status", locked, payment }
    enum PaymentKeys: String, CodingKey { case id, status, card, declineCode = "decline_code", failureCode = "failure_code", redirectURL = "redirect_url" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(link.status(at: now).rawValue, forKey: .linkStatus)
        try container.encode(link.locked, forKey: .locked)
        guard let payment = link.payment else {
            try container.encodeNil(forKey: .payment)
            return
        }
        var nested = container.nestedContainer(keyedBy: PaymentKeys.self, forKey: .payment)
        try nested.encode(payment.id, forKey: .id)
        try nested.encode(payment.status, forKey: .status)
        try nested.encode(payment.card, forKey: .card)
        try nested.encode(payment.declineCode, forKey: .declineCode)
        try nested.encode(payment.failureCode, forKey: .failureCode)
        // Only while the customer has a challenge to go to, whatever an older record holds.
        try nested.encode(payment.status == .requiresAction ? payment.redirectURL : nil, forKey: .redirectURL)
    }
}
