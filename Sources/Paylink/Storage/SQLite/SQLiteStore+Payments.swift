import Foundation
import GRDB

extension SQLiteStore {
    public func updatePayments(
        _ id: LinkID, receipt: WebhookReceipt?, transform: @escaping @Sendable (inout PaymentRecord) throws -> [EventDraft]
    ) async throws -> (PaymentRecord, [Event]) {
        let result = try await writeTransaction { db in
            if let receipt {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO webhook_receipts (provider, event_id, link_id, received_at) VALUES (?, ?, ?, ?)",
                    arguments: [receipt.provider, receipt.eventID, id.rawValue, receipt.receivedAt.unixSeconds])
                if db.changesCount == 0 { throw StoreError.duplicate }
            }
            guard let link = try Self.firstLink(db, "SELECT * FROM links WHERE id = ?", [id.rawValue])
            else { throw StoreError.notFound }
            let payments = try String.fetchAll(
                db, sql: "SELECT body FROM payments WHERE link_id = ? ORDER BY row_seq", arguments: [id.rawValue]
            ).map { try StoreJSON.decode(Payment.self, from: $0) }
            let activity = try String.fetchOne(db, sql: "SELECT body FROM link_activity WHERE link_id = ?", arguments: [id.rawValue])
                .map { try StoreJSON.decode(LinkActivity.self, from: $0) } ?? LinkActivity()
            let current = PaymentRecord(link: link, payments: payments, activity: activity)

            var updated = current
            let drafts = try transform(&updated)
            let events = try Self.append(drafts, to: current.link, in: db)
            updated.link.lastSeq = events.last?.seq ?? current.link.lastSeq
            updated.link.payment = updated.displayedPayment?.summary
            // A repeated report or a look under the lock changes nothing: write nothing then.
            if updated.link != current.link {
                try db.execute(
                    sql: "UPDATE links SET status = ?, locked = ?, payment = ?, last_seq = ? WHERE id = ?",
                    arguments: [
                        updated.link.status.rawValue, updated.link.locked, try updated.link.payment.map(StoreJSON.encode),
                        updated.link.lastSeq, id.rawValue,
                    ])
            }
            for payment in updated.payments where !current.payments.contains(payment) {
                try Self.save(payment, in: db)
            }
            if updated.activity != current.activity {
                try db.execute(
                    sql: """
                        INSERT INTO link_activity (link_id, last_activity_at, stalled_at, body) VALUES (?, ?, ?, ?)
                        ON CONFLICT (link_id) DO UPDATE
                        SET last_activity_at = excluded.last_activity_at, stalled_at = excluded.stalled_at, body = excluded.body
                        """,
                    arguments: [
                        id.rawValue, updated.activity.lastActivityAt?.unixSeconds, updated.activity.stalledAt?.unixSeconds,
                        try StoreJSON.encode(updated.activity),
                    ])
            }
            return (updated, events)
        }
        if !result.1.isEmpty { doorbell?.ring(appended: result.1) }
        return result
    }

    /// Inserts a new attempt or updates a changed one. The partial unique index refuses a second
    /// live attempt for the link even if the rules above it were wrong.
    static func save(_ payment: Payment, in db: Database) throws {
        do {
            try db.execute(
                sql: """
                    INSERT INTO payments (id, link_id, status, fingerprint, client_ip_hash, psp_token, psp_charge_id,
                        created_at, updated_at, body)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET status = excluded.status, psp_charge_id = excluded.psp_charge_id,
                        updated_at = excluded.updated_at, body = excluded.body
                    """,
                arguments: [
                    payment.id.rawValue, payment.linkID.rawValue, payment.status.rawValue, payment.fingerprint, payment.clientIPHash,
                    payment.pspToken, payment.pspChargeID, payment.createdAt.unixSeconds, payment.updatedAt.unixSeconds,
                    try StoreJSON.encode(payment),
                ])
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw StoreError.duplicate
        }
    }

    public func paymentLink(_ id: PaymentID) async throws -> LinkID? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT link_id FROM payments WHERE id = ?", arguments: [id.rawValue]).map(LinkID.init(trusted:))
        }
    }

    public func countPayments(_ key: VelocityKey, since: Date) async throws -> Int {
        let (column, value): (String, String) =
            switch key {
            case .link(let id): ("link_id", id.rawValue)
            case .clientIP(let hash): ("client_ip_hash", hash)
            case .card(let fingerprint): ("fingerprint", fingerprint)
            }
        return try await pool.read { db in
            try Int.fetchOne(
                db, sql: "SELECT count(*) FROM payments WHERE \(column) = ? AND created_at >= ? AND status <> 'blocked'",
                arguments: [value, since.unixSeconds]) ?? 0
        }
    }

    public func linksToMarkStalled(lastActivityBefore: Date, limit: Int) async throws -> [LinkID] {
        try await pool.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT a.link_id FROM link_activity a JOIN links l ON l.id = a.link_id
                    WHERE a.last_activity_at <= ? AND (a.stalled_at IS NULL OR a.stalled_at < a.last_activity_at)
                        AND l.status = 'open' AND l.locked = 0
                    ORDER BY a.last_activity_at LIMIT ?
                    """,
                arguments: [lastActivityBefore.unixSeconds, limit]
            ).map(LinkID.init(trusted:))
        }
    }

    public func paymentsAwaitingOutcome(updatedBefore: Date, limit: Int) async throws -> [(payment: PaymentID, link: LinkID)] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, link_id FROM payments WHERE status IN ('processing', 'requires_action') AND updated_at <= ?
                    ORDER BY updated_at LIMIT ?
                    """,
                arguments: [updatedBefore.unixSeconds, limit]
            ).map { row in (PaymentID(trusted: row["id"]), LinkID(trusted: row["link_id"])) }
        }
    }
}
