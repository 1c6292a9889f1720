import GRDB

/// Versioned schema of the SQLite store. Never edit a shipped migration; add the next one.
enum SQLiteMigrations {
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-core") { db in
            try db.execute(
                sql: """
                    CREATE TABLE agents (
                        id TEXT PRIMARY KEY,
                        name TEXT NOT NULL,
                        role TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
                        disabled INTEGER NOT NULL DEFAULT 0,
                        created_at INTEGER NOT NULL
                    );
                    CREATE TABLE api_keys (
                        lookup_id TEXT PRIMARY KEY,
                        agent_id TEXT NOT NULL REFERENCES agents(id),
                        digest BLOB NOT NULL,
                        created_at INTEGER NOT NULL
                    );
                    CREATE TABLE signing_keys (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        sealed_secret BLOB NOT NULL,
                        status TEXT NOT NULL CHECK (status IN ('current', 'active', 'retired')),
                        created_at INTEGER NOT NULL,
                        retired_at INTEGER
                    );
                    CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys(status) WHERE status = 'current';
                    CREATE TABLE links (
                        row_seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        agent_id TEXT NOT NULL REFERENCES agents(id),
                        signing_key_id INTEGER NOT NULL REFERENCES signing_keys(id),
                        token_nonce BLOB NOT NULL UNIQUE,
                        status TEXT NOT NULL CHECK (status IN ('open', 'paid', 'expired', 'cancelled')),
                        amount INTEGER NOT NULL CHECK (amount > 0),
                        currency TEXT NOT NULL,
                        reference TEXT NOT NULL,
                        description TEXT,
                        locale TEXT NOT NULL,
                        expires_at INTEGER NOT NULL,
                        created_at INTEGER NOT NULL,
                        customer_name TEXT,
                        customer_email TEXT,
                        customer_phone TEXT,
                        metadata TEXT NOT NULL,
                        conversation_channel TEXT,
                        conversation_id TEXT,
                        amount_refunded INTEGER NOT NULL DEFAULT 0,
                        last_seq INTEGER NOT NULL
                    );
                    CREATE INDEX links_agent ON links(agent_id, row_seq);
                    CREATE INDEX links_due ON links(expires_at) WHERE status = 'open';
                    CREATE INDEX links_reference ON links(reference);
                    CREATE INDEX links_customer_email ON links(customer_email);
                    CREATE INDEX links_customer_phone ON links(customer_phone);
                    CREATE TABLE events (
                        cursor INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        link_id TEXT NOT NULL REFERENCES links(id),
                        agent_id TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        type TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        data TEXT NOT NULL,
                        UNIQUE (link_id, seq)
                    );
                    CREATE INDEX events_agent ON events(agent_id, cursor);
                    CREATE TABLE idempotency_keys (
                        agent_id TEXT NOT NULL,
                        key TEXT NOT NULL,
                        request_hash BLOB NOT NULL,
                        created_at INTEGER NOT NULL,
                        locked_until INTEGER,
                        response_status INTEGER,
                        response_body BLOB,
                        PRIMARY KEY (agent_id, key)
                    );
                    CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
                    """)
        }
        migrator.registerMigration("v2-payments") { db in
            try db.execute(
                sql: """
                    ALTER TABLE links ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE links ADD COLUMN payment TEXT;
                    CREATE TABLE payments (
                        row_seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        link_id TEXT NOT NULL REFERENCES links(id),
                        status TEXT NOT NULL
                            CHECK (status IN ('processing', 'requires_action', 'succeeded', 'declined', 'failed', 'blocked')),
                        fingerprint TEXT,
                        client_ip_hash TEXT,
                        psp_token TEXT NOT NULL UNIQUE,
                        psp_charge_id TEXT UNIQUE,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL,
                        body TEXT NOT NULL
                    );
                    -- Exactly once, in the database: one live-or-succeeded attempt per link.
                    CREATE UNIQUE INDEX payments_one_holding ON payments(link_id)
                        WHERE status IN ('processing', 'requires_action', 'succeeded');
                    CREATE INDEX payments_link ON payments(link_id, row_seq);
                    CREATE INDEX payments_fingerprint ON payments(fingerprint, created_at);
                    CREATE INDEX payments_client_ip ON payments(client_ip_hash, created_at);
                    CREATE INDEX payments_pending ON payments(updated_at) WHERE status IN ('processing', 'requires_action');
                    CREATE TABLE link_activity (
                        link_id TEXT PRIMARY KEY REFERENCES links(id),
                        last_activity_at INTEGER,
                        stalled_at INTEGER,
                        body TEXT NOT NULL
                    );
                    CREATE INDEX link_activity_silence ON link_activity(last_activity_at);
                    CREATE TABLE webhook_receipts (
                        provider TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        link_id TEXT NOT NULL,
                        received_at INTEGER NOT NULL,
                        PRIMARY KEY (provider, event_id)
                    );
                    """)
        }
        // Most links carry an email or a phone, not both, and many neither: every NULL was still
        // an entry in each index, a B-tree insert and a dirty page per batch for nothing. Lookups
        // (`customer_email = ?`) imply IS NOT NULL, so they use the partial index just the same.
        migrator.registerMigration("v3-partial-contact-indexes") { db in
            try db.execute(
                sql: """
                    DROP INDEX links_customer_email;
                    CREATE INDEX links_customer_email ON links(customer_email) WHERE customer_email IS NOT NULL;
                    DROP INDEX links_customer_phone;
                    CREATE INDEX links_customer_phone ON links(customer_phone) WHERE customer_phone IS NOT NULL;
                    """)
        }
        // Every create committed more WAL pages than it needed: `sqlite_sequence` (one page per
        // commit, and a lookup and an update of it per insert into links and events), and the
        // unique index on `events.id` (a second page per commit), an id nothing ever looks up.
        // Rowids are still never reused without AUTOINCREMENT, because no link or event is ever
        // deleted: SQLite takes max(rowid) + 1, which is what AUTOINCREMENT gave. Event ids stay
        // unique by their 95 random bits after the millisecond, with no index to back that up
        // (link ids keep theirs: lookups by id need it).
        //
        // SQLite cannot drop either from a table, so both tables are rebuilt (its documented
        // twelve-step way: the migrator runs this with foreign keys off and checks them all
        // before it commits; other tables' `REFERENCES links(id)` name the table, so they point
        // at the rebuilt one). A one-time copy of every link and event on upgrade.
        migrator.registerMigration("v4-lean-append") { db in
            try db.execute(
                sql: """
                    CREATE TABLE links_v4 (
                        row_seq INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE,
                        agent_id TEXT NOT NULL REFERENCES agents(id),
                        signing_key_id INTEGER NOT NULL REFERENCES signing_keys(id),
                        token_nonce BLOB NOT NULL UNIQUE,
                        status TEXT NOT NULL CHECK (status IN ('open', 'paid', 'expired', 'cancelled')),
                        amount INTEGER NOT NULL CHECK (amount > 0),
                        currency TEXT NOT NULL,
                        reference TEXT NOT NULL,
                        description TEXT,
                        locale TEXT NOT NULL,
                        expires_at INTEGER NOT NULL,
                        created_at INTEGER NOT NULL,
                        customer_name TEXT,
                        customer_email TEXT,
                        customer_phone TEXT,
                        metadata TEXT NOT NULL,
                        conversation_channel TEXT,
                        conversation_id TEXT,
                        amount_refunded INTEGER NOT NULL DEFAULT 0,
                        last_seq INTEGER NOT NULL,
                        locked INTEGER NOT NULL DEFAULT 0,
                        payment TEXT
                    );
                    INSERT INTO links_v4 (row_seq, id, agent_id, signing_key_id, token_nonce, status, amount, currency,
                        reference, description, locale, expires_at, created_at, customer_name, customer_email,
                        customer_phone, metadata, conversation_channel, conversation_id, amount_refunded, last_seq,
                        locked, payment)
                    SELECT row_seq, id, agent_id, signing_key_id, token_nonce, status, amount, currency,
                        reference, description, locale, expires_at, created_at, customer_name, customer_email,
                        customer_phone, metadata, conversation_channel, conversation_id, amount_refunded, last_seq,
                        locked, payment
                    FROM links ORDER BY row_seq;
                    DROP TABLE links;
                    ALTER TABLE links_v4 RENAME TO links;
                    CREATE INDEX links_agent ON links(agent_id, row_seq);
                    CREATE INDEX links_due ON links(expires_at) WHERE status = 'open';
                    CREATE INDEX links_reference ON links(reference);
                    CREATE INDEX links_customer_email ON links(customer_email) WHERE customer_email IS NOT NULL;
                    CREATE INDEX links_customer_phone ON links(customer_phone) WHERE customer_phone IS NOT NULL;

                    CREATE TABLE events_v4 (
                        cursor INTEGER PRIMARY KEY,
                        id TEXT NOT NULL,
                        link_id TEXT NOT NULL REFERENCES links(id),
                        agent_id TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        type TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        data TEXT NOT NULL,
                        UNIQUE (link_id, seq)
                    );
                    INSERT INTO events_v4 (cursor, id, link_id, agent_id, seq, type, created_at, data)
                    SELECT cursor, id, link_id, agent_id, seq, type, created_at, data FROM events ORDER BY cursor;
                    DROP TABLE events;
                    ALTER TABLE events_v4 RENAME TO events;
                    CREATE INDEX events_agent ON events(agent_id, cursor);
                    """)
        }
        // Receipts are pruned by age (`WebhookReceipt.retention`): without an index each sweep
        // would scan the table holding the writer.
        migrator.registerMigration("v5-webhook-receipts-by-age") { db in
            try db.execute(sql: "CREATE INDEX webhook_receipts_received ON webhook_receipts(received_at)")
        }
        return migrator
    }()
}
