import Foundation
import GRDB

extension SQLiteStore {
    public func claimIdempotencyKey(_ claim: IdempotencyClaim) async throws -> IdempotencyClaimResult {
        try await writeTransaction { db in
            let result = try Self.check(claim, in: db)
            guard result == .acquired else { return result }
            let now = claim.now.unixSeconds
            try db.execute(
                sql: """
                    INSERT INTO idempotency_keys (agent_id, key, request_hash, created_at, locked_until) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (agent_id, key) DO UPDATE SET locked_until = excluded.locked_until
                    """, arguments: [claim.agentID.rawValue, claim.key, claim.requestHash, now, now + Int64(claim.lease.rounded(.up))])
            return .acquired
        }
    }

    /// What an earlier use of the key says about this one, read in the caller's transaction and
    /// changing nothing: `.acquired` if it is free (never used, or its holder crashed before
    /// its lease ran out). SQLite has one writer, so nothing can take the key between this
    /// check and `store(_:for:in:)` at the end of the same transaction.
    static func check(_ claim: IdempotencyClaim, in db: Database) throws -> IdempotencyClaimResult {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT request_hash, response_status, response_body, locked_until FROM idempotency_keys WHERE agent_id = ? AND key = ?"),
                arguments: [claim.agentID.rawValue, claim.key])
        else { return .acquired }
        let storedHash: Data = row["request_hash"]
        guard ConstantTime.equal(storedHash, claim.requestHash) else { return .mismatch }
        if let status: Int = row["response_status"] {
            return .replay(StoredResponse(status: status, body: row["response_body"]))
        }
        let holder: Int64 = row["locked_until"] ?? 0
        // The previous holder never finished (it crashed): its mutation committed nothing, so run again.
        return holder <= claim.now.unixSeconds ? .acquired : .inProgress
    }

    /// Refuses (changing nothing) unless the key is free; for the start of a keyed mutation.
    static func claim(_ claim: IdempotencyClaim, in db: Database) throws {
        let result = try check(claim, in: db)
        guard result == .acquired else { throw IdempotencyRefusal(result: result) }
    }

    public func purgeIdempotencyKeys(createdBefore date: Date) async throws -> Int {
        try await writeTransaction { db in
            try db.execute(sql: "DELETE FROM idempotency_keys WHERE created_at < ?", arguments: [date.unixSeconds])
            return db.changesCount
        }
    }

    public func purgeWebhookReceipts(receivedBefore date: Date) async throws -> Int {
        try await writeTransaction { db in
            try db.execute(sql: "DELETE FROM webhook_receipts WHERE received_at < ?", arguments: [date.unixSeconds])
            return db.changesCount
        }
    }

    /// Stores the response for replay, in the caller's transaction.
    static func complete<Value>(_ completion: IdempotencyCompletion<Value>, with value: Value, in db: Database) throws {
        try store(try completion.render(value), for: completion.claim, in: db)
    }

    /// Records the key with an already rendered response for replay, in the caller's transaction
    /// (which began with `claim(_:in:)`); replaces an abandoned claim.
    static func store(_ response: StoredResponse, for claim: IdempotencyClaim, in db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO idempotency_keys (agent_id, key, request_hash, created_at, locked_until, response_status, response_body)
                VALUES (?, ?, ?, ?, NULL, ?, ?)
                ON CONFLICT (agent_id, key) DO UPDATE SET
                    request_hash = excluded.request_hash, locked_until = NULL,
                    response_status = excluded.response_status, response_body = excluded.response_body
                """
        ).execute(arguments: [
            claim.agentID.rawValue, claim.key, claim.requestHash, claim.now.unixSeconds, response.status, response.body,
        ])
    }
}
