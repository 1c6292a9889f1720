import Foundation
import HTTPTypes
import Hummingbird
import Prometheus
import Synchronization

/// The service's Prometheus metrics, kept in a registry owned by the application (not the
/// process-global MetricsSystem), so several applications in one test process never mix counts.
public final class PaylinkMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let openStreams: Gauge
    private let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
    ]

    public init() {
        openStreams = registry.makeGauge(name: "paylink_sse_open_streams", help: "Server-Sent Events streams currently open")
    }

    private struct RequestKey: Hashable {
        let route: String
        let method: String
        let status: Int
    }
    /// The registry hands out one instance per name and labels; keeping them saves building the
    /// label arrays and looking them up under the registry's lock on every request.
    private let requestSeries = Mutex<[RequestKey: (count: Counter, duration: DurationHistogram)]>([:])

    func recordRequest(route: String, method: String, status: Int, duration: Duration) {
        let series = Self.series(requestSeries, RequestKey(route: route, method: method, status: status)) {
            (
                count: registry.makeCounter(
                    name: "paylink_http_requests_total", labels: [("route", route), ("method", method), ("status", String(status))],
                    help: "HTTP requests by route template, method and status"),
                duration: registry.makeDurationHistogram(
                    name: "paylink_http_request_duration_seconds", labels: [("route", route), ("method", method)],
                    buckets: latencyBuckets, help: "Time to produce the response head, by route template")
            )
        }
        series.count.increment()
        series.duration.record(duration)
    }

    private let appendedSeries = Mutex<[String: Counter]>([:])

    func recordAppended(_ events: [Event]) {
        for event in events {
            let type = event.type.rawValue
            Self.series(appendedSeries, type) {
                registry.makeCounter(
                    name: "paylink_events_appended_total", labels: [("type", type)], help: "Events appended to the log, by type")
            }.increment()
        }
    }

    /// The series kept for `key`, made (and kept) the first time it is asked for.
    private static func series<Key: Hashable & Sendable, Series: Sendable>(
        _ kept: borrowing Mutex<[Key: Series]>, _ key: Key, make: () -> sending Series
    ) -> Series {
        kept.withLock { kept in
            if let known = kept[key] { return known }
            let made = make()
            kept[key] = made
            return made
        }
    }

    /// The text exposition format.
    public func exposition() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

/// Counts and times every request by its route template (`/v1/links/{id}`, never the raw path,
/// so ids do not explode label cardinality).
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = PaylinkRequestContext
    let metrics: PaylinkMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let route = context.endpointPath ?? "unmatched"
        metrics.recordRequest(
            route: route, method: request.method.rawValue, status: response.status.code, duration: start.duration(to: .now))
        return response
    }
}
