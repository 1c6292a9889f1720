import Foundation
import GRDB
import Testing

@testable import Paylink

@Suite("SQLite migrations")
struct SQLiteMigrationTests {
    /// A database written before v3 keeps its links findable by contact, through indexes that
    /// now hold only the links that have one.
    @Test func contactIndexesBecomePartialAndLookupsStillUseThem() async throws {
        try await withDatabase(migratedUpTo: "v2-payments", foreignKeys: false) { try await contactIndexes(pool: $0) }
    }

    private func contactIndexes(pool: DatabasePool) async throws {
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

@Suite("SQLite migration v4: links and events without AUTOINCREMENT")
struct SQLiteLeanAppendMigrationTests {
    /// A database written before v4 keeps every link, event and reference to them; new rows
    /// continue the same numbering (event cursors are what streams resume from), and the two
    /// things v4 removes are gone: the `sqlite_sequence` rows and the index on `events.id`.
    @Test func rebuildKeepsRowsReferencesAndNumbering() async throws {
        try await withDatabase(migratedUpTo: "v3-partial-contact-indexes", foreignKeys: true) { try await rebuild(pool: $0) }
    }

    private func rebuild(pool: DatabasePool) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO agents (id, name, role, created_at) VALUES ('agt_a', 'A', 'agent', 0)")
            try db.execute(sql: "INSERT INTO signing_keys (sealed_secret, status, created_at) VALUES (x'00', 'current', 0)")
            for index in 1...3 {
                try db.execute(
                    sql: """
                        INSERT INTO links (id, agent_id, signing_key_id, token_nonce, status, amount, currency, reference, locale,
                            expires_at, created_at, customer_email, metadata, last_seq, locked, payment)
                        VALUES (?, 'agt_a', 1, ?, 'open', ?, 'EUR', ?, 'en', 100, 0, ?, '{"k":"v"}', 2, ?, ?)
                        """,
                    arguments: ["lnk_\(index)", Data([UInt8(index)]), 100 * index, "ref-\(index)", index == 2 ? "b@example.com" : nil,
                                index == 3, index == 3 ? #"{"id":"pay_1"}"# : nil])
                for seq in 1...2 {
                    try db.execute(
                        sql: "INSERT INTO events (id, link_id, agent_id, seq, type, created_at, data) VALUES (?, ?, 'agt_a', ?, 'link.created', 0, '{}')",
                        arguments: ["evt_\(index)_\(seq)", "lnk_\(index)", seq])
                }
            }
            try db.execute(
                sql: """
                    INSERT INTO payments (id, link_id, status, psp_token, created_at, updated_at, body)
                    VALUES ('pay_1', 'lnk_3', 'processing', 'tok_1', 0, 0, '{}')
                    """)
            try db.execute(sql: "INSERT INTO link_activity (link_id, last_activity_at, body) VALUES ('lnk_1', 0, '{}')")
        }
        let indexes = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name"
        let before = try await pool.read { db in
            (links: try Self.values(db, "SELECT * FROM links ORDER BY row_seq"), events: try Self.values(db, "SELECT * FROM events ORDER BY cursor"),
             indexes: try Self.values(db, indexes))
        }

        try SQLiteMigrations.migrator.migrate(pool, upTo: "v4-lean-append")

        try await pool.write { db in
            #expect(try Self.values(db, "SELECT * FROM links ORDER BY row_seq") == before.links)
            #expect(try Self.values(db, "SELECT * FROM events ORDER BY cursor") == before.events)
            #expect(before.links.count == 3 && before.events.count == 6)
            // The same named indexes, defined the same way.
            #expect(try Self.values(db, indexes) == before.indexes)
            #expect(try String.fetchAll(db, sql: "SELECT name FROM sqlite_sequence WHERE name IN ('links', 'events')").isEmpty)
            for table in ["links", "events"] {
                let definition = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = ?", arguments: [table]) ?? ""
                #expect(!definition.contains("AUTOINCREMENT"), "\(definition)")
            }
            // events keeps exactly one unique index, (link_id, seq); events.id has none.
            let unique = try Row.fetchAll(db, sql: "SELECT name FROM pragma_index_list('events') WHERE \"unique\" = 1")
            #expect(unique.count == 1)
            let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_index_info(?) ORDER BY seqno", arguments: [unique.first?["name"] as String? ?? ""])
            #expect(columns == ["link_id", "seq"])
            #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").isEmpty)
            #expect(try String.fetchOne(db, sql: "PRAGMA integrity_check") == "ok")

            // References still point at the rebuilt links table, and are enforced.
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "INSERT INTO events (id, link_id, agent_id, seq, type, created_at, data) VALUES ('evt_x', 'lnk_missing', 'agt_a', 1, 't', 0, '{}')")
            }
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "INSERT INTO link_activity (link_id, body) VALUES ('lnk_missing', '{}')")
            }
            #expect(try String.fetchOne(db, sql: "SELECT links.id FROM payments JOIN links ON links.id = payments.link_id") == "lnk_3")

            // Numbering continues after the highest row (nothing deletes links or events).
            try db.execute(
                sql: """
                    INSERT INTO links (id, agent_id, signing_key_id, token_nonce, status, amount, currency, reference, locale,
                        expires_at, created_at, metadata, last_seq)
                    VALUES ('lnk_4', 'agt_a', 1, x'04', 'open', 400, 'EUR', 'ref-4', 'en', 100, 0, '{}', 1)
                    """)
            #expect(db.lastInsertedRowID == 4)
            try db.execute(sql: "INSERT INTO events (id, link_id, agent_id, seq, type, created_at, data) VALUES ('evt_4_1', 'lnk_4', 'agt_a', 1, 'link.created', 0, '{}')")
            #expect(db.lastInsertedRowID == 7)
        }
    }

    /// Every column of every row, in order (rows themselves are not Sendable).
    static func values(_ db: Database, _ sql: String) throws -> [[DatabaseValue]] {
        try Row.fetchAll(db, sql: sql).map { Array($0.databaseValues) }
    }
}

/// A database in a directory of its own, migrated up to (and including) `migration`, as an older
/// release left it; removed afterwards.
private func withDatabase(migratedUpTo migration: String, foreignKeys: Bool, _ body: (DatabasePool) async throws -> Void) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-migrate-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    var configuration = Configuration()
    configuration.foreignKeysEnabled = foreignKeys
    let pool = try DatabasePool(path: directory.appendingPathComponent("paylink.sqlite").path, configuration: configuration)
    try SQLiteMigrations.migrator.migrate(pool, upTo: migration)
    try await body(pool)
}
