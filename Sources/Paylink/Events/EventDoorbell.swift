import Foundation
import ServiceLifecycle
import Synchronization

/// Wakes live streams when events were committed. It carries no events: a woken stream reads
/// what it missed from the event table, which stays the only source of truth. A lost or
/// merged ring therefore costs nothing, and each subscriber buffers at most one wake-up, so a
/// slow client can never make the server hold an unbounded queue for it.
///
/// Runs as a `Service`: it also ticks heartbeats, and on graceful shutdown it ends every
/// subscription so open streams close cleanly instead of holding the server open.
public final class EventDoorbell: Service, Sendable {
    public enum Wake: Sendable { case events, heartbeat }

    public struct Subscription: Sendable {
        public let wakes: AsyncStream<Wake>
        let id: Int
    }

    private struct State {
        var nextID = 0
        var subscribers: [Int: AsyncStream<Wake>.Continuation] = [:]
        var closed = false
    }

    private let state = Mutex(State())
    let heartbeatInterval: Duration

    private let onAppend: @Sendable ([Event]) -> Void

    public init(heartbeatInterval: Duration = .seconds(15), onAppend: @escaping @Sendable ([Event]) -> Void = { _ in }) {
        self.heartbeatInterval = heartbeatInterval
        self.onAppend = onAppend
    }

    public func subscribe() -> Subscription {
        let (stream, continuation) = AsyncStream.makeStream(of: Wake.self, bufferingPolicy: .bufferingNewest(1))
        let id: Int? = state.withLock { state in
            guard !state.closed else { return nil }
            state.nextID += 1
            state.subscribers[state.nextID] = continuation
            return state.nextID
        }
        guard let id else {
            continuation.finish()
            return Subscription(wakes: stream, id: -1)
        }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id) }
        return Subscription(wakes: stream, id: id)
    }

    public func unsubscribe(_ id: Int) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
    }

    /// Ends one subscription now (its stream is shutting down).
    public func end(_ subscription: Subscription) {
        state.withLock { $0.subscribers.removeValue(forKey: subscription.id) }?.finish()
    }

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Called after a transaction that appended `events` has committed.
    public func ring(appended events: [Event]) {
        onAppend(events)
        broadcast(.events)
    }

    private func broadcast(_ wake: Wake) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for continuation in subscribers { continuation.yield(wake) }
    }

    /// Ends every subscription; later subscriptions end at once.
    public func close() {
        let subscribers = state.withLock { state in
            state.closed = true
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for continuation in subscribers { continuation.finish() }
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: self.heartbeatInterval)
                self.broadcast(.heartbeat)
            }
        }
        close()
    }
}
