import Foundation
import Logging

/// The rules of a link's life: issue, cancel, extend, expire. Route handlers and background
/// services call these; the store only makes each call atomic with its events.
public struct LinkService: Sendable {
    let store: any PaylinkStore
    let keyRing: SigningKeyRing
    let clock: any WallClock
    let publicURL: String
    let maxAmount: Int64
    let sealer: ResponseSealer

    /// Why a state change was refused: 409s that name the state in the way.
    enum Refusal: APIErrorConvertible {
        case paid, cancelled, expired

        var apiError: APIError {
            switch self {
            case .paid: APIError(status: .conflict, code: "link_paid", message: "This link has been paid.")
            case .cancelled: APIError(status: .conflict, code: "link_cancelled", message: "This link is cancelled.")
            case .expired: APIError(status: .conflict, code: "link_expired", message: "This link has expired.")
            }
        }

        init?(_ status: Link.Status) {
            switch status {
            case .open: return nil
            case .paid: self = .paid
            case .cancelled: self = .cancelled
            case .expired: self = .expired
            }
        }
    }

    func create(_ request: CreateLinkRequest, by agent: Agent, idempotency: IdempotencyClaim?) async throws -> Link {
        let now = clock.now()
        let token = try await keyRing.newToken()
        let link = Link(
            id: .generate(), agentID: agent.id, signingKeyID: token.keyID, tokenNonce: token.nonce, status: .open,
            amount: request.amount, reference: request.reference, description: request.description, locale: request.locale,
            expiresAt: now.addingTimeInterval(TimeInterval(request.expiresIn)), createdAt: now, customer: request.customer,
            metadata: request.metadata, conversation: request.conversation, amountRefunded: 0, lastSeq: 0)
        let event = EventDraft(
            .linkCreated, at: now,
            data: [
                "amount": .integer(link.amount.minorUnits), "currency": .string(link.amount.currency.code),
                "reference": .string(link.reference), "expires_at": .string(RFC3339.string(link.expiresAt)),
                "agent_id": .string(agent.id.rawValue),
            ])
        _ = try await store.insertLink(link, event: event, idempotency: completion(idempotency, status: 201, now: now))
        var created = link
        created.lastSeq = 1
        return created
    }

    func cancel(_ id: LinkID, by agent: Agent, idempotency: IdempotencyClaim?) async throws -> Link {
        let now = clock.now()
        return try await mutate(id, by: agent, idempotency: idempotency, now: now) { link in
            if let refusal = Refusal(link.status(at: now)) { throw refusal }
            // Under the link's row lock, as a payment's admission is: an attempt that holds the
            // link (being charged, or waiting for 3-D Secure) could still take the money.
            // `LinksController` cancels a 3-D Secure attempt at the PSP and asks again.
            if let payment = link.payment, payment.status.holdsLink { throw PaymentRefusal.paymentInProgress }
            link.status = .cancelled
            return [EventDraft(.linkCancelled, at: now, data: ["cancelled_by": .string(agent.id.rawValue)])]
        }
    }

    /// Pushes `expires_at` out by `seconds`, keeping the link within 7 days of now.
    func extend(_ id: LinkID, by seconds: Int64, agent: Agent, idempotency: IdempotencyClaim?) async throws -> Link {
        let now = clock.now()
        return try await mutate(id, by: agent, idempotency: idempotency, now: now) { link in
            if let refusal = Refusal(link.status(at: now)) { throw refusal }
            let previous = link.expiresAt
            let next = previous.addingTimeInterval(TimeInterval(seconds))
            guard next.timeIntervalSince(now) <= TimeInterval(CreateLinkRequest.expiresInRange.upperBound) else {
                throw APIError.invalid(
                    "expires_in", code: "expires_in_out_of_range", "A link cannot be open for more than 7 days from now.")
            }
            link.expiresAt = next
            return [
                EventDraft(
                    .linkExtended, at: now,
                    data: ["expires_at": .string(RFC3339.string(next)), "previous_expires_at": .string(RFC3339.string(previous))])
            ]
        }
    }

    /// Records that an open link's time ran out. A no-op for a link that is no longer open
    /// or was extended meanwhile, so the sweeper on several instances can race harmlessly.
    func expire(_ id: LinkID) async throws -> Bool {
        let now = clock.now()
        let (_, events) = try await store.updateLink(id, scope: .all, idempotency: nil) { link in
            guard link.status == .open, link.expiresAt <= now else { return [] }
            link.status = .expired
            return [EventDraft(.linkExpired, at: now, data: ["expires_at": .string(RFC3339.string(link.expiresAt))])]
        }
        return !events.isEmpty
    }

    func link(_ id: LinkID, for agent: Agent) async throws -> Link {
        guard let link = try await store.link(id, scope: agent.scope) else { throw APIError.resourceMissing("link", id: id.rawValue) }
        return link
    }

    private func mutate(
        _ id: LinkID, by agent: Agent, idempotency: IdempotencyClaim?, now: Date,
        _ transform: @escaping @Sendable (inout Link) throws -> [EventDraft]
    ) async throws -> Link {
        do {
            return try await store.updateLink(
                id, scope: agent.scope, idempotency: completion(idempotency, status: 200, now: now), transform: transform
            ).0
        } catch StoreError.notFound {
            throw APIError.resourceMissing("link", id: id.rawValue)
        }
    }

    private func completion(_ claim: IdempotencyClaim?, status: Int, now: Date) async throws -> IdempotencyCompletion<Link>? {
        guard let claim else { return nil }
        let renderer = try await renderer(now: now)
        let sealer = self.sealer
        return IdempotencyCompletion(claim: claim) { link in
            StoredResponse(status: status, body: try sealer.seal(try renderer.render(link)))
        }
    }

    /// A renderer with the signing keys it needs already in hand, so it can run inside a transaction.
    func renderer(now: Date) async throws -> LinkRenderer {
        LinkRenderer(keys: try await keyRing.snapshot(), publicURL: publicURL, now: now)
    }
}

/// RFC 3339 UTC with second precision, the only time format in the API:
/// `2026-11-25T16:46:04Z`: UTC, whole seconds (fractions dropped), what `.iso8601` writes.
///
/// Written by hand from the Unix time (days to civil date after Howard Hinnant's
/// `civil_from_days`): `Date.ISO8601FormatStyle` cost ≈ 2 % of a create's CPU for three dates.
/// Before 1970 or after 9999 it falls back to the format style (whose calendar is Julian
/// before 1582); Paylink's times are all "now" or later. Tested against it.
enum RFC3339 {
    static func string(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970.rounded(.down)
        // 1970 to 9999, in Unix seconds.
        guard interval >= 0, interval < 253_402_300_800 else { return date.formatted(.iso8601) }
        let seconds = Int64(interval)
        let (quotient, remainder) = seconds.quotientAndRemainder(dividingBy: 86_400)
        let secondOfDay = Int(remainder)
        let shifted = quotient + 719_468
        let era = shifted / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        let month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        let year = Int(yearOfEra + era * 400) + (month <= 2 ? 1 : 0)
        return String(unsafeUninitializedCapacity: 20) { output in
            func put(_ value: Int, _ width: Int, at offset: Int) {
                var value = value
                for position in stride(from: offset + width - 1, through: offset, by: -1) {
                    output[position] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
            }
            put(year, 4, at: 0)
            output[4] = UInt8(ascii: "-")
            put(month, 2, at: 5)
            output[7] = UInt8(ascii: "-")
            put(day, 2, at: 8)
            output[10] = UInt8(ascii: "T")
            put(secondOfDay / 3600, 2, at: 11)
            output[13] = UInt8(ascii: ":")
            put(secondOfDay / 60 % 60, 2, at: 14)
            output[16] = UInt8(ascii: ":")
            put(secondOfDay % 60, 2, at: 17)
            output[19] = UInt8(ascii: "Z")
            return 20
        }
    }
}
