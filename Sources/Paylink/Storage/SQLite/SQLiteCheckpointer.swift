import GRDB
import GRDBSQLite
import Logging
import ServiceLifecycle
import Synchronization

/// Copies the SQLite WAL into the database file in the background, so no request waits for all of it.
///
/// SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000 pages:
/// that create waited 15–20 ms for the copy and its fsyncs, every ~70th create, which set the
/// p99 of event latency. While this service runs, the writer's automatic checkpoint is off
/// (`wal_autocheckpoint=0`; a WAL hook on the writer only counts the log's frames instead),
/// and every `interval` it looks at that count. It checkpoints when at least `batchFrames`
/// frames have been committed since the last checkpoint, or when some are left over and
/// nothing was committed for a whole interval (idle: copy the rest now), in two steps:
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
/// Why in batches of frames, not on every tick: step 1 ends with an fsync of the database
/// file, and a commit's WAL fsync issued meanwhile waits for it on the same disk (measured:
/// 5–8 ms instead of 0.7 ms). Checkpointing every 200 ms made that the p99 of a create under a
/// steady trickle of writes; batching makes it rare, and a bigger batch copies each hot page
/// (the right-most leaf of an index) once instead of once per tick.
///
/// WAL size: restarting reuses the file (overwriting it, which also keeps a commit's fsync
/// cheaper than appending), so it stays at about one batch of writes. `journal_size_limit`
/// cuts it back to 64 MiB after a burst (readers pinning old frames) made it larger. No
/// TRUNCATE checkpoint: it waits for writers, and an emptied file makes the next commits append.
///
/// Only the process that serves runs it; one-shot CLI commands and tests that open a store
/// without its services keep SQLite's automatic checkpoint. When the service stops, it turns
/// the automatic checkpoint back on.
final class SQLiteCheckpointer: Service, CustomStringConvertible {
    private let pool: DatabasePool
    private let interval: Duration
    private let batchFrames: Int
    private let logger: Logger
    private let walFrames = WALFrameCounter()

    /// The size the writer trims the WAL back to after it has restarted the log.
    static let journalSizeLimit = 64 * 1024 * 1024
    /// SQLite's default `wal_autocheckpoint`, restored when the service stops.
    static let automaticCheckpointPages = 1000

    var description: String { "SQLiteCheckpointer" }

    /// Frames (4 KiB pages) committed since the last checkpoint that start the next one: 16 MiB.
    static let defaultBatchFrames = 4096

    init(store: SQLiteStore, interval: Duration = .milliseconds(200), batchFrames: Int = defaultBatchFrames, logger: Logger) {
        self.pool = store.pool
        self.interval = interval
        self.batchFrames = batchFrames
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
        let walFrames = self.walFrames
        try await pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_size_limit = \(Self.journalSizeLimit)")
            // Turns SQLite's own hook off; ours, installed after, only counts.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            walFrames.install(on: db)
        }
        try? await cancelWhenGracefulShutdown {
            // Frames committed (the hook's running total) when the last round started, and at the last tick.
            var atLastRound = walFrames.committed
            var atLastTick = atLastRound
            while true {
                try await Task.sleep(for: self.interval)
                let committed = walFrames.committed
                let pending = committed - atLastRound
                let idle = committed == atLastTick
                atLastTick = committed
                guard pending >= self.batchFrames || (pending > 0 && idle) else { continue }
                do {
                    let seen = try await connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                    // Only a round that ran counts: a busy or failed one is tried again next tick.
                    atLastRound = committed
                    // Step 1 cannot see frames committed while it ran; step 2 can, and copies
                    // nothing (no I/O) if there were none.
                    if seen.checkpointedFrameCount < seen.walFrameCount || walFrames.committed != committed {
                        _ = try await self.pool.writeWithoutTransaction { db in try db.checkpoint(.passive) }
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
            // Replaces the counting hook with SQLite's own.
            try? await pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.automaticCheckpointPages)")
            }
        }.value
    }
}

/// Frames the writer has committed to the WAL, a running total kept by SQLite's WAL hook
/// (called on the committing connection after each commit with the log's size in frames;
/// a smaller size than last time means the log was restarted).
final class WALFrameCounter: Sendable {
    private let total = Atomic<Int>(0)
    /// The log size the hook saw last; only the writer's hook touches it.
    private let logSize = Atomic<Int>(0)

    var committed: Int { total.load(ordering: .relaxed) }

    fileprivate func record(logSize size: Int) {
        let previous = logSize.exchange(size, ordering: .relaxed)
        total.add(size >= previous ? size - previous : size, ordering: .relaxed)
    }

    /// Installs the hook on `db`, replacing any (the automatic checkpoint is one). The counter
    /// must outlive the connection's use of it: the checkpointer owns it for the service's
    /// life, and `PRAGMA wal_autocheckpoint` replaces the hook when the service stops.
    func install(on db: Database) {
        let hook: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?, Int32) -> Int32 = { context, _, _, frames in
            if let context { Unmanaged<WALFrameCounter>.fromOpaque(context).takeUnretainedValue().record(logSize: Int(frames)) }
            return SQLITE_OK
        }
        sqlite3_wal_hook(db.sqliteConnection, hook, Unmanaged.passUnretained(self).toOpaque())
    }
}
