import Foundation
import PostgresNIO

extension PostgresStore {
    public func insertLink(_ link: Link, event: EventDraft, idempotency: IdempotencyCompletion<Link>?) async throws -> Event {
        let metadata = StoreJSON.encode(link.metadata)
        let appended = try await transaction { connection in
            if let idempotency { try await self.claim(idempotency.claim, on: connection) }
            try await connection.query(
                """
                INSERT INTO links (id, agent_id, signing_key_id, token_nonce, status, amount, currency, reference,
                    description, locale, expires_at, created_at, customer_name, customer_email, customer_phone,
                    metadata, conversation_channel, conversation_id, amount_refunded, last_seq)
                VALUES (\(link.id.rawValue), \(link.agentID.rawValue), \(Int32(link.signingKeyID)), \(link.tokenNonce),
                    \(link.status.rawValue), \(link.amount.minorUnits), \(link.amount.currency.code), \(link.reference),
                    \(link.description), \(link.locale), \(link.expiresAt.unixSeconds), \(link.createdAt.unixSeconds),
                    \(link.customer?.name), \(link.customer?.email), \(link.customer?.phone), \(metadata),
                    \(link.conversation?.channel), \(link.conversation?.id), \(link.amountRefunded), 1)
                """, logger: self.logger)
            // The row already counts its first event (last_seq 1); `append` numbers from the value passed in.
            let events = try await self.append([event], to: link, on: connection)
            var stored = link
            stored.lastSeq = events.last!.seq
            if let idempotency { try await self.complete(idempotency, with: stored, on: connection) }
            return events[0]
        }
        doorbell?.ring(appended: [appended])
        return appended
    }

    public func updateLink(
        _ id: LinkID, scope: AgentScope, idempotency: IdempotencyCompletion<Link>?,
        transform: @escaping @Sendable (inout Link) throws -> [EventDraft]
    ) async throws -> (Link, [Event]) {
        let result = try await transaction { connection in
            // First: a replay answers as the first request did, whatever the link is now.
            if let idempotency { try await self.claim(idempotency.claim, on: connection) }
            var current: Link?
            for try await row in try await connection.query("SELECT * FROM links WHERE id = \(id.rawValue) FOR UPDATE", logger: self.logger) {
                current = try Self.link(row.makeRandomAccess())
            }
            guard let current, scope.permits(current.agentID) else { throw StoreError.notFound }
            var updated = current
            let drafts = try transform(&updated)
            let events = try await self.append(drafts, to: current, on: connection)
            updated.lastSeq = events.last?.seq ?? current.lastSeq
            try await connection.query(
                """
                UPDATE links SET status = \(updated.status.rawValue), expires_at = \(updated.expiresAt.unixSeconds),
                    amount_refunded = \(updated.amountRefunded), last_seq = \(Int32(updated.lastSeq))
                WHERE id = \(id.rawValue)
                """, logger: self.logger)
            if let idempotency { try await self.complete(idempotency, with: updated, on: connection) }
            return (updated, events)
        }
        if !result.1.isEmpty { doorbell?.ring(appended: result.1) }
        return result
    }

    /// Appends events with the next per-link `seq` (the link row is locked by the caller), under the
    /// store-wide append lock so cursors become visible in order, and notifies other instances on commit.
    func append(_ drafts: [EventDraft], to link: Link, on connection: PostgresConnection) async throws -> [Event] {
        guard !drafts.isEmpty else { return [] }
        try await connection.query("SELECT pg_advisory_xact_lock(\(Self.appendLockKey))", logger: self.logger)
        var seq = link.lastSeq
        var events: [Event] = []
        for draft in drafts {
            seq += 1
            let id = EventID.generate()
            let data = try StoreJSON.encode(draft.data)
            var cursor: Int64 = 0
            for try await value in try await connection.query(
                """
                INSERT INTO events (id, link_id, agent_id, seq, type, created_at, data)
                VALUES (\(id.rawValue), \(link.id.rawValue), \(link.agentID.rawValue), \(Int32(seq)), \(draft.type.rawValue),
                    \(draft.createdAt.unixSeconds), \(data))
                RETURNING cursor
                """, logger: self.logger
            ).decode(Int64.self) {
                cursor = value
            }
            events.append(
                Event(
                    id: id, linkID: link.id, agentID: link.agentID, seq: seq, cursor: cursor, type: draft.type,
                    createdAt: Date(unixSeconds: draft.createdAt.unixSeconds), data: draft.data))
        }
        try await connection.query("SELECT pg_notify(\(Self.notificationChannel), '')", logger: self.logger)
        return events
    }

    public func link(_ id: LinkID, scope: AgentScope) async throws -> Link? {
        try await read { connection in
            for try await row in try await connection.query("SELECT * FROM links WHERE id = \(id.rawValue)", logger: self.logger) {
                let link = try Self.link(row.makeRandomAccess())
                return link.flatMap { scope.permits($0.agentID) ? $0 : nil }
            }
            return nil
        }
    }

    public func link(tokenNonce: Data) async throws -> Link? {
        try await read { connection in
            for try await row in try await connection.query("SELECT * FROM links WHERE token_nonce = \(tokenNonce)", logger: self.logger) {
                return try Self.link(row.makeRandomAccess())
            }
            return nil
        }
    }

    public func links(_ query: LinkQuery) async throws -> (links: [Link], hasMore: Bool) {
        try await read { connection in
            var sql = PostgresQuery(unsafeSQL: "SELECT * FROM links WHERE TRUE")
            var bindings = PostgresBindings()
            func add(_ clause: String, _ values: [any PostgresEncodable & Sendable]) throws {
                var text = clause
                for value in values {
                    try bindings.append(value)
                    text = text.replacingOccurrences(of: "$?", with: "$\(bindings.count)", options: [], range: text.range(of: "$?"))
                }
                sql.sql += " AND " + text
            }
            if case .own(let agent) = query.scope { try add("agent_id = $?", [agent.rawValue]) }
            if let after = query.startingAfter { try add("row_seq < (SELECT row_seq FROM links WHERE id = $?)", [after.rawValue]) }
            let now = query.now.unixSeconds
            switch query.status {
            case .open?: try add("status = 'open' AND expires_at > $?", [now])
            case .expired?: try add("(status = 'expired' OR (status = 'open' AND expires_at <= $?))", [now])
            case let other?: try add("status = $?", [other.rawValue])
            case nil: break
            }
            if let value = query.reference { try add("reference = $?", [value]) }
            if let value = query.customerEmail { try add("customer_email = $?", [value]) }
            if let value = query.customerPhone { try add("customer_phone = $?", [value]) }
            bindings.append(Int64(query.limit + 1))
            sql.sql += " ORDER BY row_seq DESC LIMIT $\(bindings.count)"
            sql.binds = bindings
            var links: [Link] = []
            for try await row in try await connection.query(sql, logger: self.logger) {
                if let link = try Self.link(row.makeRandomAccess()) { links.append(link) }
            }
            return (Array(links.prefix(query.limit)), links.count > query.limit)
        }
    }

    public func linksDueToExpire(asOf date: Date, limit: Int) async throws -> [LinkID] {
        try await read { connection in
            var ids: [LinkID] = []
            for try await id in try await connection.query(
                """
                SELECT id FROM links WHERE status = 'open' AND expires_at <= \(date.unixSeconds)
                ORDER BY expires_at LIMIT \(Int64(limit))
                """, logger: self.logger
            ).decode(String.self) {
                ids.append(LinkID(trusted: id))
            }
            return ids
        }
    }

    public func latestEventCursor(scope: AgentScope) async throws -> Int64 {
        try await read { connection in
            let rows =
                switch scope {
                case .all: try await connection.query("SELECT coalesce(max(cursor), 0)::bigint FROM events", logger: self.logger)
                case .own(let agent):
                    try await connection.query(
                        "SELECT coalesce(max(cursor), 0)::bigint FROM events WHERE agent_id = \(agent.rawValue)", logger: self.logger)
                }
            for try await cursor in rows.decode(Int64.self) { return cursor }
            return 0
        }
    }

    public func events(link: LinkID, afterSeq: Int, limit: Int) async throws -> [Event] {
        try await read { connection in
            try await Self.events(
                connection.query(
                    "SELECT * FROM events WHERE link_id = \(link.rawValue) AND seq > \(Int32(afterSeq)) ORDER BY seq LIMIT \(Int64(limit))",
                    logger: self.logger))
        }
    }

    public func events(afterCursor: Int64, scope: AgentScope, limit: Int) async throws -> [Event] {
        try await read { connection in
            switch scope {
            case .all:
                try await Self.events(
                    connection.query(
                        "SELECT * FROM events WHERE cursor > \(afterCursor) ORDER BY cursor LIMIT \(Int64(limit))", logger: self.logger))
            case .own(let agent):
                try await Self.events(
                    connection.query(
                        """
                        SELECT * FROM events WHERE agent_id = \(agent.rawValue) AND cursor > \(afterCursor)
                        ORDER BY cursor LIMIT \(Int64(limit))
                        """, logger: self.logger))
            }
        }
    }

    static func events(_ rows: PostgresRowSequence) async throws -> [Event] {
        var events: [Event] = []
        for try await row in rows {
            let cells = row.makeRandomAccess()
            events.append(
                Event(
                    id: EventID(trusted: try cells["id"].decode(String.self)),
                    linkID: LinkID(trusted: try cells["link_id"].decode(String.self)),
                    agentID: AgentID(trusted: try cells["agent_id"].decode(String.self)),
                    seq: Int(try cells["seq"].decode(Int32.self)), cursor: try cells["cursor"].decode(Int64.self),
                    type: EventType(rawValue: try cells["type"].decode(String.self)),
                    createdAt: Date(unixSeconds: try cells["created_at"].decode(Int64.self)),
                    data: try StoreJSON.decode([String: JSONValue].self, from: try cells["data"].decode(String.self))))
        }
        return events
    }

    static func link(_ row: PostgresRandomAccessRow) throws -> Link? {
        guard let currency = Currency(code: try row["currency"].decode(String.self)),
            let status = Link.Status(rawValue: try row["status"].decode(String.self))
        else { return nil }
        let customerName = try row["customer_name"].decode(String?.self)
        let customerEmail = try row["customer_email"].decode(String?.self)
        let customerPhone = try row["customer_phone"].decode(String?.self)
        let hasCustomer = customerName != nil || customerEmail != nil || customerPhone != nil
        let channel = try row["conversation_channel"].decode(String?.self)
        let conversationID = try row["conversation_id"].decode(String?.self)
        return Link(
            id: LinkID(trusted: try row["id"].decode(String.self)), agentID: AgentID(trusted: try row["agent_id"].decode(String.self)),
            signingKeyID: Int(try row["signing_key_id"].decode(Int32.self)), tokenNonce: try row["token_nonce"].decode(Data.self),
            status: status, amount: Money(minorUnits: try row["amount"].decode(Int64.self), currency: currency),
            reference: try row["reference"].decode(String.self), description: try row["description"].decode(String?.self),
            locale: try row["locale"].decode(String.self), expiresAt: Date(unixSeconds: try row["expires_at"].decode(Int64.self)),
            createdAt: Date(unixSeconds: try row["created_at"].decode(Int64.self)),
            customer: hasCustomer ? .init(name: customerName, email: customerEmail, phone: customerPhone) : nil,
            metadata: try StoreJSON.decode([String: String].self, from: try row["metadata"].decode(String.self)),
            conversation: channel.flatMap { channel in conversationID.map { .init(channel: channel, id: $0) } },
            amountRefunded: try row["amount_refunded"].decode(Int64.self), lastSeq: Int(try row["last_seq"].decode(Int32.self)),
            locked: try row["locked"].decode(Bool.self),
            payment: try row["payment"].decode(String?.self).map { try StoreJSON.decode(PaymentSummary.self, from: $0) })
    }
}
