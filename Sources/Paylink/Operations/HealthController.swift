import Foundation
import HTTPTypes
import Hummingbird

/// Liveness, readiness and metrics for orchestrators and Prometheus. Unauthenticated and
/// free of secrets; bind the listener to a private address if metrics must stay internal.
struct HealthController: Sendable {
    let store: any PaylinkStore
    let metrics: PaylinkMetrics

    func addRoutes(to router: Router<PaylinkRequestContext>) {
        router.get("healthz") { _, _ in Self.json(#"{"status":"ok"}"#, status: .ok) }
        router.get("readyz") { _, _ in
            do {
                try await store.checkReady()
                return Self.json(#"{"status":"ready","database":"ok","migrations":"applied"}"#, status: .ok)
            } catch {
                return Self.json(#"{"status":"not_ready","database":"unavailable"}"#, status: .serviceUnavailable)
            }
        }
        router.get("metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
    }

    static func json(_ text: String, status: HTTPResponse.Status) -> Response {
        LinksController.json(Data(text.utf8), status: status)
    }
}
