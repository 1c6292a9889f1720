import Foundation
import Logging
import ServiceLifecycle

/// Background work of the payment flow, from the database rather than timers in memory so it
/// survives restarts and is safe on several instances (each step re-checks under the link's
/// row lock, and a charge retry reuses the payment id as the PSP idempotency key):
/// - `link.stalled` for links opened and then quiet for `stallAfter`;
/// - asking the PSP about attempts with no outcome after `reconcileAfter` (a dropped webhook,
///   a crash or timeout mid-charge).
struct PaymentWatcher: Service, CustomStringConvertible {
    let payments: PaymentService
    let store: any PaylinkStore
    let clock: any WallClock
    let interval: Duration
    /// The first pass waits for the migrations (`PaylinkRuntime.prepare()`).
    let started: StartupGate
    let logger: Logger

    var description: String { "PaymentWatcher" }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await started.wait()
            while true {
                try await Task.sleep(for: interval)
                await sweep()
            }
        }
    }

    func sweep() async {
        let now = clock.now()
        do {
            let quietSince = now.addingTimeInterval(-payments.settings.stallAfter.seconds)
            for id in try await store.linksToMarkStalled(lastActivityBefore: quietSince, limit: 100)
            where try await payments.markStalledIfQuiet(id) {
                logger.info("link stalled", metadata: ["link_id": .string(id.rawValue), "event": "link.stalled"])
            }
            let staleSince = now.addingTimeInterval(-payments.settings.reconcileAfter.seconds)
            for (payment, link) in try await store.paymentsAwaitingOutcome(updatedBefore: staleSince, limit: 20) {
                do {
                    try await payments.reconcile(payment, of: link)
                } catch {
                    logger.notice(
                        "reconcile failed; will retry", metadata: ["payment_id": .string(payment.rawValue), "error.type": "\(type(of: error))"])
                }
            }
        } catch is CancellationError {
            return
        } catch {
            logger.warning("payment watcher pass failed; will retry", metadata: ["error.type": "\(type(of: error))"])
        }
    }
}
