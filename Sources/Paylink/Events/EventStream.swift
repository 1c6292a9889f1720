import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle

/// A live Server-Sent Events response over the event table (SPEC §4).
///
/// It subscribes to the doorbell *before* its first read, so an event committed between the
/// read and the wait still wakes it; every wake re-reads from the table after the last id
/// sent, so resume is exact: no gap, no duplicate. Reads are pages of `pageSize`, written
/// with back-pressure, so a slow client costs one page of memory, not a growing queue. Each
/// wake first asks whether the caller's key still works; once it does not, the stream ends.
struct EventStream: Sendable {
    /// Reads the events after a cursor; returns them with the cursor each one resumes from.
    typealias Reader = @Sendable (_ after: Int64, _ limit: Int) async throws -> [(cursor: Int64, event: Event)]
    /// Whether the caller may still read: asked before anything is written after the first page.
    typealias Authorization = @Sendable () async throws -> Bool

    let doorbell: EventDoorbell
    let metrics: PaylinkMetrics
    static let pageSize = 100

    func response(after start: Int64, authorized: @escaping Authorization, read: @escaping Reader) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        let doorbell = self.doorbell
        let metrics = self.metrics
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
                    func drain() async throws {
                        while true {
                            let page = try await read(cursor, Self.pageSize)
                            guard !page.isEmpty else { return }
                            var text = ""
                            for (next, event) in page {
                                text += try EventResource.sseMessage(event, id: String(next))
                                cursor = next
                            }
                            try await writer.write(ByteBuffer(string: text))
                            if page.count < Self.pageSize { return }
                        }
                    }
                    try await drain()
                    for await wake in subscription.wakes {
                        // A disabled agent's stream ends here, before the next event or heartbeat.
                        guard try await authorized() else { break }
                        switch wake {
                        case .events: try await drain()
                        case .heartbeat: try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                        }
                    }
                } onGracefulShutdown: {
                    doorbell.end(subscription)
                }
                try await writer.finish(nil)
            })
    }
}
