import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// Sends the outbox's events to the webhook URL, signed with `Stripe-Signature`, retrying
/// non-2xx answers and connection failures with doubling backoff up to `webhookMaxAttempts`.
///
/// A `Service`: on graceful shutdown it stops taking jobs and abandons pending deliveries
/// (a sandbox keeps nothing across restarts anyway).
struct WebhookDeliveryService: Service {
    let outbox: WebhookOutbox
    let configuration: SandboxPSPConfiguration
    let logger: Logger

    func run() async throws {
        guard configuration.sendsWebhooks else {
            // Nothing to send to: wait for shutdown so the service group stays simple.
            try? await gracefulShutdown()
            return
        }
        let client: HTTPClient
        let ownsClient: Bool
        if let roots = configuration.webhookTrustRootsPath {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(roots)
            tls.minimumTLSVersion = .tlsv12
            client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
            ownsClient = true
        } else {
            client = HTTPClient.shared
            ownsClient = false
        }
        await withDiscardingTaskGroup { group in
            for await job in outbox.jobs.cancelOnGracefulShutdown() {
                group.addTask { await perform(job, client: client) }
            }
            group.cancelAll()
        }
        if ownsClient { try? await client.shutdown() }
    }

    private func perform(_ job: WebhookOutbox.Job, client: HTTPClient) async {
        switch job {
        case .send(let events, let delay):
            guard (try? await Task.sleep(for: delay)) != nil else { return }
            for event in events { await deliver(event, client: client) }
        case .releaseHeld(let chargeID, let eventID, let hold):
            guard (try? await Task.sleep(for: hold)) != nil else { return }
            if let event = await outbox.takeHeld(chargeID: chargeID, eventID: eventID) {
                await deliver(event, client: client)
            }
        }
    }

    /// One event, with retries; gives up after `webhookMaxAttempts`.
    private func deliver(_ event: WebhookEvent, client: HTTPClient) async {
        var metadata: Logger.Metadata = ["event_id": .string(event.id), "event.type": .string(event.type), "charge_id": .string(event.chargeID)]
        var backoff = configuration.webhookRetryBase
        for attempt in 1...max(1, configuration.webhookMaxAttempts) {
            metadata["attempt"] = .stringConvertible(attempt)
            // Asked afresh each attempt: an embedding host may learn its own port only after we start.
            if let url = configuration.currentWebhookURL() {
                if await send(event, to: url, client: client, metadata: &metadata) { return }
                if Task.isCancelled { return }
            } else {
                metadata["error.type"] = "no webhook URL yet"
            }
            guard attempt < configuration.webhookMaxAttempts else { break }
            logger.notice("webhook attempt failed; retrying", metadata: metadata)
            guard (try? await Task.sleep(for: backoff)) != nil else { return }
            backoff *= 2
        }
        logger.warning("webhook given up", metadata: metadata)
    }

    /// One signed POST; true when the receiver answered 2xx. A cancelled task's failure is
    /// reported as failure too; the backoff sleep that follows then ends the delivery.
    private func send(_ event: WebhookEvent, to url: String, client: HTTPClient, metadata: inout Logger.Metadata) async -> Bool {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Paylink-SandboxPSP/1.0")
        // Signed at send time, like Stripe: a retry or duplicate carries a fresh timestamp.
        request.headers.add(name: StripeSignature.headerName, value: StripeSignature.header(payload: event.body, secret: configuration.webhookSecret))
        request.body = .bytes(ByteBuffer(bytes: event.body))
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            if (200..<300).contains(response.status.code) {
                logger.info("webhook delivered", metadata: metadata)
                return true
            }
            metadata["http.status"] = .stringConvertible(response.status.code)
        } catch {
            metadata["error.type"] = .string(String(describing: type(of: error)))
        }
        return false
    }
}
