import Logging
import PostgresNIO

/// Versioned schema of the PostgreSQL store, applied under an advisory lock so instances
/// starting together migrate once: the second waits, then finds nothing to do.
enum PostgresMigrations {
    static let lockKey: Int64 = 0x7061_796c_696e_6b00

    static let migrations: [(version: String, sql: [String])] = [
        (
            "v1-core",
            [
                """
                CREATE TABLE agents (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
                    disabled BOOLEAN NOT NULL DEFAULT FALSE,
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE api_keys (
                    lookup_id TEXT PRIMARY KEY,
                    agent_id TEXT NOT NULL REFERENCES agents(id),
                    digest BYTEA NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE signing_keys (
                    id SERIAL PRIMARY KEY,
                    sealed_secret BYTEA NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('current', 'active', 'retired')),
                    created_at BIGINT NOT NULL,
                    retired_at BIGINT
                )
                """,
                "CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys(status) WHERE status = 'current'",
                """
                CREATE TABLE links (
                    row_seq BIGSERIAL PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    agent_id TEXT NOT NULL REFERENCES agents(id),
                    signing_key_id INTEGER NOT NULL REFERENCES signing_keys(id),
                    token_nonce BYTEA NOT NULL UNIQUE,
                    status TEXT NOT NULL CHECK (status IN ('open', 'paid', 'expired', 'cancelled')),
                    amount BIGINT NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    reference TEXT NOT NULL,
                    description TEXT,
                    locale TEXT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    created_at BIGINT NOT NULL,
                    customer_name TEXT,
                    customer_email TEXT,
                    customer_phone TEXT,
                    metadata TEXT NOT NULL,
                    conversation_channel TEXT,
                    conversation_id TEXT,
                    amount_refunded BIGINT NOT NULL DEFAULT 0,
                    last_seq INTEGER NOT NULL
                )
                """,
                "CREATE INDEX links_agent ON links(agent_id, row_seq)",
                "CREATE INDEX links_due ON links(expires_at) WHERE status = 'open'",
                "CREATE INDEX links_reference ON links(reference)",
                "CREATE INDEX links_customer_email ON links(customer_email)",
                "CREATE INDEX links_customer_phone ON links(customer_phone)",
                """
                CREATE TABLE events (
                    cursor BIGSERIAL PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    link_id TEXT NOT NULL REFERENCES links(id),
                    agent_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    type TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    data TEXT NOT NULL,
                    UNIQUE (link_id, seq)
                )
                """,
                "CREATE INDEX events_agent ON events(agent_id, cursor)",
                """
                CREATE TABLE idempotency_keys (
                    agent_id TEXT NOT NULL,
                    key TEXT NOT NULL,
                    request_hash BYTEA NOT NULL,
                    created_at BIGINT NOT NULL,
                    locked_until BIGINT,
                    response_status INTEGER,
                    response_body BYTEA,
                    PRIMARY KEY (agent_id, key)
                )
                """,
                "CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at)",
            ]
        ),
        (
            "v2-payments",
            [
                "ALTER TABLE links ADD COLUMN locked BOOLEAN NOT NULL DEFAULT FALSE",
                "ALTER TABLE links ADD COLUMN payment TEXT",
                """
                CREATE TABLE payments (
                    row_seq BIGSERIAL PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    link_id TEXT NOT NULL REFERENCES links(id),
                    status TEXT NOT NULL
                        CHECK (status IN ('processing', 'requires_action', 'succeeded', 'declined', 'failed', 'blocked')),
                    fingerprint TEXT,
                    client_ip_hash TEXT,
                    psp_token TEXT NOT NULL UNIQUE,
                    psp_charge_id TEXT UNIQUE,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    body TEXT NOT NULL
                )
                """,
                // Exactly once, in the database: one live-or-succeeded attempt per link.
                """
                CREATE UNIQUE INDEX payments_one_holding ON payments(link_id)
                    WHERE status IN ('processing', 'requires_action', 'succeeded')
                """,
                "CREATE INDEX payments_link ON payments(link_id, row_seq)",
                "CREATE INDEX payments_fingerprint ON payments(fingerprint, created_at)",
                "CREATE INDEX payments_client_ip ON payments(client_ip_hash, created_at)",
                "CREATE INDEX payments_pending ON payments(updated_at) WHERE status IN ('processing', 'requires_action')",
                """
                CREATE TABLE link_activity (
                    link_id TEXT PRIMARY KEY REFERENCES links(id),
                    last_activity_at BIGINT,
                    stalled_at BIGINT,
                    body TEXT NOT NULL
                )
                """,
                "CREATE INDEX link_activity_silence ON link_activity(last_activity_at)",
                """
                CREATE TABLE webhook_receipts (
                    provider TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    link_id TEXT NOT NULL,
                    received_at BIGINT NOT NULL,
                    PRIMARY KEY (provider, event_id)
                )
                """,
            ]
        ),
        // See the SQLite migration of the same name: NULL contacts stay out of the indexes.
        (
            "v3-partial-contact-indexes",
            [
                "DROP INDEX links_customer_email",
                "CREATE INDEX links_customer_email ON links(customer_email) WHERE customer_email IS NOT NULL",
                "DROP INDEX links_customer_phone",
                "CREATE INDEX links_customer_phone ON links(customer_phone) WHERE customer_phone IS NOT NULL",
            ]
        ),
        // See the SQLite migration of the same name: receipts are pruned by age.
        ("v5-webhook-receipts-by-age", ["CREATE INDEX webhook_receipts_received ON webhook_receipts(received_at)"]),
    ]

    static func apply(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_lock(\(lockKey))", logger: logger)
        do {
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS paylink_migrations (version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                logger: logger)
            let applied = try await appliedVersions(on: connection, logger: logger)
            for migration in migrations where !applied.contains(migration.version) {
                try await connection.query("BEGIN", logger: logger)
                do {
                    for statement in migration.sql {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("INSERT INTO paylink_migrations (version) VALUES (\(migration.version))", logger: logger)
                    try await connection.query("COMMIT", logger: logger)
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
            throw error
        }
        try await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
    }

    static func pending(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        let exists = try await connection.query("SELECT to_regclass('paylink_migrations') IS NOT NULL", logger: logger)
        var tableExists = false
        for try await (value) in exists.decode(Bool.self) { tableExists = value }
        guard tableExists else { return migrations.map(\.version) }
        let applied = try await appliedVersions(on: connection, logger: logger)
        return migrations.map(\.version).filter { !applied.contains($0) }
    }

    private static func appliedVersions(on connection: PostgresConnection, logger: Logger) async throws -> Set<String> {
        var versions = Set<String>()
        for try await version in try await connection.query("SELECT version FROM paylink_migrations", logger: logger).decode(String.self) {
            versions.insert(version)
        }
        return versions
    }
}
