import Foundation
import Synchronization
import Testing

@testable import Paylink

/// The embedded store's cache of API-key lookups: used while nothing changed, dropped in every
/// process the moment a change is marked, and never older than its backstop.
@Suite("SQLite credential cache")
struct SQLiteCredentialCacheTests {
    /// A database path in a folder of its own (the cache only needs the folder to exist).
    static func databasePath() throws -> (URL, String) {
        let directory = try CLITests.temporaryDirectory()
        return (directory, directory.appendingPathComponent("paylink.sqlite").path)
    }

    /// Counts the database reads a cache asks for, answering with `agent` (or nothing).
    final class Reads: Sendable {
        let count = Atomic<Int>(0)
        let agent = Agent(id: AgentID.generate(), name: "ada", role: .agent, createdAt: Date(unixSeconds: 1_700_000_000))
        func read(found: Bool = true) -> SQLiteCredentialCache.Credential? {
            count.add(1, ordering: .relaxed)
            return found ? (agent, Data(repeating: 7, count: 32)) : nil
        }
        var total: Int { count.load(ordering: .relaxed) }
    }

    @Test func aChangeMarkedByAnotherCacheIsSeenAtOnce() throws {
        let (directory, path) = try Self.databasePath()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = SQLiteCredentialCache(databasePath: path, maximumAge: .seconds(3600))
        let reads = Reads()
        #expect(server.credential(lookupID: "k1") { reads.read() }?.agent == reads.agent)
        #expect(server.credential(lookupID: "k1") { reads.read() } != nil)
        #expect(reads.total == 1, "the second lookup was not served from the cache")

        // `paylink agents disable` in another process: its own cache, the same marker file.
        let command = SQLiteCredentialCache(databasePath: path, maximumAge: .seconds(3600))
        command.changed()
        _ = server.credential(lookupID: "k1") { reads.read() }
        #expect(reads.total == 2, "a marked change did not drop the cached row")
        _ = server.credential(lookupID: "k1") { reads.read() }
        #expect(reads.total == 2)

        let marker = try Data(contentsOf: URL(fileURLWithPath: path + "-credentials"))
        #expect(marker.count == 8)
        let mode = try FileManager.default.attributesOfItem(atPath: path + "-credentials")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func unknownKeysAreNotKept() throws {
        let (directory, path) = try Self.databasePath()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cache = SQLiteCredentialCache(databasePath: path, maximumAge: .seconds(3600))
        let reads = Reads()
        for _ in 0..<3 { #expect(cache.credential(lookupID: "missing") { reads.read(found: false) } == nil) }
        #expect(reads.total == 3)
    }

    /// A change whose marker was never written (its process killed after the commit) still
    /// reaches every lookup once the row is `maximumAge` old.
    @Test func noRowOutlivesTheBackstop() async throws {
        let (directory, path) = try Self.databasePath()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cache = SQLiteCredentialCache(databasePath: path, maximumAge: .milliseconds(100))
        let reads = Reads()
        _ = cache.credential(lookupID: "k1") { reads.read() }
        try await Task.sleep(for: .milliseconds(150))
        _ = cache.credential(lookupID: "k1") { reads.read() }
        #expect(reads.total == 2)
    }

    /// Without a marker it can open, the cache keeps nothing: every lookup reads the database.
    @Test func withoutAMarkerEveryLookupReads() throws {
        let cache = SQLiteCredentialCache(databasePath: "/nonexistent-\(UUID().uuidString)/paylink.sqlite")
        let reads = Reads()
        for _ in 0..<3 { _ = cache.credential(lookupID: "k1") { reads.read() } }
        #expect(reads.total == 3)
    }

    /// A marker deleted or replaced while a cache uses it: that cache stops keeping rows, so a
    /// change another process marks in the new file is not missed.
    @Test func aDeletedOrReplacedMarkerTurnsTheCacheOff() throws {
        for replace in [false, true] {
            let (directory, path) = try Self.databasePath()
            defer { try? FileManager.default.removeItem(at: directory) }
            let server = SQLiteCredentialCache(databasePath: path, maximumAge: .seconds(3600))
            let reads = Reads()
            _ = server.credential(lookupID: "k1") { reads.read() }
            _ = server.credential(lookupID: "k1") { reads.read() }
            #expect(reads.total == 1)
            let marker = path + "-credentials"
            if replace {
                try Data(repeating: 1, count: 8).write(to: URL(fileURLWithPath: marker + ".new"))
                #expect(rename(marker + ".new", marker) == 0)
            } else {
                try FileManager.default.removeItem(atPath: marker)
            }
            SQLiteCredentialCache(databasePath: path, maximumAge: .seconds(3600)).changed()
            _ = server.credential(lookupID: "k1") { reads.read() }
            _ = server.credential(lookupID: "k1") { reads.read() }
            #expect(reads.total == 3, "replace: \(replace)")
        }
    }

    /// A marker planted as a symbolic link is not followed: nothing is written through it.
    @Test func aSymbolicLinkIsNotFollowed() throws {
        let (directory, path) = try Self.databasePath()
        defer { try? FileManager.default.removeItem(at: directory) }
        let target = directory.appendingPathComponent("victim").path
        try Data("keep".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: path + "-credentials", withDestinationPath: target)
        let cache = SQLiteCredentialCache(databasePath: path)
        cache.changed()
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data("keep".utf8))
        let reads = Reads()
        for _ in 0..<2 { _ = cache.credential(lookupID: "k1") { reads.read() } }
        #expect(reads.total == 2)
    }

    /// End to end on the real store: a second store on the same file (as the CLI is) disables
    /// the agent, and the first store's next lookup says so, though it had the row cached.
    @Test func disablingInAnotherStoreReachesTheFirstAtOnce() async throws {
        let (directory, path) = try Self.databasePath()
        defer { try? FileManager.default.removeItem(at: directory) }
        // An hour's backstop: only the marker can make the change visible within this test.
        let server = try SQLiteStore(path: path, synchronous: .normal, credentialMaximumAge: .seconds(3600))
        try await server.migrate()
        let key = APIKey.generate()
        let agent = Agent(id: AgentID.generate(), name: "ada", role: .agent, createdAt: Date(unixSeconds: 1_700_000_000))
        try await server.insertAgent(agent, key: key)
        #expect(try await server.credential(lookupID: key.lookupID)?.agent.disabled == false)

        let command = try SQLiteStore(path: path, synchronous: .normal)
        #expect(try await command.setAgentDisabled(agent.id, disabled: true)?.disabled == true)
        #expect(try await server.credential(lookupID: key.lookupID)?.agent.disabled == true)
        #expect(try await command.setAgentDisabled(agent.id, disabled: false)?.disabled == false)
        #expect(try await server.credential(lookupID: key.lookupID)?.agent.disabled == false)
    }
}
