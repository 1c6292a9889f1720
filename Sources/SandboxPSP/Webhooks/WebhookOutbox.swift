import Foundation
import Logging

/// A Stripe-shaped event: `{id, object: "event", type, created, livemode, data: {object: <charge>}}`.
struct WebhookEvent: Sendable {
    let id: String
    let type: String
    let chargeID: String
    /// The exact bytes that are signed and sent; duplicates reuse them.
    let body: Data

    private struct Envelope: Encodable {
        struct Payload: Encodable { let object: Charge }
        let id: String
        let object = "event"
        let type: String
        let created: Int
        let livemode = false
        let data: Payload
    }

    init(type: String, charge: Charge, now: Date = Date()) throws {
        self.id = SandboxID.make("evt_")
        self.type = type
        self.chargeID = charge.id
        self.body = try JSONResponse.encode(Envelope(id: id, type: type, created: Int(now.timeIntervalSince1970), data: .init(object: charge)))
    }
}

/// Decides what is sent, when and in which order, per `WebhookMode`; `WebhookDeliveryService`
/// does the sending. Separate so the ordering rules are readable in one place.
actor WebhookOutbox {
    /// Work for the delivery service.
    enum Job: Sendable {
        /// Send these events one after the other, after `delay`.
        case send([WebhookEvent], after: Duration)
        /// After `after`, send the charge's held event if no later event released it meanwhile.
        case releaseHeld(chargeID: String, eventID: String, after: Duration)
    }

    let jobs: AsyncStream<Job>
    private let continuation: AsyncStream<Job>.Continuation
    private let delay: Duration
    private let reverseHold: Duration
    private let defaultMode: WebhookMode
    private let enabled: Bool
    private let logger: Logger
    /// `reverse` mode: the event waiting for its charge's next one.
    private var held: [String: WebhookEvent] = [:]

    init(configuration: SandboxPSPConfiguration, logger: Logger) {
        (jobs, continuation) = AsyncStream.makeStream(of: Job.self)
        delay = configuration.webhookDelay
        reverseHold = configuration.webhookReverseHold
        defaultMode = configuration.webhookMode
        enabled = configuration.sendsWebhooks
        self.logger = logger
    }

    /// Queues the event for `charge`'s outcome (`charge.succeeded`, `charge.failed`, `charge.refunded`).
    func publish(_ type: String, charge: Charge) {
        guard enabled else { return }
        let event: WebhookEvent
        do { event = try WebhookEvent(type: type, charge: charge) } catch {
            logger.error("could not encode webhook event", metadata: ["charge_id": .string(charge.id), "event.type": .string(type)])
            return
        }
        let mode = charge.webhookMode(default: defaultMode)
        let metadata: Logger.Metadata = [
            "event_id": .string(event.id), "event.type": .string(type), "charge_id": .string(charge.id), "webhook.mode": .string(mode.rawValue),
        ]
        switch mode {
        case .normal:
            continuation.yield(.send([event], after: delay))
        case .duplicate:
            continuation.yield(.send([event, event], after: delay))
        case .drop:
            logger.info("webhook dropped on purpose", metadata: metadata)
        case .reverse:
            if let earlier = held.removeValue(forKey: charge.id) {
                // The later event goes first, then the one that was waiting.
                continuation.yield(.send([event, earlier], after: delay))
            } else {
                held[charge.id] = event
                continuation.yield(.releaseHeld(chargeID: charge.id, eventID: event.id, after: reverseHold))
            }
        }
    }

    /// The held event, if it is still `eventID` (a later event may have taken it already).
    func takeHeld(chargeID: String, eventID: String) -> WebhookEvent? {
        guard held[chargeID]?.id == eventID else { return nil }
        return held.removeValue(forKey: chargeID)
    }

    func finish() { continuation.finish() }
}
