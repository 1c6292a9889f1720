import Foundation
import PostgresNIO

extension PostgresStore {
    public func insertAgent(_ agent: Agent, key: APIKey) async throws {
        let digest = key.digest
        let lookupID = key.lookupID
        try await transaction { connection in
            try await connection.query(
                """
                INSERT INTO agents (id, name, role, disabled, created_at)
                VALUES (\(agent.id.rawValue), \(agent.name), \(agent.role.rawValue), \(agent.disabled), \(agent.createdAt.unixSeconds))
                """, logger: self.logger)
            try await connection.query(
                """
                INSERT INTO api_keys (lookup_id, agent_id, digest, created_at)
                VALUES (\(lookupID), \(agent.id.rawValue), \(digest), \(agent.createdAt.unixSeconds))
                """, logger: self.logger)
        }
    }

    public func credential(lookupID: String) async throws -> (agent: Agent, digest: Data)? {
        try await read { connection in
            let rows = try await connection.query(
                """
                SELECT agents.*, api_keys.digest AS key_digest FROM api_keys
                JOIN agents ON agents.id = api_keys.agent_id WHERE api_keys.lookup_id = \(lookupID)
                """, logger: self.logger)
            for try await row in rows {
                let cells = row.makeRandomAccess()
                return (try Self.agent(cells), try cells["key_digest"].decode(Data.self))
            }
            return nil
        }
    }

    public func agents() async throws -> [Agent] {
        try await read { connection in
            var agents: [Agent] = []
            for try await row in try await connection.query("SELECT * FROM agents ORDER BY created_at, id", logger: self.logger) {
                agents.append(try Self.agent(row.makeRandomAccess()))
            }
            return agents
        }
    }

    public func setAgentDisabled(_ id: AgentID, disabled: Bool) async throws -> Agent? {
        try await transaction { connection in
            for try await row in try await connection.query(
                "UPDATE agents SET disabled = \(disabled) WHERE id = \(id.rawValue) RETURNING *", logger: self.logger)
            {
                return try Self.agent(row.makeRandomAccess())
            }
            return nil
        }
    }

    static func agent(_ row: PostgresRandomAccessRow) throws -> Agent {
        Agent(
            id: AgentID(trusted: try row["id"].decode(String.self)), name: try row["name"].decode(String.self),
            role: Agent.Role(rawValue: try row["role"].decode(String.self)) ?? .agent,
            disabled: try row["disabled"].decode(Bool.self),
            createdAt: Date(unixSeconds: try row["created_at"].decode(Int64.self)))
    }

    // MARK: Signing keys

    public func signingKeys() async throws -> [StoredSigningKey] {
        try await read { connection in
            var keys: [StoredSigningKey] = []
            for try await row in try await connection.query("SELECT * FROM signing_keys ORDER BY id", logger: self.logger) {
                keys.append(try Self.signingKey(row.makeRandomAccess()))
            }
            return keys
        }
    }

    public func insertSigningKey(sealedSecret: Data, createdAt: Date) async throws -> StoredSigningKey {
        try await transaction { connection in
            try await connection.query("UPDATE signing_keys SET status = 'active' WHERE status = 'current'", logger: self.logger)
            for try await row in try await connection.query(
                """
                INSERT INTO signing_keys (sealed_secret, status, created_at)
                VALUES (\(sealedSecret), 'current', \(createdAt.unixSeconds)) RETURNING *
                """, logger: self.logger)
            {
                return try Self.signingKey(row.makeRandomAccess())
            }
            throw StoreError.unavailable("insert returned no row")
        }
    }

    public func retireSigningKey(id: Int, at date: Date) async throws -> StoredSigningKey? {
        try await transaction { connection in
            try await connection.query(
                "UPDATE signing_keys SET status = 'retired', retired_at = \(date.unixSeconds) WHERE id = \(id) AND status != 'retired'",
                logger: self.logger)
            for try await row in try await connection.query("SELECT * FROM signing_keys WHERE id = \(id)", logger: self.logger) {
                return try Self.signingKey(row.makeRandomAccess())
            }
            return nil
        }
    }

    static func signingKey(_ row: PostgresRandomAccessRow) throws -> StoredSigningKey {
        StoredSigningKey(
            id: Int(try row["id"].decode(Int32.self)), sealedSecret: try row["sealed_secret"].decode(Data.self),
            status: StoredSigningKey.Status(rawValue: try row["status"].decode(String.self)) ?? .retired,
            createdAt: Date(unixSeconds: try row["created_at"].decode(Int64.self)),
            retiredAt: try row["retired_at"].decode(Int64?.self).map(Date.init(unixSeconds:)))
    }
}
