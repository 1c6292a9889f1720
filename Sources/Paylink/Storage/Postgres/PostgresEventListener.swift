import Logging
import PostgresNIO
import ServiceLifecycle

/// Rings this instance's doorbell when any instance commits events (`LISTEN paylink_events`).
///
/// The notification is only a doorbell: streams re-read the event table, so a notification
/// lost while the connection was down costs nothing. After a reconnect it rings once anyway,
/// to cover anything committed while it was not listening.
struct PostgresEventListener: Service {
    let store: PostgresStore
    let doorbell: EventDoorbell
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                do {
                    try await store.client.withConnection { connection in
                        try await connection.listen(on: PostgresStore.notificationChannel) { notifications in
                            doorbell.ring(appended: [])
                            for try await _ in notifications { doorbell.ring(appended: []) }
                        }
                    }
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("event listener lost its connection; retrying", metadata: ["error.type": "\(type(of: error))"])
                }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}
