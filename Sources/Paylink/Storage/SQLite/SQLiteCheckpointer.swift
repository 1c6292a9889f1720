import GRDB
import Logging
import ServiceLifecycle

/// Copies the SQLite WAL into the database file in the background, so no request waits for all of it.
///
/// SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000 pages:
/// that create waited 15–20 ms for the copy and its fsyncs, every ~70th create, which set the
/// p99 of event latency. While this service runs, the writer's automatic checkpoint is off
/// (`wal_autocheckpoint=0`) and every `interval` it checkpoints in two steps:
///
/// 1. A PASSIVE checkpoint on a connection of its own copies what the WAL holds so far. It
///    never takes the write lock, so writers keep committing meanwhile. (The pool's readers
///    are read-only connections and cannot checkpoint.)
/// 2. If writes arrived during step 1, a PASSIVE checkpoint on the writer's own connection
///    copies just those frames. Nothing can commit in between, so afterwards the whole log is
///    in the database file and the writer's next transaction starts the WAL again from its
///    beginning. Without this step a steady stream of writes always keeps a few frames ahead
///    of the background copy, and the log is never restarted: it grew by 100 MB in 5 s of
///    creates. Step 2 holds writes for one short copy and its two fsyncs, not the full one.
///
/// WAL size: restarting reuses the file (overwriting it, which also keeps a commit's fsync
/// cheaper than appending), so it stays at about one interval of writes. `journal_size_limit`
/// cuts it back to 64 MiB after a burst (readers pinning old frames) made it larger. No
/// TRUNCATE checkpoint: it waits for writers, and an emptied file makes the next commits append.
///
/// Only the process that serves runs it; one-shot CLI commands and tests that open a store
/// without its services keep SQLite's automatic checkpoint. When the service stops, it turns
/// the automatic checkpoint back on.
final class SQLiteCheckpointer: Service, CustomStringConvertible {
    private let pool: DatabasePool
    private let interval: Duration
    private let logger: Logger

    /// The size the writer trims the WAL back to after it has restarted the log.
    static let journalSizeLimit = 64 * 1024 * 1024
    /// SQLite's default `wal_autocheckpoint`, restored when the service stops.
    static let automaticCheckpointPages = 1000

    var description: String { "SQLiteCheckpointer" }

    init(store: SQLiteStore, interval: Duration = .milliseconds(200), logger: Logger) {
        self.pool = store.pool
        self.interval = interval
        self.logger = logger
    }

    func run() async throws {
        // A read-write connection of its own: the pool's readers are read-only and cannot
        // checkpoint, and the writer's queue would hold every write for the copy's duration.
        var configuration = Configuration()
        configuration.label = "paylink.checkpointer"
        // The checkpoint fsyncs the WAL before copying and the database file after.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let connection = try DatabaseQueue(path: pool.path, configuration: configuration)
        try await pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_size_limit = \(Self.journalSizeLimit)")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
        }
        try? await cancelWhenGracefulShutdown {
            // The log's (frames, copied) after the last round, to tell an idle log from a busy one.
            var last = (frames: -1, copied: -1)
            while true {
                try await Task.sleep(for: self.interval)
                do {
                    // Cheap when there is nothing to copy: no I/O beyond reading the WAL index.
                    let seen = try await connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                    // Step 1 cannot see frames committed while it ran; step 2 can, and copies
                    // nothing (no I/O) if there were none.
                    if seen != last || seen.checkpointedFrameCount < seen.walFrameCount {
                        let after = try await self.pool.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                        last = (after.walFrameCount, after.checkpointedFrameCount)
                    }
                } catch is CancellationError {
                    throw CancellationError()
                } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
                    // Another process's checkpointer (a CLI command) is copying right now.
                } catch {
                    self.logger.warning("WAL checkpoint failed; will retry", metadata: ["error.type": "\(type(of: error))"])
                }
            }
        }
        // One last copy, so a clean shutdown leaves little WAL to replay; then whoever keeps
        // the store open gets SQLite's automatic checkpoint back. In a task of its own, so it
        // also runs when this one was cancelled (a one-shot runtime's `close()`).
        let pool = self.pool
        await Task {
            try? await connection.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
            try? await pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.automaticCheckpointPages)")
            }
        }.value
    }
}
