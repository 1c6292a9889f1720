import Foundation
import Logging
import ServiceLifecycle

/// Marks open links expired soon after `expires_at` and prunes idempotency records older
/// than 24 h and webhook receipts older than 30 days. It works from the database, not from
/// timers held in memory, so links that expired while the service was down are expired on the
/// first pass after start.
struct LinkExpiryService: Service, CustomStringConvertible {
    let links: LinkService
    let store: any PaylinkStore
    let clock: any WallClock
    let interval: Duration
    /// The first pass waits for the migrations (`PaylinkRuntime.prepare()`).
    let started: StartupGate
    let logger: Logger

    /// The name ServiceLifecycle logs (the synthesized one would dump every field).
    var description: String { "LinkExpiryService" }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await started.wait()
            while true {
                await sweep()
                try await Task.sleep(for: interval)
            }
        }
    }

    /// One pass; public for the start-up catch-up and for tests.
    func sweep() async {
        do {
            while true {
                let due = try await store.linksDueToExpire(asOf: clock.now(), limit: 100)
                for id in due where try await links.expire(id) {
                    logger.info("link expired", metadata: ["link_id": .string(id.rawValue), "event": "link.expired"])
                }
                if due.count < 100 { break }
            }
            _ = try await store.purgeIdempotencyKeys(createdBefore: clock.now().addingTimeInterval(-IdempotencyGate.retention))
            _ = try await store.purgeWebhookReceipts(receivedBefore: clock.now().addingTimeInterval(-WebhookReceipt.retention))
        } catch is CancellationError {
            return
        } catch {
            logger.warning("expiry sweep failed; will retry", metadata: ["error.type": "\(type(of: error))"])
        }
    }
}
