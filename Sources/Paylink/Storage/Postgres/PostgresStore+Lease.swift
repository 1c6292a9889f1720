import NIOCore
import PostgresNIO
import Synchronization

/// Leasing a connection so that a lost or stalled database costs a request a prompt 503, never a hang.
///
/// Three waits are bounded:
/// - Waiting for a connection gives up after `timeout` (the database is down and the pool is
///   reconnecting).
/// - Work on a leased connection has a deadline: `queryTimeout` (30 s by default; generous, so
///   ordinary load and lock queues are not shed), `timeout` for `/readyz`'s query, none for
///   migrations (a schema change may rightly take long). A server that stops answering without
///   closing (its processes stopped, a black-holed network) used to hold requests and `/readyz`
///   for as long as it stayed silent. At the deadline the connection is closed, so PostgreSQL
///   rolls back whatever had not committed when it sees the close, and the request answers 503.
///   The outcome of a write whose COMMIT was already on its way is unknown, as with any lost
///   connection: that is what `Idempotency-Key` is for.
/// - Work on a connection that has closed is given up on: postgres-nio 1.33.2 writes each query
///   with `promise: nil` (`PostgresConnection.query`, PostgresConnection.swift:471), so a query
///   written after a closed channel's handlers are gone is dropped and its `await` never returns,
///   cancelled or not (vapor/postgres-nio#487, reverted by #501). The pool can hand out a
///   connection in that state: it hears of the close one event-loop tick after the channel went
///   inactive.
extension PostgresStore {
    /// How long work on a connection that closed may still finish by itself before it is abandoned.
    /// Queries on a closed connection normally fail at once; this only covers the dropped ones.
    static let connectionLossGrace: Duration = .seconds(1)

    /// Runs `body` on a leased connection: the wait for one is bounded by `timeout`, the work on
    /// it by `deadline` (nil for migrations).
    func withLease<T: Sendable>(deadline: Duration?, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let leased = LeaseFlag()
        let timeout = self.timeout
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await self.client.withConnection { connection in
                    leased.set()
                    return try await self.untilConnectionLost(connection, deadline: deadline, body)
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            var timedOut = false
            do {
                while let result = try await group.next() {
                    if let result {
                        group.cancelAll()
                        return result
                    }
                    // The timer: withdraw the lease request. A lease granted meanwhile runs to its end.
                    timedOut = !leased.isSet
                    if timedOut { group.cancelAll() }
                }
            } catch {
                group.cancelAll()
                if leased.isSet { throw error }
                if timedOut { throw StoreError.unavailable("no database connection within \(timeout)") }
                if Task.isCancelled { throw CancellationError() }
                // The pool refused before any lease: circuit breaker open, or the pool is closed.
                throw StoreError.unavailable("database connection failed")
            }
            throw CancellationError()
        }
    }

    /// Runs `body` in a task of its own and waits for it, for `deadline` to pass (then the
    /// connection is closed), or for its connection to close and `connectionLossGrace` to pass.
    /// Work stuck on a dropped query is left behind (one suspended task per such loss) rather
    /// than holding up a request or shutdown forever.
    private func untilConnectionLost<T: Sendable>(
        _ connection: PostgresConnection, deadline: Duration?, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let outcome = Outcome<T>()
        let grace = TimeAmount(Self.connectionLossGrace)
        let eventLoop = connection.closeFuture.eventLoop
        return try await withCheckedThrowingContinuation { continuation in
            outcome.install(continuation)
            let token = closedConnections.watch(connection) {
                eventLoop.scheduleTask(in: grace) {
                    outcome.resume(with: .failure(StoreError.unavailable("database connection lost")))
                }
            }
            // Only if the work has not finished (a callback already picked up to run cannot be
            // cancelled, and the connection may be back in the pool by then). Close first, and
            // answer once it is closed, so the pool, which watches the same close, never lends
            // the connection out again half-way through this transaction.
            let timer = deadline.map { deadline in
                eventLoop.scheduleTask(in: TimeAmount(deadline)) {
                    guard let waiting = outcome.take() else { return }
                    let closing: EventLoopFuture<Void> = connection.close()
                    closing.whenComplete { _ in
                        waiting.resume(throwing: StoreError.unavailable("database did not answer within \(deadline)"))
                    }
                }
            }
            Task {
                let result: Result<T, any Error>
                do { result = .success(try await body(connection)) } catch { result = .failure(error) }
                timer?.cancel()
                self.closedConnections.unwatch(connection.id, token)
                outcome.resume(with: result)
            }
        }
    }
}

/// Calls back everyone working on a connection once it has closed. One `closeFuture` callback
/// per connection rather than per lease, so a long-lived connection does not collect closures.
final class ClosedConnectionWatch: Sendable {
    private struct State {
        var watched: Set<PostgresConnection.ID> = []
        var waiting: [PostgresConnection.ID: [Int: @Sendable () -> Void]] = [:]
        var nextToken = 0
    }
    private let state = Mutex(State())

    /// Calls `onClose` when `connection` closes (at once if it already has), until `unwatch`.
    func watch(_ connection: PostgresConnection, onClose: @escaping @Sendable () -> Void) -> Int {
        let id = connection.id
        let (token, firstSight) = state.withLock { state in
            state.nextToken += 1
            state.waiting[id, default: [:]][state.nextToken] = onClose
            return (state.nextToken, state.watched.insert(id).inserted)
        }
        if firstSight {
            connection.closeFuture.whenComplete { _ in self.closed(id) }
        }
        return token
    }

    func unwatch(_ id: PostgresConnection.ID, _ token: Int) {
        state.withLock { _ = $0.waiting[id]?.removeValue(forKey: token) }
    }

    private func closed(_ id: PostgresConnection.ID) {
        let callbacks = state.withLock { state in
            state.watched.remove(id)
            return state.waiting.removeValue(forKey: id)?.values.map { $0 } ?? []
        }
        for callback in callbacks { callback() }
    }
}

/// The first of the work's result and the connection-loss failure resumes the waiting request.
private final class Outcome<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func install(_ waiting: CheckedContinuation<T, any Error>) {
        continuation.withLock { $0 = waiting }
    }

    func resume(with result: Result<T, any Error>) {
        take()?.resume(with: result)
    }

    /// The waiting request, once: whoever takes it answers it.
    func take() -> CheckedContinuation<T, any Error>? {
        continuation.withLock { $0.take() }
    }
}

/// Whether a lease was granted; set once from the leasing task, read by the timer.
final class LeaseFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
