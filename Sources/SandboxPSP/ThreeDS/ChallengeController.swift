import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The sandbox's 3-D Secure challenge: `GET /3ds/{charge}` shows Approve/Fail buttons,
/// `POST /3ds/{charge}/complete` settles the charge and redirects (303) to its `return_url`
/// with `charge` and `redirect_status` appended, as Stripe does after a redirect-based authentication.
struct ChallengeController {
    let processor: ChargeProcessor
    let allowedOrigins: [String]

    func addRoutes(to router: Router<SandboxRequestContext>) {
        router.get("3ds/:id", use: page)
        router.post("3ds/:id/complete", use: complete)
    }

    @Sendable func page(_ request: Request, context: SandboxRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let charge = await processor.ledger.charge(id) else { return html(.notFound, title: "Unknown payment", body: "<p>This authentication request does not exist.</p>") }
        guard charge.status == .requiresAction else {
            return html(.ok, title: "Authentication finished", body: "<p>This payment is already \(escape(charge.status.rawValue)).</p>")
        }
        let amount = "\(charge.amount) \(escape(charge.currency)) (minor units)"
        let body = """
            <p>Sandbox bank: confirm the payment of <strong>\(amount)</strong> to <strong>\(escape(charge.reference))</strong> \
            with your \(escape(charge.card.brand.rawValue)) card ending <strong>\(escape(charge.card.last4))</strong>.</p>
            <form method="post" action="/3ds/\(escape(id))/complete"><input type="hidden" name="result" value="approve">\
            <button type="submit">Approve</button></form>
            <form method="post" action="/3ds/\(escape(id))/complete"><input type="hidden" name="result" value="fail">\
            <button type="submit">Fail</button></form>
            """
        return html(.ok, title: "3-D Secure (sandbox)", body: body)
    }

    @Sendable func complete(_ request: Request, context: SandboxRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        var request = request
        let form = Self.parseForm(String(buffer: try await request.collectBody(upTo: 4096)))
        let approved: Bool
        switch form["result"] {
        case "approve": approved = true
        case "fail": approved = false
        default: return html(.badRequest, title: "Bad request", body: "<p>Choose Approve or Fail.</p>")
        }
        let result: (charge: Charge, changed: Bool)
        do {
            result = try await processor.ledger.completeAuthentication(id, approved: approved)
        } catch {
            return html(.notFound, title: "Unknown payment", body: "<p>This authentication request does not exist.</p>")
        }
        let charge = result.charge
        if result.changed {
            context.logger.info(
                "3-D Secure completed", metadata: ["charge_id": .string(id), "charge.status": .string(charge.status.rawValue)])
            await processor.publishOutcome(charge)
        }
        guard let returnURL = charge.returnURL, var components = URLComponents(string: returnURL) else {
            return html(.ok, title: "Authentication finished", body: "<p>Payment \(escape(charge.status.rawValue)). You can close this window.</p>")
        }
        let status = charge.status == .succeeded ? "succeeded" : "failed"
        // Appended to the query as sent, byte for byte: decoding and re-encoding `queryItems` would
        // turn the merchant's `%2B` into `+` (a space to a form decoder). Ids are URL-safe already.
        let appended = "charge=\(id)&redirect_status=\(status)"
        let existing = components.percentEncodedQuery ?? ""
        components.percentEncodedQuery = existing.isEmpty ? appended : existing + "&" + appended
        var headers = HTTPFields()
        headers[.location] = components.string ?? returnURL
        headers[.cacheControl] = "no-store"
        return Response(status: .seeOther, headers: headers)
    }

    /// `application/x-www-form-urlencoded`, which is all the two buttons send.
    static func parseForm(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            if let name = parts.first { fields[name] = parts.count > 1 ? parts[1] : "" }
        }
        return fields
    }

    private func html(_ status: HTTPResponse.Status, title: String, body: String) -> Response {
        let page = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
            <title>\(title)</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}\
            form{display:inline-block;margin-right:1rem}button{font-size:1rem;padding:.5rem 1.5rem}</style></head>
            <body><h1>\(title)</h1>\(body)</body></html>
            """
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        // Paylink may frame the challenge; nobody else may.
        let ancestors = allowedOrigins.isEmpty ? "'none'" : allowedOrigins.joined(separator: " ")
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors \(ancestors); base-uri 'none'"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")
    }
}
