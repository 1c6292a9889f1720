import Crypto
import Foundation
import HTTPTypes

/// Stripe's `Idempotency-Key` for the sandbox's POSTs: the first response is kept for 24 hours and
/// replayed for the same key and the same request (path and raw body); the same key with a
/// different request is 422, and a duplicate arriving while the first is still running is 409.
///
/// Requests that fail validation (a thrown error) are not stored, as at Stripe, so they can be fixed and retried.
actor IdempotencyCache {
    struct Stored: Sendable {
        let status: HTTPResponse.Status
        let body: Data
    }

    enum Decision: Sendable {
        case proceed
        case replay(Stored)
    }

    private enum Entry {
        case running(fingerprint: Data)
        case done(fingerprint: Data, response: Stored, at: ContinuousClock.Instant)
    }

    private var entries: [String: Entry] = [:]
    private let clock = ContinuousClock()
    private let retention: Duration = .seconds(86_400)

    static func validate(_ key: String) throws -> String {
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw PSPError.idempotencyKeyInvalid
        }
        return key
    }

    static func fingerprint(path: String, body: Data) -> Data {
        var hash = SHA256()
        hash.update(data: Data(path.utf8))
        hash.update(data: Data([0]))
        hash.update(data: body)
        return Data(hash.finalize())
    }

    func begin(key: String, fingerprint: Data) throws -> Decision {
        purge()
        switch entries[key] {
        case nil:
            entries[key] = .running(fingerprint: fingerprint)
            return .proceed
        case .running(let stored):
            throw stored == fingerprint ? PSPError.idempotencyKeyInUse : PSPError.idempotencyKeyReused
        case .done(let stored, let response, _):
            guard stored == fingerprint else { throw PSPError.idempotencyKeyReused }
            return .replay(response)
        }
    }

    func finish(key: String, fingerprint: Data, response: Stored) {
        entries[key] = .done(fingerprint: fingerprint, response: response, at: clock.now)
    }

    func abandon(key: String) {
        if case .running = entries[key] { entries[key] = nil }
    }

    private func purge() {
        let now = clock.now
        for (key, entry) in entries {
            if case .done(_, _, let at) = entry, at.duration(to: now) > retention { entries[key] = nil }
        }
    }
}
