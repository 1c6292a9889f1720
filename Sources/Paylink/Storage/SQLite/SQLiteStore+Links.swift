import Foundation
import GRDB

extension SQLiteStore {
    public func insertLink(_ link: Link, event: EventDraft, idempotency: IdempotencyCompletion<Link>?) async throws -> Event {
        // Everything that does not need the database is made here, on the request's own thread:
        // the writer runs one batch at a time, so its time per create bounds the store's throughput.
        let linkArguments: StatementArguments = [
            link.id.rawValue, link.agentID.rawValue, link.signingKeyID, link.tokenNonce, link.status.rawValue,
            link.amount.minorUnits, link.amount.currency.code, link.reference, link.description, link.locale,
            link.expiresAt.unixSeconds, link.createdAt.unixSeconds, link.customer?.name, link.customer?.email,
            link.customer?.phone, StoreJSON.encode(link.metadata), link.conversation?.channel,
            link.conversation?.id, link.amountRefunded,
        ]
        // The row counts its first event from the start (last_seq 1).
        var stored = link
        stored.lastSeq = 1
        let first = try PreparedEvent(event, seq: 1, of: link)
        let response = try idempotency.map { ($0.claim, try $0.render(stored)) }
        let appended = try await writeTransaction { db in
            if let (claim, _) = response { try Self.claim(claim, in: db) }
            // Cached: preparing (parsing and GRDB's authorizer) cost as much as running it.
            try db.cachedStatement(
                sql: """
                    INSERT INTO links (id, agent_id, signing_key_id, token_nonce, status, amount, currency, reference,
                        description, locale, expires_at, created_at, customer_name, customer_email, customer_phone,
                        metadata, conversation_channel, conversation_id, amount_refunded, last_seq)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
                    """
            ).execute(arguments: linkArguments)
            let appended = try first.insert(in: db)
            if let (claim, response) = response { try Self.store(response, for: claim, in: db) }
            return appended
        }
        doorbell?.ring(appended: [appended])
        return appended
    }

    public func updateLink(
        _ id: LinkID, scope: AgentScope, idempotency: IdempotencyCompletion<Link>?,
        transform: @escaping @Sendable (inout Link) throws -> [EventDraft]
    ) async throws -> (Link, [Event]) {
        let result = try await writeTransaction { db in
            // First: a replay answers as the first request did, whatever the link is now.
            if let idempotency { try Self.claim(idempotency.claim, in: db) }
            guard let current = try Self.firstLink(db, "SELECT * FROM links WHERE id = ?", [id.rawValue]),
                scope.permits(current.agentID)
            else { throw StoreError.notFound }
            var updated = current
            let drafts = try transform(&updated)
            let events = try Self.append(drafts, to: current, in: db)
            updated.lastSeq = events.last?.seq ?? current.lastSeq
            try db.execute(
                sql: "UPDATE links SET status = ?, expires_at = ?, amount_refunded = ?, last_seq = ? WHERE id = ?",
                arguments: [
                    updated.status.rawValue, updated.expiresAt.unixSeconds, updated.amountRefunded, updated.lastSeq,
                    id.rawValue,
                ])
            // Cancel, extend and expire never touch `locked` or `payment`; `updatePayments` owns them.
            if let idempotency { try Self.complete(idempotency, with: updated, in: db) }
            return (updated, events)
        }
        if !result.1.isEmpty { doorbell?.ring(appended: result.1) }
        return result
    }

    /// Appends events with the next per-link `seq`. Inside the caller's write transaction, and
    /// SQLite has one writer at a time, so two appends can never take the same number; the
    /// UNIQUE (link_id, seq) constraint would refuse it anyway.
    static func append(_ drafts: [EventDraft], to link: Link, in db: Database) throws -> [Event] {
        var seq = link.lastSeq
        return try drafts.map { draft in
            seq += 1
            return try PreparedEvent(draft, seq: seq, of: link).insert(in: db)
        }
    }

    public func link(_ id: LinkID, scope: AgentScope) async throws -> Link? {
        try await pool.read { db in
            guard let link = try Self.firstLink(db, "SELECT * FROM links WHERE id = ?", [id.rawValue]), scope.permits(link.agentID)
            else { return nil }
            return link
        }
    }

    public func link(tokenNonce: Data) async throws -> Link? {
        try await pool.read { db in
            try Self.firstLink(db, "SELECT * FROM links WHERE token_nonce = ?", [tokenNonce])
        }
    }

    public func links(_ query: LinkQuery) async throws -> (links: [Link], hasMore: Bool) {
        try await pool.read { db in
            var clauses: [String] = []
            var arguments: StatementArguments = []
            if case .own(let agent) = query.scope {
                clauses.append("agent_id = ?")
                arguments += [agent.rawValue]
            }
            if let after = query.startingAfter {
                clauses.append("row_seq < (SELECT row_seq FROM links WHERE id = ?)")
                arguments += [after.rawValue]
            }
            let now = query.now.unixSeconds
            switch query.status {
            case .open?:
                clauses.append("status = 'open' AND expires_at > ?")
                arguments += [now]
            case .expired?:
                clauses.append("(status = 'expired' OR (status = 'open' AND expires_at <= ?))")
                arguments += [now]
            case let other?:
                clauses.append("status = ?")
                arguments += [other.rawValue]
            case nil: break
            }
            for (column, value) in [
                ("reference", query.reference), ("customer_email", query.customerEmail), ("customer_phone", query.customerPhone),
            ] {
                if let value {
                    clauses.append("\(column) = ?")
                    arguments += [value]
                }
            }
            let whereSQL = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            arguments += [query.limit + 1]
            let rows = try Row.fetchCursor(db, sql: "SELECT * FROM links \(whereSQL) ORDER BY row_seq DESC LIMIT ?", arguments: arguments)
            var links: [Link] = []
            var count = 0
            while let row = try rows.next() {
                count += 1
                if count > query.limit { break }
                if let link = try Self.link(row) { links.append(link) }
            }
            return (links, count > query.limit)
        }
    }

    public func linksDueToExpire(asOf date: Date, limit: Int) async throws -> [LinkID] {
        try await pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT id FROM links WHERE status = 'open' AND expires_at <= ? ORDER BY expires_at LIMIT ?",
                arguments: [date.unixSeconds, limit]
            ).map(LinkID.init(trusted:))
        }
    }

    public func latestEventCursor(scope: AgentScope) async throws -> Int64 {
        try await pool.read { db in
            switch scope {
            case .all: try Int64.fetchOne(db, sql: "SELECT coalesce(max(cursor), 0) FROM events") ?? 0
            case .own(let agent):
                try Int64.fetchOne(db, sql: "SELECT coalesce(max(cursor), 0) FROM events WHERE agent_id = ?", arguments: [agent.rawValue]) ?? 0
            }
        }
    }

    public func events(link: LinkID, afterSeq: Int, limit: Int) async throws -> [Event] {
        try await pool.read { db in
            try Self.events(db, "SELECT * FROM events WHERE link_id = ? AND seq > ? ORDER BY seq LIMIT ?", [link.rawValue, afterSeq, limit])
        }
    }

    public func events(afterCursor: Int64, scope: AgentScope, limit: Int) async throws -> [Event] {
        try await pool.read { db in
            switch scope {
            case .all:
                try Self.events(db, "SELECT * FROM events WHERE cursor > ? ORDER BY cursor LIMIT ?", [afterCursor, limit])
            case .own(let agent):
                try Self.events(
                    db, "SELECT * FROM events WHERE agent_id = ? AND cursor > ? ORDER BY cursor LIMIT ?", [agent.rawValue, afterCursor, limit])
            }
        }
    }

    /// The link of the first row a cached statement returns. Rows are decoded where the cursor
    /// stands, never copied: a copied row finds each column by lowercasing every column name
    /// (GRDB's `StatementCopyRowImpl`), ≈ 600 lowercasings for one link.
    /// The row reads from the statement, so the cursor must outlive the decoding: released, it
    /// resets the statement and every column reads NULL.
    static func firstLink(_ db: Database, _ sql: String, _ arguments: StatementArguments) throws -> Link? {
        let rows = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments)
        return try withExtendedLifetime(rows) {
            guard let row = try rows.next() else { return nil }
            return try link(row)
        }
    }

    /// Every event a cached statement returns, decoded from the cursor's row (see `firstLink`).
    static func events(_ db: Database, _ sql: String, _ arguments: StatementArguments) throws -> [Event] {
        try Array(Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments).map(event))
    }

    static func link(_ row: Row) throws -> Link? {
        guard let currency = Currency(code: row["currency"]), let status = Link.Status(rawValue: row["status"]) else { return nil }
        let customerName: String? = row["customer_name"]
        let customerEmail: String? = row["customer_email"]
        let customerPhone: String? = row["customer_phone"]
        let hasCustomer = customerName != nil || customerEmail != nil || customerPhone != nil
        let channel: String? = row["conversation_channel"]
        let conversationID: String? = row["conversation_id"]
        return Link(
            id: LinkID(trusted: row["id"]), agentID: AgentID(trusted: row["agent_id"]), signingKeyID: row["signing_key_id"],
            tokenNonce: row["token_nonce"], status: status,
            amount: Money(minorUnits: row["amount"], currency: currency), reference: row["reference"],
            description: row["description"], locale: row["locale"], expiresAt: Date(unixSeconds: row["expires_at"]),
            createdAt: Date(unixSeconds: row["created_at"]),
            customer: hasCustomer ? .init(name: customerName, email: customerEmail, phone: customerPhone) : nil,
            metadata: try StoreJSON.decode([String: String].self, from: row["metadata"]),
            conversation: channel.flatMap { channel in conversationID.map { .init(channel: channel, id: $0) } },
            amountRefunded: row["amount_refunded"], lastSeq: row["last_seq"], locked: row["locked"],
            payment: try (row["payment"] as String?).map { try StoreJSON.decode(PaymentSummary.self, from: $0) })
    }

    static func event(_ row: Row) throws -> Event {
        Event(
            id: EventID(trusted: row["id"]), linkID: LinkID(trusted: row["link_id"]), agentID: AgentID(trusted: row["agent_id"]),
            seq: row["seq"], cursor: row["cursor"], type: EventType(rawValue: row["type"]),
            createdAt: Date(unixSeconds: row["created_at"]),
            data: try StoreJSON.decode([String: JSONValue].self, from: row["data"]))
    }
}

/// An event ready to insert: its id made and its data encoded, so that inside a transaction
/// only the INSERT is left to run.
struct PreparedEvent: Sendable {
    private let id: EventID
    private let linkID: LinkID
    private let agentID: AgentID
    private let seq: Int
    private let draft: EventDraft
    private let arguments: StatementArguments

    init(_ draft: EventDraft, seq: Int, of link: Link) throws {
        id = EventID.generate()
        linkID = link.id
        agentID = link.agentID
        self.seq = seq
        self.draft = draft
        arguments = [
            id.rawValue, link.id.rawValue, link.agentID.rawValue, seq, draft.type.rawValue, draft.createdAt.unixSeconds,
            try StoreJSON.encode(draft.data),
        ]
    }

    /// Inserts it; the stored event, with the cursor the insert gave it.
    func insert(in db: Database) throws -> Event {
        try db.cachedStatement(
            sql: "INSERT INTO events (id, link_id, agent_id, seq, type, created_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)"
        ).execute(arguments: arguments)
        return Event(
            id: id, linkID: linkID, agentID: agentID, seq: seq, cursor: db.lastInsertedRowID, type: draft.type,
            createdAt: Date(unixSeconds: draft.createdAt.unixSeconds), data: draft.data)
    }
}

/// JSON columns (metadata, event data) are written with sorted keys so equal values are equal bytes.
enum StoreJSON {
    /// Link metadata, keys sorted. Written by hand: `JSONEncoder` took microseconds even for `{}`.
    static func encode(_ value: [String: String]) -> String {
        if value.isEmpty { return "{}" }
        var writer = JSONWriter(capacity: 256)
        writer.object(value)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Event data, keys sorted, by hand for the same reason.
    static func encode(_ value: [String: JSONValue]) throws -> String {
        var writer = JSONWriter(capacity: 256)
        try writer.object(value)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Event data, read back with the same parser that reads request bodies: numbers keep the
    /// kind they were written with, and it costs a fraction of `JSONDecoder` (every SSE event
    /// and every listed event is decoded).
    static func decode(_ type: [String: JSONValue].Type, from text: String) throws -> [String: JSONValue] {
        do {
            return try JSONParser.parseObject(Data(text.utf8))
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "stored JSON: \(error.message)"))
        }
    }

    /// Link metadata: an object of strings, most often empty.
    static func decode(_ type: [String: String].Type, from text: String) throws -> [String: String] {
        if text == "{}" { return [:] }
        var metadata: [String: String] = [:]
        for (key, value) in try decode([String: JSONValue].self, from: text) {
            guard case .string(let string) = value else {
                throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "stored metadata value is not a string"))
            }
            metadata[key] = string
        }
        return metadata
    }

    static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}
