import Foundation
import GRDB
import Testing

@testable import Paylink

@Suite("SQLite group commit")
struct SQLiteGroupCommitTests {
    struct Refused: Error, Equatable { let index: Int }

    /// A migrated store in a directory of its own, which the caller removes.
    static func freshStore() async throws -> (URL, SQLiteStore) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-group-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: directory.appendingPathComponent("paylink.sqlite").path)
        try await store.migrate()
        return (directory, store)
    }

    /// Concurrent writes share transactions; one that throws after writing must leave no trace
    /// and must not take its neighbours in the batch down with it.
    @Test func aFailingWriteRollsBackAloneInsideItsBatch() async throws {
        let (directory, store) = try await Self.freshStore()
        defer { try? FileManager.default.removeItem(at: directory) }

        let writes = 200
        let outcomes = await withTaskGroup(of: (Int, Result<Int, any Error>).self) { group in
            for index in 0..<writes {
                group.addTask {
                    do {
                        let value = try await store.writeTransaction { db in
                            try db.execute(
                                sql: "INSERT INTO agents (id, name, role, disabled, created_at) VALUES (?, ?, 'agent', 0, 0)",
                                arguments: ["agt_" + String(repeating: "0", count: 20) + String(format: "%04d", index), "agent-\(index)"])
                            if index % 3 == 0 { throw Refused(index: index) }
                            return index * 10
                        }
                        return (index, .success(value))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var all: [Int: Result<Int, any Error>] = [:]
            for await (index, outcome) in group { all[index] = outcome }
            return all
        }
        for index in 0..<writes {
            switch outcomes[index]! {
            case .success(let value):
                #expect(index % 3 != 0 && value == index * 10)
            case .failure(let error):
                #expect(index % 3 == 0 && (error as? Refused) == Refused(index: index), "\(index): \(error)")
            }
        }
        let names = try await store.pool.read { db in try String.fetchAll(db, sql: "SELECT name FROM agents ORDER BY name") }
        #expect(Set(names) == Set((0..<writes).filter { $0 % 3 != 0 }.map { "agent-\($0)" }))
        #expect(store.groupCommit.savepointRetries > 0, "a job that threw after writing must have rolled its batch back")
        // Still a usable writer: no savepoint or transaction left open.
        try await store.writeTransaction { db in try db.execute(sql: "DELETE FROM agents") }
        #expect(try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM agents") } == 0)
    }

    /// Most failures happen before a job changes anything: a guard that throws, an UPDATE that
    /// matched nothing, an INSERT refused by a constraint (SQLite undoes the statement). Those
    /// need no savepoint and no second run of their batch, and still leave no trace.
    @Test func failuresBeforeAnyChangeNeedNoSecondRun() async throws {
        let (directory, store) = try await Self.freshStore()
        defer { try? FileManager.default.removeItem(at: directory) }
        let taken = "agt_" + String(repeating: "9", count: 24)
        try await store.writeTransaction { db in
            try db.execute(sql: "INSERT INTO agents (id, name, role, disabled, created_at) VALUES (?, 'taken', 'agent', 0, 0)", arguments: [taken])
        }

        let writes = 300
        let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
            for index in 0..<writes {
                group.addTask {
                    let id = "agt_" + String(repeating: "0", count: 20) + String(format: "%04d", index)
                    do {
                        try await store.writeTransaction { db in
                            switch index % 4 {
                            case 0:
                                throw Refused(index: index)
                            case 1:
                                try db.execute(sql: "UPDATE agents SET name = 'changed' WHERE id = ?", arguments: [id])
                                throw Refused(index: index)
                            case 2:
                                try db.execute(
                                    sql: "INSERT INTO agents (id, name, role, disabled, created_at) VALUES (?, ?, 'agent', 0, 0)",
                                    arguments: [taken, "agent-\(index)"])
                            default:
                                try db.execute(
                                    sql: "INSERT INTO agents (id, name, role, disabled, created_at) VALUES (?, ?, 'agent', 0, 0)",
                                    arguments: [id, "agent-\(index)"])
                            }
                        }
                        return (index, true)
                    } catch {
                        return (index, false)
                    }
                }
            }
            var all: [Int: Bool] = [:]
            for await (index, succeeded) in group { all[index] = succeeded }
            return all
        }
        for index in 0..<writes { #expect(outcomes[index] == (index % 4 == 3), "\(index)") }
        let names = try await store.pool.read { db in try String.fetchAll(db, sql: "SELECT name FROM agents") }
        #expect(Set(names) == Set(["taken"] + (0..<writes).filter { $0 % 4 == 3 }.map { "agent-\($0)" }))
        #expect(names.count == 1 + writes / 4)
        #expect(store.groupCommit.savepointRetries == 0)
    }
}
