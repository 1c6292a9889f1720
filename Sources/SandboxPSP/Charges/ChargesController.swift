import Foundation
import HTTPTypes
import Hummingbird

/// The server-to-server API: `POST /v1/charges`, `GET /v1/charges/{id}`, `POST /v1/refunds`.
struct ChargesController {
    let processor: ChargeProcessor
    let idempotency: IdempotencyCache

    func addRoutes(to group: RouterGroup<SandboxRequestContext>) {
        group.post("charges", use: create)
        group.get("charges/:id", use: show)
        group.post("charges/:id/cancel", use: cancel)
        group.post("refunds", use: refund)
    }

    @Sendable func create(_ request: Request, context: SandboxRequestContext) async throws -> Response {
        let body = try await JSONBody.read(request, context: context)
        return try await idempotent(request, body: body) {
            let charge = try await processor.charge(ChargeProcessor.Request(body), logger: context.logger)
            return (.created, try JSONResponse.encode(charge))
        }
    }

    @Sendable func show(_ request: Request, context: SandboxRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let charge = await processor.ledger.charge(id) else { throw PSPError.resourceMissing("charge", id: id, param: "id") }
        return JSONResponse.make(.ok, body: try JSONResponse.encode(charge))
    }

    /// `POST /v1/charges/{id}/cancel`: cancels a charge waiting for 3-D Secure; answers the
    /// charge as it then is (a settled one unchanged, so the caller learns its outcome).
    @Sendable func cancel(_ request: Request, context: SandboxRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let result: (charge: Charge, changed: Bool)
        do {
            result = try await processor.ledger.cancel(id)
        } catch {
            throw PSPError.resourceMissing("charge", id: id, param: "id")
        }
        if result.changed {
            context.logger.info("charge canceled", metadata: ["charge_id": .string(id)])
            await processor.publishOutcome(result.charge)
        }
        return JSONResponse.make(.ok, body: try JSONResponse.encode(result.charge))
    }

    @Sendable func refund(_ request: Request, context: SandboxRequestContext) async throws -> Response {
        let body = try await JSONBody.read(request, context: context)
        return try await idempotent(request, body: body) {
            let chargeID = try body.string("charge")
            let amount = try body.optionalInt("amount")
            if let amount, amount < 1 { throw PSPError.invalid("amount", "amount must be a positive integer in minor units.") }
            let result: (refund: Refund, charge: Charge)
            do {
                result = try await processor.ledger.refund(
                    chargeID, amount: amount, refundID: SandboxID.make("re_"), created: Int(Date().timeIntervalSince1970))
            } catch ChargeLedger.Failure.notFound {
                throw PSPError.resourceMissing("charge", id: chargeID, param: "charge")
            } catch ChargeLedger.Failure.notRefundable(let status) {
                throw PSPError(
                    .conflict, code: "charge_not_refundable", "Only a succeeded charge can be refunded; this one is \(status.rawValue).",
                    param: "charge")
            } catch ChargeLedger.Failure.alreadyRefunded {
                throw PSPError(.conflict, code: "charge_already_refunded", "This charge has already been refunded in full.", param: "charge")
            } catch ChargeLedger.Failure.amountTooLarge(let remaining) {
                throw PSPError.invalid(
                    "amount", "Refund amount is greater than the unrefunded amount on the charge (\(remaining)).", code: "amount_too_large")
            }
            context.logger.info(
                "refund created",
                metadata: ["refund_id": .string(result.refund.id), "charge_id": .string(chargeID), "amount": .stringConvertible(result.refund.amount)])
            await processor.outbox.publish("charge.refunded", charge: result.charge)
            return (.created, try JSONResponse.encode(result.refund))
        }
    }

    /// Runs `work` once per `Idempotency-Key` (when sent) and replays its response after that.
    private func idempotent(
        _ request: Request, body: JSONBody, _ work: () async throws -> (HTTPResponse.Status, Data)
    ) async throws -> Response {
        guard let header = request.headers[HTTPField.Name("Idempotency-Key")!] else {
            let (status, data) = try await work()
            return JSONResponse.make(status, body: data)
        }
        let key = try IdempotencyCache.validate(header)
        let fingerprint = IdempotencyCache.fingerprint(path: request.uri.path, body: body.raw)
        switch try await idempotency.begin(key: key, fingerprint: fingerprint) {
        case .replay(let stored):
            var headers = HTTPFields()
            headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
            return JSONResponse.make(stored.status, body: stored.body, extraHeaders: headers)
        case .proceed:
            do {
                let (status, data) = try await work()
                await idempotency.finish(key: key, fingerprint: fingerprint, response: .init(status: status, body: data))
                return JSONResponse.make(status, body: data)
            } catch {
                await idempotency.abandon(key: key)
                throw error
            }
        }
    }
}
