import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle

/// A live Server-Sent Events response over the event table (SPEC §4).
///
/// It subscribes to the doorbell *before* its first read, so an event committed between the
/// read and the wait still wakes it; every wake re-reads from the table after the last id
/// sent, so resume is exact: no gap, no duplicate. Reads are pages of `pageSize`, written
/// with back-pressure, so a slow client costs one page of memory, not a growing queue. Before
/// each page it writes, and at each heartbeat, it asks whether the caller's key still works;
/// once it does not, the stream ends without writing anything more.
struct EventStream: Sendable {
    /// Reads the events after a cursor; returns them with the cursor each one resumes from.
    typealias Reader = @Sendable (_ after: Int64, _ limit: Int) async throws -> [(cursor: Int64, event: Event)]
    /// Whether the caller may still read: asked before anything is written after the first page.
    typealias Authorization = @Sendable () async throws -> Bool

    let doorbell: EventDoorbell
    let metrics: PaylinkMetrics
    let logger: Logger
    static let pageSize = 100

    func response(after start: Int64, authorized: @escaping Authorization, read: @escaping Reader) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        let doorbell = self.doorbell
        let metrics = self.metrics
        let logger = self.logger
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                let subscription = doorbell.subscribe()
                metrics.openStreams.increment()
                defer {
                    doorbell.end(subscription)
                    metrics.openStreams.decrement()
                }
                try await withGracefulShutdownHandler {
                    var cursor = start
                    try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                    /// Writes what the caller has not seen yet, a page at a time, asking before each
                    /// page whether the caller may still read it; false once it may not. A store that
                    /// cannot answer (a PostgreSQL failover) is not the client's doing: the stream keeps
                    /// its cursor and tries again at the next wake rather than failing every open stream.
                    func drain() async throws -> Bool {
                        while true {
                            let page: [(cursor: Int64, event: Event)]
                            do {
                                page = try await read(cursor, Self.pageSize)
                                if page.isEmpty { return true }
                                guard try await authorized() else { return false }
                            } catch {
                                logger.warning("event stream could not read; retrying at the next wake", metadata: ["error.type": "\(type(of: error))"])
                                return true
                            }
                            var text = ""
                            for (next, event) in page {
                                text += try EventResource.sseMessage(event, id: String(next))
                                cursor = next
                            }
                            try await writer.write(ByteBuffer(string: text))
                            if page.count < Self.pageSize { return true }
                        }
                    }
                    guard try await drain() else { return }
                    wakes: for await wake in subscription.wakes {
                        switch wake {
                        case .events:
                            guard try await drain() else { break wakes }
                        case .heartbeat:
                            // Heartbeats drain too: a heartbeat can take the place of an events wake
                            // in the one-deep buffer, and the events must not wait for the next one.
                            guard try await drain() else { break wakes }
                            // An idle stream whose key stopped working ends within a heartbeat.
                            if let allowed = try? await authorized(), !allowed { break wakes }
                            try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                        }
                    }
                } onGracefulShutdown: {
                    doorbell.end(subscription)
                }
                try await writer.finish(nil)
            })
    }
}
