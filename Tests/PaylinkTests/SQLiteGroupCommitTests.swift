import Foundation
import GRDB
import Testing

@testable import Paylink

@Suite("SQLite group commit")
struct SQLiteGroupCommitTests {
    struct Refused: Error, Equatable { let index: Int }

    /// Concurrent writes share transactions; one that throws after writing must leave no trace
    /// and must not take its neighbours in the batch down with it.
    @Test func aFailingWriteRollsBackAloneInsideItsBatch() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-group-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("paylink.sqlite").path)
        try await store.migrate()

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
        // Still a usable writer: no savepoint or transaction left open.
        try await store.writeTransaction { db in try db.execute(sql: "DELETE FROM agents") }
        #expect(try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM agents") } == 0)
    }
}
