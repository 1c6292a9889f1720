import Foundation
import Synchronization
import Logging

/// Turns a token into a charge: takes the card out of the vault (so the token is spent whatever
/// happens), decides the outcome from the test-card table, records it and queues its webhook.
struct ChargeProcessor: Sendable {
    let vault: CardVault
    let ledger: ChargeLedger
    let outbox: WebhookOutbox
    let publicURL: PublicURL

    /// A validated `POST /v1/charges` body.
    struct Request: Sendable {
        let amount: Int
        let currency: String
        let token: String
        let reference: String
        let metadata: [String: String]
        let returnURL: String?

        init(_ body: JSONBody) throws {
            amount = try body.amount()
            currency = try body.currency()
            token = try body.string("token")
            reference = try body.reference()
            metadata = try body.stringMap("metadata")
            guard metadata.count <= 50, metadata.allSatisfy({ $0.key.count <= 40 && $0.value.count <= 500 }) else {
                throw PSPError.invalid("metadata", "metadata takes at most 50 keys of 40 characters with values of 500.")
            }
            if let mode = metadata["sandbox_webhook"], WebhookMode(rawValue: mode) == nil {
                throw PSPError.invalid(
                    "metadata[sandbox_webhook]", "sandbox_webhook must be one of: \(WebhookMode.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            returnURL = try body.optionalString("return_url")
            if let returnURL {
                guard let url = URL(string: returnURL), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                    throw PSPError.invalid("return_url", "return_url must be an absolute http(s) URL.")
                }
            }
        }
    }

    func charge(_ request: Request, logger: Logger) async throws -> Charge {
        let card: CardDetails
        let summary: CardSummary
        let terms = CardVault.ChargeTerms(
            amount: request.amount, currency: request.currency, reference: request.reference, metadata: request.metadata)
        do {
            let taken = try await vault.consume(request.token, for: terms)
            (card, summary) = (taken.card, taken.record.card)
        } catch .unknown {
            throw PSPError.resourceMissing("token", id: request.token, param: "token")
        } catch .used {
            throw PSPError.invalid("token", "This token has already been used; tokenise the card again.", code: "token_already_used")
        } catch .expired {
            throw PSPError.invalid("token", "This token has expired; tokenise the card again.", code: "token_expired")
        } catch .mismatch(let param) {
            logger.notice("charge refused: token bound to another \(param)", metadata: ["token_id": .string(request.token), "param": .string(param)])
            throw PSPError.invalid(param, "This token was created for a different \(param); it has not been used.", code: "token_mismatch")
        }
        let id = SandboxID.make("ch_")
        let behaviour = TestCardBehaviour(number: card.number)
        var charge = Charge(
            id: id, amount: request.amount, currency: request.currency, status: .succeeded, reference: request.reference,
            metadata: request.metadata, token: request.token, card: summary, riskScore: 0,
            outcome: .init(riskLevel: .normal, riskScore: 0, type: "authorized"), returnURL: request.returnURL,
            created: Int(Date().timeIntervalSince1970))
        switch behaviour {
        case .succeed(let score):
            charge = charge.with(status: .succeeded, score: score, outcome: "authorized")
        case .decline(let code, let message, let score):
            charge = charge.with(status: .declined, score: score, outcome: "issuer_declined")
            charge.declineCode = code
            charge.failureMessage = message
        case .block(let score):
            charge = charge.with(status: .declined, score: score, outcome: "blocked")
            charge.declineCode = "fraudulent"
            charge.failureMessage = "The payment was blocked as likely fraud."
        case .requireAuthentication(let score):
            charge = charge.with(status: .requiresAction, score: score, outcome: "authorized")
            charge.nextAction = .init(redirectURL: publicURL.value + "/3ds/" + id)
        case .fail(let code, let message):
            charge = charge.with(status: .failed, score: behaviour.riskScore, outcome: "invalid")
            charge.failureCode = code
            charge.failureMessage = message
        }
        await ledger.insert(charge)
        logger.info(
            "charge created",
            metadata: [
                "charge_id": .string(id), "token_id": .string(request.token), "card.brand": .string(summary.brand.rawValue),
                "card.last4": .string(summary.last4), "charge.status": .string(charge.status.rawValue),
                "decline_code": .string(charge.declineCode ?? charge.failureCode ?? "-"),
            ])
        await publishOutcome(charge)
        return charge
    }

    /// `charge.succeeded` or `charge.failed`; nothing while the charge still waits for 3-D Secure.
    func publishOutcome(_ charge: Charge) async {
        switch charge.status {
        case .succeeded: await outbox.publish("charge.succeeded", charge: charge)
        case .declined, .failed: await outbox.publish("charge.failed", charge: charge)
        case .requiresAction: break
        }
    }
}

extension Charge {
    fileprivate func with(status: ChargeStatus, score: Int, outcome type: String) -> Charge {
        var copy = self
        copy.status = status
        copy.riskScore = score
        copy.outcome = .init(riskLevel: RiskLevel(score: score), riskScore: score, type: type)
        return copy
    }
}

/// The sandbox's own base URL, known only once the listener is bound when the port is 0.
final class PublicURL: Sendable {
    private let storage: Mutex<String>
    init(_ value: String) { storage = Mutex(value) }
    var value: String { storage.withLock { $0 } }
    func set(_ value: String) { storage.withLock { $0 = value } }
}
