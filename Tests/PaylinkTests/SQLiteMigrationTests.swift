import Foundation
import GRDB
import Testing

@testable import Paylink

@Suite("SQLite migrations")
struct SQLiteMigrationTests {
    /// A database written before v3 keeps its links findable by contact, through indexes that
    /// now hold only the links that have one.
    @Test func contactIndexesBecomePartialAndLookupsStillUseThem() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-migrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = Configuration()
        configuration.foreignKeysEnabled = false
        let pool = try DatabasePool(path: directory.appendingPathComponent("paylink.sqlite").path, configuration: configuration)
        try SQLiteMigrations.migrator.migrate(pool, upTo: "v2-payments")
        try await pool.write { db in
            for (index, email, phone) in [(1, "a@example.com", nil), (2, nil, "+14155550100"), (3, nil, nil), (4, "a@example.com", "+14155550100")] {
                try db.execute(
                    sql: """
                        INSERT INTO links (id, agent_id, signing_key_id, token_nonce, status, amount, currency, reference, locale,
                            expires_at, created_at, customer_email, customer_phone, metadata, last_seq)
                        VALUES (?, 'agt_x', 1, ?, 'open', 100, 'EUR', 'r', 'en', 0, 0, ?, ?, '{}', 1)
                        """,
                    arguments: ["lnk_\(index)", Data([UInt8(index)]), email, phone])
            }
        }
        try SQLiteMigrations.migrator.migrate(pool)

        try await pool.read { db in
            for (column, value, expected) in [("customer_email", "a@example.com", ["lnk_4", "lnk_1"]), ("customer_phone", "+14155550100", ["lnk_4", "lnk_2"])] {
                let definition = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = ?", arguments: ["links_\(column)"])
                #expect(definition?.hasSuffix("WHERE \(column) IS NOT NULL") == true, "\(definition ?? "no index")")
                let query = "SELECT id FROM links WHERE \(column) = ? ORDER BY row_seq DESC LIMIT 21"
                #expect(try String.fetchAll(db, sql: query, arguments: [value]) == expected)
                let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + query, arguments: [value]).map { $0["detail"] as String }
                #expect(plan.contains { $0.contains("USING INDEX links_\(column)") }, "\(plan)")
                // The index holds the two links that have this contact, not the NULLs.
                let entries = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM links INDEXED BY links_\(column) WHERE \(column) IS NOT NULL")
                #expect(entries == 2)
            }
        }
    }
}
