import Foundation
import GRDB

extension SQLiteStore {
    public func insertAgent(_ agent: Agent, key: APIKey) async throws {
        let digest = key.digest
        let lookupID = key.lookupID
        try await writeTransaction { db in
            try db.execute(
                sql: "INSERT INTO agents (id, name, role, disabled, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [agent.id.rawValue, agent.name, agent.role.rawValue, agent.disabled, agent.createdAt.unixSeconds])
            try db.execute(
                sql: "INSERT INTO api_keys (lookup_id, agent_id, digest, created_at) VALUES (?, ?, ?, ?)",
                arguments: [lookupID, agent.id.rawValue, digest, agent.createdAt.unixSeconds])
        }
    }

    public func credential(lookupID: String) async throws -> (agent: Agent, digest: Data)? {
        // A synchronous function of its own: in an async one, `unsafeRead` resolves to GRDB's
        // async overload, which hops to the queue and back.
        try credentials.credential(lookupID: lookupID) { try credentialInPlace(lookupID: lookupID) }
    }

    /// Every API request runs this point lookup, so it reads on the calling thread, on a
    /// connection of its own, instead of hopping to one of the pool's reader queues and back
    /// (two thread wake-ups that cost more than the query).
    ///
    /// Not the pool's synchronous `read`: it blocks the calling thread until a pool reader is
    /// free, and the pool's async readers release theirs only on a concurrency thread, so with
    /// every concurrency thread blocked here the server deadlocked under load (seen). This
    /// connection is only ever used synchronously: whoever waits for it waits for a lookup
    /// already running on another thread, never for a task.
    private func credentialInPlace(lookupID: String) throws -> (agent: Agent, digest: Data)? {
        // One statement is its own read transaction: no BEGIN/COMMIT around it.
        try credentialReader.unsafeRead { db in
            // Cached: prepared once. Columns named, and read by position from the cursor's row:
            // no copy of the row and no lookup of columns by name.
            let rows = try Row.fetchCursor(
                db.cachedStatement(
                    sql: """
                        SELECT agents.id, agents.name, agents.role, agents.disabled, agents.created_at, api_keys.digest
                        FROM api_keys JOIN agents ON agents.id = api_keys.agent_id WHERE api_keys.lookup_id = ?
                        """), arguments: [lookupID])
            // The row reads from the statement: keep the cursor until it has been read.
            return try withExtendedLifetime(rows) {
                guard let row = try rows.next() else { return nil }
                let agent = Agent(
                    id: AgentID(trusted: row[0]), name: row[1], role: Agent.Role(rawValue: row[2]) ?? .agent, disabled: row[3],
                    createdAt: Date(unixSeconds: row[4]))
                return (agent, row[5])
            }
        }
    }

    public func agents() async throws -> [Agent] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM agents ORDER BY created_at, id").map(Self.agent)
        }
    }

    public func setAgentDisabled(_ id: AgentID, disabled: Bool) async throws -> Agent? {
        // Whatever happens to the transaction (a commit that fails may still have reached the
        // disk), every process's cached credentials are dropped after it.
        defer { credentials.changed() }
        return try await writeTransaction { db in
            try db.execute(sql: "UPDATE agents SET disabled = ? WHERE id = ?", arguments: [disabled, id.rawValue])
            return try Row.fetchOne(db, sql: "SELECT * FROM agents WHERE id = ?", arguments: [id.rawValue]).map(Self.agent)
        }
    }

    static func agent(_ row: Row) -> Agent {
        Agent(
            id: AgentID(trusted: row["id"]), name: row["name"], role: Agent.Role(rawValue: row["role"]) ?? .agent,
            disabled: row["disabled"], createdAt: Date(unixSeconds: row["created_at"]))
    }

    // MARK: Signing keys

    public func signingKeys() async throws -> [StoredSigningKey] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM signing_keys ORDER BY id").map(Self.signingKey)
        }
    }

    public func insertSigningKey(sealedSecret: Data, createdAt: Date) async throws -> StoredSigningKey {
        try await writeTransaction { db in
            try db.execute(sql: "UPDATE signing_keys SET status = 'active' WHERE status = 'current'")
            try db.execute(
                sql: "INSERT INTO signing_keys (sealed_secret, status, created_at) VALUES (?, 'current', ?)",
                arguments: [sealedSecret, createdAt.unixSeconds])
            let row = try Row.fetchOne(db, sql: "SELECT * FROM signing_keys WHERE id = ?", arguments: [db.lastInsertedRowID])
            return Self.signingKey(row!)
        }
    }

    public func retireSigningKey(id: Int, at date: Date) async throws -> StoredSigningKey? {
        try await writeTransaction { db in
            try db.execute(
                sql: "UPDATE signing_keys SET status = 'retired', retired_at = ? WHERE id = ? AND status != 'retired'",
                arguments: [date.unixSeconds, id])
            return try Row.fetchOne(db, sql: "SELECT * FROM signing_keys WHERE id = ?", arguments: [id]).map(Self.signingKey)
        }
    }

    static func signingKey(_ row: Row) -> StoredSigningKey {
        StoredSigningKey(
            id: row["id"], sealedSecret: row["sealed_secret"],
            status: StoredSigningKey.Status(rawValue: row["status"]) ?? .retired,
            createdAt: Date(unixSeconds: row["created_at"]),
            retiredAt: (row["retired_at"] as Int64?).map(Date.init(unixSeconds:)))
    }
}
