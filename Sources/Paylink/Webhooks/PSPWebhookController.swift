import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// `POST /webhooks/sandbox` (and `/webhooks/stripe` when a secret is configured): verifies the
/// signature over the raw bytes before parsing anything, then settles the payment the event is
/// about. Bad, stale or missing signature → 400 and nothing changes; a duplicate → 200 and
/// nothing changes twice (the receipt is stored in the same transaction as the effect).
struct PSPWebhookController: Sendable {
    let provider: String
    let verifier: StripeSignatureVerifier
    let payments: PaymentService
    let store: any PaylinkStore
    let clock: any WallClock
    /// Real PSP bodies are a few KB; anything near this is not a PSP.
    static let maxBody = 256 * 1024

    enum Refusal: APIErrorConvertible {
        case signature(StripeSignatureVerifier.Failure)
        case payload(String)

        var apiError: APIError {
            switch self {
            case .signature(.missing):
                APIError(status: .badRequest, code: "signature_missing", message: "Missing Stripe-Signature header.", param: "Stripe-Signature")
            case .signature(.malformed):
                APIError(status: .badRequest, code: "signature_malformed", message: "Stripe-Signature must carry t= and v1=.", param: "Stripe-Signature")
            case .signature(.stale):
                APIError(
                    status: .badRequest, code: "signature_timestamp_out_of_tolerance",
                    message: "The signature's timestamp is more than 300 seconds from now.", param: "Stripe-Signature")
            case .signature(.noMatch):
                APIError(status: .badRequest, code: "signature_invalid", message: "No signature matches the payload.", param: "Stripe-Signature")
            case .payload(let detail):
                APIError(status: .badRequest, code: "webhook_payload_invalid", message: "The event could not be read: \(detail).")
            }
        }
    }

    func addRoutes(to router: Router<PaylinkRequestContext>) {
        router.post("webhooks/\(provider)", use: receive)
    }

    @Sendable func receive(_ request: Request, context: PaylinkRequestContext) async throws -> Response {
        let body = try await RequestBody.bytes(request, limit: Self.maxBody)
        do {
            // Freshness is about real time on the wire, not the business clock (which tests move).
            try verifier.verify(payload: body, header: request.headers[HTTPField.Name("Stripe-Signature")!], now: Date())
        } catch {
            context.logger.warning("webhook signature refused", metadata: ["provider": .string(provider), "reason": "\(error)"])
            throw Refusal.signature(error)
        }
        guard let event = try? JSONValue.parse(body).objectValue, let eventID = event["id"]?.stringValue, !eventID.isEmpty,
            let type = event["type"]?.stringValue
        else { throw Refusal.payload("not a JSON event with id and type") }
        guard type == "charge.succeeded" || type == "charge.failed" else {
            // Signed and well formed, just not something we act on (refunds come with [refunds]).
            return acknowledge(duplicate: false)
        }
        guard let object = event["data"]?.objectValue?["object"]?.objectValue, let charge = try? PSPCharge(object),
            charge.amount != nil, charge.currency != nil, object["reference"].map({ $0.stringValue != nil || $0 == .null }) ?? true
        else {
            throw Refusal.payload("data.object is not a charge (id, status, amount, currency; reference a string or null)")
        }
        guard let paymentID = charge.reference.flatMap(PaymentID.init), let linkID = try await store.paymentLink(paymentID) else {
            // Ours to verify but not ours to settle (another integration on the same PSP account).
            context.logger.notice("webhook for an unknown payment", metadata: ["event_id": .string(eventID)])
            return acknowledge(duplicate: false)
        }
        let receipt = WebhookReceipt(provider: provider, eventID: eventID, receivedAt: clock.now())
        do {
            try await payments.settle(paymentID, of: linkID, with: charge, receipt: receipt)
        } catch StoreError.duplicate {
            return acknowledge(duplicate: true)
        } catch is PaymentService.ChargeMismatch {
            // Signed, yet not about the charge we made: a PSP fault or a leaked secret. Refused
            // (the PSP shows the failure and retries), logged for a person to look at.
            context.logger.error(
                "webhook charge does not match the payment",
                metadata: ["event_id": .string(eventID), "payment_id": .string(paymentID.rawValue), "charge_id": .string(charge.id)])
            throw Refusal.payload("the charge's id, amount or currency differ from payment \(paymentID.rawValue)")
        }
        context.logger.info(
            "webhook applied",
            metadata: ["event_id": .string(eventID), "event.type": .string(type), "payment_id": .string(paymentID.rawValue)])
        return acknowledge(duplicate: false)
    }

    private func acknowledge(duplicate: Bool) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(
            status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: #"{"received":true,"duplicate":\#(duplicate)}"#)))
    }
}
