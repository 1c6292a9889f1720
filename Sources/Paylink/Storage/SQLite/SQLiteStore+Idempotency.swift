import Foundation
import GRDB

extension SQLiteStore {
    public func claimIdempotencyKey(_ claim: IdempotencyClaim) async throws -> IdempotencyClaimResult {
        try await writeTransaction { db in
            let now = claim.now.unixSeconds
            let lockedUntil = now + Int64(claim.lease.rounded(.up))
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM idempotency_keys WHERE agent_id = ? AND key = ?",
                    arguments: [claim.agentID.rawValue, claim.key])
            else {
                try db.execute(
                    sql: """
                        INSERT INTO idempotency_keys (agent_id, key, request_hash, created_at, locked_until)
                        VALUES (?, ?, ?, ?, ?)
                        """, arguments: [claim.agentID.rawValue, claim.key, claim.requestHash, now, lockedUntil])
                return .acquired
            }
            let storedHash: Data = row["request_hash"]
            guard ConstantTime.equal(storedHash, claim.requestHash) else { return .mismatch }
            if let status: Int = row["response_status"] {
                return .replay(StoredResponse(status: status, body: row["response_body"]))
            }
            let holder: Int64 = row["locked_until"] ?? 0
            guard holder <= now else { return .inProgress }
            // The previous holder never finished (it crashed): its mutation committed nothing, so run again.
            try db.execute(
                sql: "UPDATE idempotency_keys SET locked_until = ? WHERE agent_id = ? AND key = ?",
                arguments: [lockedUntil, claim.agentID.rawValue, claim.key])
            return .acquired
        }
    }

    public func releaseIdempotencyKey(_ claim: IdempotencyClaim) async throws {
        try await writeTransaction { db in
            try db.execute(
                sql: "DELETE FROM idempotency_keys WHERE agent_id = ? AND key = ? AND response_status IS NULL",
                arguments: [claim.agentID.rawValue, claim.key])
        }
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

    /// Stores an already rendered response for replay, in the caller's transaction.
    static func store(_ response: StoredResponse, for claim: IdempotencyClaim, in db: Database) throws {
        try db.cachedStatement(
            sql: """
                UPDATE idempotency_keys SET response_status = ?, response_body = ?, locked_until = NULL
                WHERE agent_id = ? AND key = ?
                """
        ).execute(arguments: [response.status, response.body, claim.agentID.rawValue, claim.key])
    }
}
