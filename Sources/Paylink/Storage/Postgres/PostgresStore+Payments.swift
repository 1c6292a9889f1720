import Foundation
import PostgresNIO

extension PostgresStore {
    public func updatePayments(
        _ id: LinkID, receipt: WebhookReceipt?, transform: @escaping @Sendable (inout PaymentRecord) throws -> [EventDraft]
    ) async throws -> (PaymentRecord, [Event]) {
        let result = try await transaction { connection in
            if let receipt {
                var inserted = false
                for try await _ in try await connection.query(
                    """
                    INSERT INTO webhook_receipts (provider, event_id, link_id, received_at)
                    VALUES (\(receipt.provider), \(receipt.eventID), \(id.rawValue), \(receipt.receivedAt.unixSeconds))
                    ON CONFLICT DO NOTHING RETURNING 1
                    """, logger: self.logger)
                {
                    inserted = true
                }
                if !inserted { throw StoreError.duplicate }
            }
            var link: Link?
            for try await row in try await connection.query("SELECT * FROM links WHERE id = \(id.rawValue) FOR UPDATE", logger: self.logger) {
                link = try Self.link(row.makeRandomAccess())
            }
            guard let link else { throw StoreError.notFound }
            var payments: [Payment] = []
            for try await body in try await connection.query(
                "SELECT body FROM payments WHERE link_id = \(id.rawValue) ORDER BY row_seq", logger: self.logger
            ).decode(String.self) {
                payments.append(try StoreJSON.decode(Payment.self, from: body))
            }
            var activity = LinkActivity()
            for try await body in try await connection.query(
                "SELECT body FROM link_activity WHERE link_id = \(id.rawValue)", logger: self.logger
            ).decode(String.self) {
                activity = try StoreJSON.decode(LinkActivity.self, from: body)
            }
            let current = PaymentRecord(link: link, payments: payments, activity: activity)

            var updated = current
            let drafts = try transform(&updated)
            let events = try await self.append(drafts, to: current.link, on: connection)
            updated.link.lastSeq = events.last?.seq ?? current.link.lastSeq
            updated.link.payment = updated.displayedPayment?.summary
            // A repeated report or a look under the lock changes nothing: write nothing then.
            if updated.link != current.link {
                let summary = try updated.link.payment.map(StoreJSON.encode)
                try await connection.query(
                    """
                    UPDATE links SET status = \(updated.link.status.rawValue), locked = \(updated.link.locked), payment = \(summary),
                        last_seq = \(Int32(updated.link.lastSeq))
                    WHERE id = \(id.rawValue)
                    """, logger: self.logger)
            }
            for payment in updated.payments where !current.payments.contains(payment) {
                let body = try StoreJSON.encode(payment)
                try await connection.query(
                    """
                    INSERT INTO payments (id, link_id, status, fingerprint, client_ip_hash, psp_token, psp_charge_id,
                        created_at, updated_at, body)
                    VALUES (\(payment.id.rawValue), \(payment.linkID.rawValue), \(payment.status.rawValue), \(payment.fingerprint),
                        \(payment.clientIPHash), \(payment.pspToken), \(payment.pspChargeID), \(payment.createdAt.unixSeconds),
                        \(payment.updatedAt.unixSeconds), \(body))
                    ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, psp_charge_id = EXCLUDED.psp_charge_id,
                        updated_at = EXCLUDED.updated_at, body = EXCLUDED.body
                    """, logger: self.logger)
            }
            if updated.activity != current.activity {
                let body = try StoreJSON.encode(updated.activity)
                try await connection.query(
                    """
                    INSERT INTO link_activity (link_id, last_activity_at, stalled_at, body)
                    VALUES (\(id.rawValue), \(updated.activity.lastActivityAt?.unixSeconds), \(updated.activity.stalledAt?.unixSeconds), \(body))
                    ON CONFLICT (link_id) DO UPDATE
                    SET last_activity_at = EXCLUDED.last_activity_at, stalled_at = EXCLUDED.stalled_at, body = EXCLUDED.body
                    """, logger: self.logger)
            }
            return (updated, events)
        }
        if !result.1.isEmpty { doorbell?.ring(appended: result.1) }
        return result
    }

    public func paymentLink(_ id: PaymentID) async throws -> LinkID? {
        try await read { connection in
            for try await link in try await connection.query(
                "SELECT link_id FROM payments WHERE id = \(id.rawValue)", logger: self.logger
            ).decode(String.self) {
                return LinkID(trusted: link)
            }
            return nil
        }
    }

    public func countPayments(_ key: VelocityKey, since: Date) async throws -> Int {
        let since = since.unixSeconds
        return try await read { connection in
            let query: PostgresQuery =
                switch key {
                case .link(let id):
                    "SELECT count(*) FROM payments WHERE link_id = \(id.rawValue) AND created_at >= \(since) AND status <> 'blocked'"
                case .clientIP(let hash):
                    "SELECT count(*) FROM payments WHERE client_ip_hash = \(hash) AND created_at >= \(since) AND status <> 'blocked'"
                case .card(let fingerprint):
                    "SELECT count(*) FROM payments WHERE fingerprint = \(fingerprint) AND created_at >= \(since) AND status <> 'blocked'"
                }
            for try await count in try await connection.query(query, logger: self.logger).decode(Int64.self) {
                return Int(count)
            }
            return 0
        }
    }

    public func linksToMarkStalled(lastActivityBefore: Date, limit: Int) async throws -> [LinkID] {
        try await read { connection in
            var ids: [LinkID] = []
            for try await id in try await connection.query(
                """
                SELECT a.link_id FROM link_activity a JOIN links l ON l.id = a.link_id
                WHERE a.last_activity_at <= \(lastActivityBefore.unixSeconds)
                    AND (a.stalled_at IS NULL OR a.stalled_at < a.last_activity_at) AND l.status = 'open' AND NOT l.locked
                ORDER BY a.last_activity_at LIMIT \(Int64(limit))
                """, logger: self.logger
            ).decode(String.self) {
                ids.append(LinkID(trusted: id))
            }
            return ids
        }
    }

    public func paymentsAwaitingOutcome(updatedBefore: Date, limit: Int) async throws -> [(payment: PaymentID, link: LinkID)] {
        try await read { connection in
            var found: [(payment: PaymentID, link: LinkID)] = []
            for try await (payment, link) in try await connection.query(
                """
                SELECT id, link_id FROM payments WHERE status IN ('processing', 'requires_action')
                    AND updated_at <= \(updatedBefore.unixSeconds)
                ORDER BY updated_at LIMIT \(Int64(limit))
                """, logger: self.logger
            ).decode((String, String).self) {
                found.append((PaymentID(trusted: payment), LinkID(trusted: link)))
            }
            return found
        }
    }
}
