import Foundation
import GRDB

/// The embedded default store: one SQLite file in the data directory, in WAL mode.
///
/// Durability: `synchronous=FULL` by default, so every acknowledged write has been fsynced
/// and survives power loss, not only a process crash (NORMAL in WAL can lose the last
/// transactions on power loss). `--sqlite-synchronous normal` trades that for throughput.
public final class SQLiteStore: PaylinkStore {
    public enum Synchronous: String, Sendable, CaseIterable { case normal, full }

    let pool: DatabasePool
    /// A read-only connection of its own for the API-key lookup every request makes (see `credential`).
    let credentialReader: DatabaseQueue
    /// What `credentialReader` read, kept until a credential changes (in any process).
    let credentials: SQLiteCredentialCache
    let doorbell: EventDoorbell?
    let groupCommit: SQLiteGroupCommit

    /// Opens (creating if needed) the database at `path`. Readers never block the writer.
    public convenience init(path: String, synchronous: Synchronous = .full, doorbell: EventDoorbell? = nil) throws {
        try self.init(path: path, synchronous: synchronous, doorbell: doorbell, credentialMaximumAge: SQLiteCredentialCache.defaultMaximumAge)
    }

    /// `credentialMaximumAge`: how long a cached key lookup may be used when no change was
    /// marked (tests lengthen it to show that a marked change alone is seen at once).
    init(path: String, synchronous: Synchronous = .full, doorbell: EventDoorbell? = nil, credentialMaximumAge: Duration) throws {
        // The database holds key digests, sealed secrets and customers' contact details: it is
        // readable by its owner only, whatever the umask or the folder's mode. SQLite gives its
        // -wal and -shm files the database's mode.
        let created = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if created >= 0 {
            close(created)
        } else {
            // One made before this rule (or copied in) others may read is made private too.
            for file in [path, path + "-wal", path + "-shm"] {
                var status = stat()
                if stat(file, &status) == 0 && status.st_mode & 0o077 != 0 { chmod(file, 0o600) }
            }
        }
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // The CLI (`agents create`, `keys rotate`) writes while `serve` runs: wait, don't fail.
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous == .full ? "FULL" : "NORMAL")")
            // SQLite saves every page a savepoint (group commit's fallback) or a multi-row
            // statement changes in a sub-journal first: in a temporary file by default, two
            // `pwrite` calls per page. In memory instead.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            // 16 MiB of page cache per connection instead of 2 MiB: the indexes' hot pages stay
            // in memory rather than being read back with `pread` on every other insert or lookup.
            try db.execute(sql: "PRAGMA cache_size = -16384")
        }
        self.pool = try DatabasePool(path: path, configuration: configuration)
        // GRDB sets synchronous=NORMAL on the writer when it turns WAL on, after prepareDatabase
        // has run: set the chosen mode again on the one connection that writes.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous == .full ? "FULL" : "NORMAL")")
        }
        var readerConfiguration = configuration
        readerConfiguration.readonly = true
        readerConfiguration.label = "paylink.credentials"
        self.credentialReader = try DatabaseQueue(path: path, configuration: readerConfiguration)
        self.credentials = SQLiteCredentialCache(databasePath: path, maximumAge: credentialMaximumAge)
        self.doorbell = doorbell
        self.groupCommit = SQLiteGroupCommit(pool: pool)
    }

    public func migrate() async throws {
        // Each migration runs in its own transaction; a second process waits on the write lock.
        try SQLiteMigrations.migrator.migrate(pool)
    }

    /// The writer's `PRAGMA synchronous` (1 NORMAL, 2 FULL), for tests and diagnostics.
    func writerSynchronous() async throws -> Int {
        try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    public func checkReady() async throws {
        let applied = try await pool.read { db in try SQLiteMigrations.migrator.hasCompletedMigrations(db) }
        guard applied else { throw StoreError.unavailable("migrations are not applied") }
    }

    /// Runs `body` atomically (a savepoint in a group-committed IMMEDIATE transaction: with
    /// several processes on one file, a deferred transaction could fail with SQLITE_BUSY when
    /// it upgrades to a write lock). Returns only after the commit is durable.
    func writeTransaction<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await groupCommit.write(body)
    }
}

extension Date {
    /// Unix seconds, the storage form of every timestamp.
    var unixSeconds: Int64 { Int64(timeIntervalSince1970.rounded(.down)) }
    init(unixSeconds: Int64) { self.init(timeIntervalSince1970: TimeInterval(unixSeconds)) }
}
