#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// The API-key lookups the embedded store has read, kept until agents or keys change.
///
/// Every API request and every event an open stream writes looks its key up. Read from SQLite,
/// a lookup cost about a tenth of a create's CPU, nearly all of it in the connection's queue
/// and GRDB's row objects, not in the query. The rows it reads change only when an agent is
/// disabled or enabled, and the process that changes them may be another one: `paylink agents
/// disable` opens the same file while `serve` runs. So the cache must hear about changes made
/// anywhere, at once.
///
/// It does through a *change marker*: a small file beside the database holding 8 random bytes.
/// Whoever changes a credential commits first and then writes new random bytes there; each
/// lookup reads the marker (one `pread`) before anything else and uses a cached row only if it
/// was read under the same marker. A row read from the database under marker `m` is at least as
/// new as the moment `m` was read, and any commit after that moment is followed by a new
/// marker, so a cached row is never older than the last change that was completed (committed
/// and marked) before the request arrived. A torn or failed read of the marker only costs a
/// database read.
///
/// A marker deleted or replaced (renamed over) while `serve` runs is noticed on the next
/// lookup (the file it reads has no name left), and from then on that process keeps nothing.
/// Some changes can still go unmarked: a process killed between its commit and its write, a
/// write that fails (another user's CLI without write access; an older `paylink` that does
/// not know the marker). For those, no row is used more than `maximumAge` after it was read.
/// Lookups that find nothing are not kept: unknown keys cannot fill the cache.
final class SQLiteCredentialCache: Sendable {
    typealias Credential = (agent: Agent, digest: Data)

    private struct Entry {
        let agent: Agent
        let digest: Data
        let marker: UInt64
        let readAt: ContinuousClock.Instant
    }

    /// The backstop for a change whose marker was never written.
    static let defaultMaximumAge: Duration = .seconds(1)
    /// Rows kept at most; all are dropped when it is reached. Only existing keys are kept, so
    /// this is reached only with thousands of keys in use at once.
    static let capacity = 4096

    private let maximumAge: Duration
    private let marker: ChangeMarker?
    private let entries = Mutex<[String: Entry]>([:])

    /// The cache for the database at `databasePath`, its marker at `databasePath-credentials`.
    /// Without a readable marker it keeps nothing and every lookup reads the database.
    init(databasePath: String, maximumAge: Duration = defaultMaximumAge) {
        self.maximumAge = maximumAge
        marker = ChangeMarker(path: databasePath + "-credentials")
    }

    /// The cached row for `lookupID`, or `read()`'s, kept for the next lookup.
    func credential(lookupID: String, read: () throws -> Credential?) rethrows -> Credential? {
        guard let marker, let current = marker.read() else { return try read() }
        let now = ContinuousClock.now
        let cached = entries.withLock { $0[lookupID] }
        if let cached, cached.marker == current, now - cached.readAt < maximumAge {
            return (cached.agent, cached.digest)
        }
        guard let credential = try read() else { return nil }
        let entry = Entry(agent: credential.agent, digest: credential.digest, marker: current, readAt: now)
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[lookupID] = entry
        }
        return credential
    }

    /// Tells every process's cache that credentials changed. Call after the change committed.
    func changed() {
        entries.withLock { $0.removeAll(keepingCapacity: true) }
        marker?.write()
    }
}

/// Eight random bytes in a file, rewritten to say "something changed" to every process that
/// has the file open. Random rather than counted, so concurrent writers need no lock: any new
/// value differs from every earlier one with certainty for practical purposes.
private final class ChangeMarker: Sendable {
    private let descriptor: Int32

    /// Opens (creating if needed, owner-only) the marker; nil if it cannot be opened.
    init?(path: String) {
        // Not through a symbolic link: a CLI run as root would otherwise write 8 bytes into
        // whatever file one planted here names.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { return nil }
        self.descriptor = descriptor
        // Nobody else may write it back to an old value: owner-only, whatever it was made with.
        var status = stat()
        if fstat(descriptor, &status) == 0 && status.st_mode & 0o077 != 0 { fchmod(descriptor, 0o600) }
        if read() == nil { write() }
        // Closed by `deinit`, which also runs when this returns nil.
        guard read() != nil else { return nil }
    }

    deinit { close(descriptor) }

    /// Nil if unreadable, or if the file was deleted or replaced since it was opened: others
    /// now write a file this process no longer sees, so its value says nothing.
    func read() -> UInt64? {
        var value: UInt64 = 0
        let count = withUnsafeMutableBytes(of: &value) { pread(descriptor, $0.baseAddress, 8, 0) }
        guard count == 8 else { return nil }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_nlink > 0 else { return nil }
        return value
    }

    func write() {
        var value: UInt64 = 0
        withUnsafeMutableBytes(of: &value) { SecureRandom.fill($0) }
        _ = withUnsafeBytes(of: &value) { pwrite(descriptor, $0.baseAddress, 8, 0) }
    }
}
