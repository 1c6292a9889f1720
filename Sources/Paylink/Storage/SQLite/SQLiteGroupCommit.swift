import GRDB
import Synchronization

/// Group commit for the embedded store: concurrent write transactions that arrive while one
/// commit is being fsynced are run together in the next transaction and all are acknowledged
/// after that one commit.
///
/// With `synchronous=FULL` every commit costs an fsync, so committing one request at a time
/// caps writes at the disk's fsync rate. Batching keeps the guarantee (nobody is told "done"
/// before their write is on disk) while sharing the fsync. A failing job loses only its own
/// changes; the others still commit (see `commit(_:in:savepoints:)`).
final class SQLiteGroupCommit: Sendable {
    private struct Job: Sendable {
        let body: @Sendable (Database) throws -> any Sendable
        let continuation: CheckedContinuation<any Sendable, any Error>
    }

    private struct State {
        var queue: [Job] = []
        var draining = false
    }

    private let pool: DatabasePool
    private let state = Mutex(State())
    private let retries = Atomic<Int>(0)
    /// Largest batch, so one transaction never grows without bound under load.
    static let maximumBatch = 256

    init(pool: DatabasePool) { self.pool = pool }

    /// Batches rolled back and run again with savepoints because a job threw after changing rows.
    var savepointRetries: Int { retries.load(ordering: .relaxed) }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let result = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<any Sendable, any Error>) in
            let lead = state.withLock { state in
                state.queue.append(Job(body: { try body($0) }, continuation: continuation))
                if state.draining { return false }
                state.draining = true
                return true
            }
            // The drain runs on the writer's own queue: no task to start and no hop per batch.
            if lead { pool.asyncWriteWithoutTransaction { db in self.drain(db) } }
        }
        return result as! T
    }

    /// Runs `body` in a savepoint: kept if it returns, rolled back if it throws (its error is
    /// the outcome). Throws only if SQLite cannot roll back, which fails the whole batch.
    /// The statements are prepared once (GRDB's `inSavepoint` parses its SQL on every call,
    /// ≈ 6 % of a create's CPU).
    private static func inSavepoint(_ db: Database, _ body: () throws -> any Sendable) throws -> Result<any Sendable, any Error> {
        try db.cachedStatement(sql: "SAVEPOINT paylink_job").execute()
        do {
            let value = try body()
            try db.cachedStatement(sql: "RELEASE SAVEPOINT paylink_job").execute()
            return .success(value)
        } catch {
            try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT paylink_job").execute()
            try db.cachedStatement(sql: "RELEASE SAVEPOINT paylink_job").execute()
            return .failure(error)
        }
    }

    /// Runs a batch in one IMMEDIATE transaction and commits it; nil if it rolled back to be run
    /// again with savepoints.
    ///
    /// Without savepoints, a job that throws is still isolated if it changed no row before it
    /// threw: SQLite undoes a failed statement itself and adds nothing to `total_changes` for
    /// it, so the database is as the job found it. That is how nearly every failure looks (not
    /// found, a refused claim, a duplicate receipt). A job that throws after it changed rows, or
    /// an error that ended the transaction, rolls the whole batch back: it is run again with a
    /// savepoint around each job. Savepoints on every job cost more than the inserts they
    /// guard: each copies every page it touches into the sub-journal first.
    private static func commit(_ jobs: [Job], in db: Database, savepoints: Bool) throws -> [Result<any Sendable, any Error>]? {
        var outcomes: [Result<any Sendable, any Error>] = []
        outcomes.reserveCapacity(jobs.count)
        var isolated = true
        try db.inTransaction(.immediate) {
            for job in jobs {
                if savepoints {
                    outcomes.append(try Self.inSavepoint(db) { try job.body(db) })
                    continue
                }
                let changes = db.totalChangesCount
                do {
                    outcomes.append(.success(try job.body(db)))
                } catch {
                    guard db.totalChangesCount == changes, db.isInsideTransaction else {
                        isolated = false
                        return .rollback
                    }
                    outcomes.append(.failure(error))
                }
            }
            return .commit
        }
        return isolated ? outcomes : nil
    }

    /// Commits queued jobs batch by batch until the queue is empty. On the writer's queue.
    private func drain(_ db: Database) {
        while true {
            let jobs: [Job] = state.withLock { state in
                let batch = Array(state.queue.prefix(Self.maximumBatch))
                state.queue.removeFirst(batch.count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            if jobs.isEmpty { return }
            do {
                var outcomes = try Self.commit(jobs, in: db, savepoints: false)
                if outcomes == nil {
                    retries.add(1, ordering: .relaxed)
                    outcomes = try Self.commit(jobs, in: db, savepoints: true)
                }
                for (job, outcome) in zip(jobs, outcomes!) { job.continuation.resume(with: outcome) }
            } catch {
                // The commit itself failed: nothing in this batch is durable.
                for job in jobs { job.continuation.resume(throwing: error) }
            }
        }
    }
}
