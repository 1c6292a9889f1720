import Crypto
import Foundation
import Synchronization

/// The link-signing keys, unsealed in memory and refreshed from the store every few seconds,
/// so `paylink keys rotate` and `keys retire` run from the CLI take effect in a running server.
public final class SigningKeyRing: Sendable {
    public enum Failure: Error, Equatable {
        case unknownKey
        case retiringCurrentKey
        /// The key stopped being current less than `retireGrace` ago: running servers may not
        /// have reloaded yet and may still be signing new links with it.
        case recentlyCurrent
    }

    /// How long after a rotation the key it replaced cannot be retired: servers reload the
    /// ring every `refreshInterval` (2 s), and key times are stored in whole seconds.
    public static let retireGrace: TimeInterval = 5

    struct Entry: Sendable {
        let signer: LinkToken.Signer
        let status: StoredSigningKey.Status
    }

    private struct Cache {
        var entries: [Int: Entry] = [:]
        var currentID: Int?
        var loadedAt: ContinuousClock.Instant?
        /// The same keys for renderers, built once per reload rather than per request.
        var snapshot = Snapshot(signers: [:])
    }

    static let sealPurpose = "link-signing-key"
    private let store: any PaylinkStore
    private let dataKey: DataKey
    private let refreshInterval: Duration
    private let cache = Mutex(Cache())

    public init(store: any PaylinkStore, dataKey: DataKey, refreshInterval: Duration = .seconds(2)) {
        self.store = store
        self.dataKey = dataKey
        self.refreshInterval = refreshInterval
    }

    /// Makes sure a current key exists (first run) and loads the ring.
    public func bootstrap(now: Date) async throws {
        if try await store.signingKeys().contains(where: { $0.status == .current }) == false {
            do {
                _ = try await rotate(now: now)
            } catch StoreError.duplicate {
                // Another instance created the first key at the same moment; use theirs.
            }
        }
        try await reload()
    }

    /// Adds a new key and makes it current. Earlier keys keep verifying until retired.
    @discardableResult
    public func rotate(now: Date) async throws -> StoredSigningKey {
        let secret = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let stored = try await store.insertSigningKey(sealedSecret: try dataKey.seal(secret, purpose: Self.sealPurpose), createdAt: now)
        try await reload()
        return stored
    }

    /// Retires a key: links it signed stop opening. The current key cannot be retired; rotate first.
    public func retire(id: Int, now: Date) async throws -> StoredSigningKey {
        let keys = try await store.signingKeys()
        guard let key = keys.first(where: { $0.id == id }) else { throw Failure.unknownKey }
        guard key.status != .current else { throw Failure.retiringCurrentKey }
        // Its successor's creation is when it stopped being current. Retiring it at once would
        // kill links a running server signed with it in the seconds before it reloaded.
        if let successor = keys.filter({ $0.id > id }).min(by: { $0.id < $1.id }),
            now.timeIntervalSince(successor.createdAt) < Self.retireGrace
        {
            throw Failure.recentlyCurrent
        }
        guard let retired = try await store.retireSigningKey(id: id, at: now) else { throw Failure.unknownKey }
        try await reload()
        return retired
    }

    public func list() async throws -> [StoredSigningKey] { try await store.signingKeys() }

    /// Signs a fresh token with the current key.
    func issue() async throws -> (token: LinkToken, encoded: String) {
        let cache = try await fresh()
        guard let currentID = cache.currentID, let entry = cache.entries[currentID] else { throw Failure.unknownKey }
        let token = LinkToken.random(keyID: currentID)
        return (token, token.encoded(with: entry.signer))
    }

    /// A fresh token for the current key, not encoded: a create encodes it once, for the response's `url`.
    func newToken() async throws -> LinkToken {
        guard let currentID = try await fresh().currentID else { throw Failure.unknownKey }
        return LinkToken.random(keyID: currentID)
    }

    /// The keys as they are now, for encoding tokens where no `await` is possible (inside a transaction).
    func snapshot() async throws -> Snapshot {
        try await fresh().snapshot
    }

    struct Snapshot: Sendable {
        let signers: [Int: LinkToken.Signer]

        /// Re-encodes a stored link's token for its `url`.
        func encode(_ token: LinkToken) throws -> String {
            guard let signer = signers[token.keyID] else { throw Failure.unknownKey }
            return token.encoded(with: signer)
        }
    }

    /// The link a customer's page token names; nil for an unknown, altered, truncated or
    /// retired-key token alike, so callers cannot tell them apart.
    func link(presented: String, in store: any PaylinkStore) async throws -> Link? {
        guard let token = try await verify(presented) else { return nil }
        return try await store.link(tokenNonce: token.nonce)
    }

    /// The nonce of a genuine token signed by a key that is not retired; nil for anything else.
    func verify(_ presented: String) async throws -> LinkToken? {
        guard let (token, tag) = LinkToken.parse(presented) else { return nil }
        guard let entry = try await fresh().entries[token.keyID], entry.status != .retired else { return nil }
        return token.verify(tag: tag, with: entry.signer) ? token : nil
    }

    private func fresh() async throws -> Cache {
        let snapshot = cache.withLock { $0 }
        if let loadedAt = snapshot.loadedAt, loadedAt.duration(to: .now) < refreshInterval { return snapshot }
        try await reload()
        return cache.withLock { $0 }
    }

    private func reload() async throws {
        var next = Cache()
        for stored in try await store.signingKeys() {
            let secret = try dataKey.open(stored.sealedSecret, purpose: Self.sealPurpose)
            next.entries[stored.id] = Entry(signer: LinkToken.Signer(key: SymmetricKey(data: secret)), status: stored.status)
            if stored.status == .current { next.currentID = stored.id }
        }
        next.snapshot = Snapshot(signers: next.entries.mapValues(\.signer))
        next.loadedAt = .now
        cache.withLock { $0 = next }
    }
}
