import Foundation
import PostgresNIO

extension PostgresStore {
    public func claimIdempotencyKey(_ claim: IdempotencyClaim) async throws -> IdempotencyClaimResult {
        try await transaction { connection in try await self.take(claim, on: connection) }
    }

    /// Refuses (`IdempotencyRefusal`, the transaction then rolls back) unless the key is free; for
    /// the start of a keyed mutation, whose `complete` stores the response in the same transaction.
    ///
    /// A request with the same key still running on another instance holds the key's
    /// transaction-scoped advisory lock: that is a 409 (SPEC §2), not a wait. The lock is
    /// (class, 32-bit hash of agent and key), a key space apart from the single-number locks; a
    /// collision costs an unrelated concurrent request a 409 one time in 2^32.
    func claim(_ claim: IdempotencyClaim, on connection: PostgresConnection) async throws {
        var running = true
        for try await acquired in try await connection.query(
            "SELECT pg_try_advisory_xact_lock(\(Self.idempotencyLockClass), \(Self.lockHash(claim)))", logger: self.logger
        ).decode(Bool.self) {
            running = !acquired
        }
        if running { throw IdempotencyRefusal(result: .inProgress) }
        let result = try await take(claim, on: connection)
        guard result == .acquired else { throw IdempotencyRefusal(result: result) }
    }

    static let idempotencyLockClass: Int32 = 0x706c_6b49  // "plkI"

    /// A stable 32-bit hash of the claim's agent and key (FNV-1a; Swift's `Hasher` is seeded per process).
    static func lockHash(_ claim: IdempotencyClaim) -> Int32 {
        var hash: UInt32 = 2_166_136_261
        for byte in claim.agentID.rawValue.utf8 + [0] + claim.key.utf8 {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        return Int32(bitPattern: hash)
    }

    /// Takes the key in the caller's transaction if it is free (never used, or its holder crashed
    /// before its lease ran out); otherwise says what the earlier use says about this one.
    private func take(_ claim: IdempotencyClaim, on connection: PostgresConnection) async throws -> IdempotencyClaimResult {
        let now = claim.now.unixSeconds
        let lockedUntil = now + Int64(claim.lease.rounded(.up))
        // Insert-or-nothing, then lock whichever row exists: two instances racing on one key serialise here.
        var inserted = false
        for try await _ in try await connection.query(
            """
            INSERT INTO idempotency_keys (agent_id, key, request_hash, created_at, locked_until)
            VALUES (\(claim.agentID.rawValue), \(claim.key), \(claim.requestHash), \(now), \(lockedUntil))
            ON CONFLICT DO NOTHING RETURNING key
            """, logger: self.logger)
        {
            inserted = true
        }
        if inserted { return .acquired }
        for try await row in try await connection.query(
            """
            SELECT request_hash, response_status, response_body, locked_until
            FROM idempotency_keys WHERE agent_id = \(claim.agentID.rawValue) AND key = \(claim.key) FOR UPDATE
            """, logger: self.logger)
        {
            let cells = row.makeRandomAccess()
            let storedHash = try cells["request_hash"].decode(Data.self)
            guard ConstantTime.equal(storedHash, claim.requestHash) else { return .mismatch }
            if let status = try cells["response_status"].decode(Int32?.self) {
                return .replay(StoredResponse(status: Int(status), body: try cells["response_body"].decode(Data?.self) ?? Data()))
            }
            let holder = try cells["locked_until"].decode(Int64?.self) ?? 0
            if holder > now { return .inProgress }
        }
        // The previous holder never finished (it crashed): its mutation committed nothing, so run again.
        // (If the row was purged meanwhile, this updates nothing; `complete` inserts it again.)
        try await connection.query(
            "UPDATE idempotency_keys SET locked_until = \(lockedUntil) WHERE agent_id = \(claim.agentID.rawValue) AND key = \(claim.key)",
            logger: self.logger)
        return .acquired
    }

    /// Rows per purge transaction: each transaction has to fit the store's deadline, and a backlog
    /// (a long stop, a burst of keyed requests) should not be one long delete that never does.
    static let purgeBatch = 1000

    public func purgeIdempotencyKeys(createdBefore date: Date) async throws -> Int {
        try await purge(
            """
            DELETE FROM idempotency_keys WHERE ctid IN (
                SELECT ctid FROM idempotency_keys WHERE created_at < \(date.unixSeconds) LIMIT \(Self.purgeBatch))
            RETURNING 1
            """)
    }

    public func purgeWebhookReceipts(receivedBefore date: Date) async throws -> Int {
        try await purge(
            """
            DELETE FROM webhook_receipts WHERE ctid IN (
                SELECT ctid FROM webhook_receipts WHERE received_at < \(date.unixSeconds) LIMIT \(Self.purgeBatch))
            RETURNING 1
            """)
    }

    /// Runs a delete of at most `purgeBatch` rows (`RETURNING 1` per row) until one deletes fewer.
    private func purge(_ batch: PostgresQuery) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await transaction { connection in
                var count = 0
                for try await _ in try await connection.query(batch, logger: self.logger) { count += 1 }
                return count
            }
            total += deleted
            if deleted < Self.purgeBatch { return total }
        }
    }

    /// Stores the response for replay, in the caller's transaction (which began with `claim`).
    /// An upsert, so a claim row purged in between cannot leave the key without its response.
    func complete<Value>(_ completion: IdempotencyCompletion<Value>, with value: Value, on connection: PostgresConnection) async throws {
        let response = try completion.render(value)
        let claim = completion.claim
        try await connection.query(
            """
            INSERT INTO idempotency_keys (agent_id, key, request_hash, created_at, locked_until, response_status, response_body)
            VALUES (\(claim.agentID.rawValue), \(claim.key), \(claim.requestHash), \(claim.now.unixSeconds), NULL,
                \(Int32(response.status)), \(response.body))
            ON CONFLICT (agent_id, key) DO UPDATE SET locked_until = NULL,
                response_status = excluded.response_status, response_body = excluded.response_body
            """, logger: self.logger)
    }
}
