import Crypto
import Foundation
import Logging

/// The rules of paying a link: what the page may report, how a payment is admitted, checked,
/// charged and settled, and what happens when a link goes quiet. The store makes each step
/// atomic with its events; the exactly-once guarantee rests on the link row lock plus the
/// payments table's "one live-or-succeeded attempt per link" index, never on memory.
public struct PaymentService: Sendable {
    let store: any PaylinkStore
    let keyRing: SigningKeyRing
    let clock: any WallClock
    let psp: PSPClient?
    let settings: PaymentSettings
    let publicURL: String
    /// Keys the client-IP hash, so velocity per IP works without keeping addresses.
    let ipKey: SymmetricKey
    let limiter: ProgressRateLimiter
    let logger: Logger

    // MARK: The link behind a page token

    /// The link a page token names, or `linkNotFound` for anything unknown, altered or retired.
    func link(token: String) async throws -> Link {
        guard let link = try await keyRing.link(presented: token, in: store) else { throw PaymentRefusal.linkNotFound }
        return link
    }

    // MARK: Progress from the page

    /// Records a step the customer took, once per step and attempt. Returns whether it was new.
    func report(_ report: ProgressReport, token: String) async throws -> Bool {
        let link = try await link(token: token)
        let now = clock.now()
        if let wait = limiter.admit(link.id, help: report.kind == .needsHelp, now: now) {
            throw PaymentRefusal.rateLimited(retryAfter: wait)
        }
        let (_, events) = try await store.updatePayments(link.id, receipt: nil) { record in
            switch record.link.status(at: now) {
            case .open: break
            case .paid: throw PaymentRefusal.linkPaid
            case let closed: throw PaymentRefusal.linkClosed(closed)
            }
            // A locked link can still ask for help; it cannot start another card entry.
            if record.link.locked, report.kind != .needsHelp { throw PaymentRefusal.linkLocked }
            let attempt = record.payments.count + 1
            let mark: String
            var data: [String: JSONValue] = [:]
            switch report.kind {
            case .opened: mark = "opened"
            case .cardEntryStarted: mark = "entry_started:\(attempt)"
            case .cardFieldCompleted:
                let field = report.field?.rawValue ?? "unknown"
                mark = "field:\(attempt):\(field)"
                data["field"] = .string(field)
            case .cardEntryCompleted: mark = "entry_completed:\(attempt)"
            case .needsHelp:
                // Once per half minute: a customer pressing again later is asking again.
                mark = "help:\(Int64(now.timeIntervalSince1970) / 30)"
            }
            guard !record.activity.marks.contains(mark) else { return [] }
            record.activity.marks.insert(mark)
            if report.kind == .opened { record.activity.openedAt = now }
            record.activity.lastActivityAt = now
            if report.kind != .opened, report.kind != .needsHelp { data["attempt"] = .integer(Int64(attempt)) }
            return [EventDraft(report.kind.eventType, at: now, data: data)]
        }
        return !events.isEmpty
    }

    // MARK: Paying

    /// Admits, checks and charges one payment attempt; returns the link as it stands after.
    /// The outcome may still be pending (3-D Secure, a slow PSP): the webhook or the reconciler
    /// settles it, and the page polls `status`.
    func pay(_ submission: PaySubmission, token: String, clientIP: String?) async throws -> Link {
        let link = try await link(token: token)
        let now = clock.now()
        try Self.checkPayable(link, holding: link.payment.map { $0.status.holdsLink } ?? false, now: now)
        guard let psp else { throw PaymentRefusal.pspUnavailable }

        let cardToken: PSPToken
        do {
            cardToken = try await psp.token(submission.pspToken)
        } catch PSPFailure.rejected {
            throw PaymentRefusal.pspTokenInvalid
        } catch {
            throw PaymentRefusal.pspUnavailable
        }
        guard !cardToken.used else { throw PaymentRefusal.pspTokenUsed }
        // The page binds each token to this link and amount when it tokenises: a token made for
        // another link or amount (or by another site) is refused before anything is charged.
        guard cardToken.reference == link.id.rawValue else { throw PaymentRefusal.pspTokenMismatch(param: "psp_token") }
        guard cardToken.amount == link.amount.minorUnits, cardToken.currency == link.amount.currency.code else {
            throw PaymentRefusal.pspTokenMismatch(param: "psp_token")
        }
        if let shown = submission.card, shown != cardToken.card { throw PaymentRefusal.pspTokenMismatch(param: "last4") }

        let since = now.addingTimeInterval(-settings.velocityWindow.seconds)
        let ipHash = clientIP.map(hashIP)
        var velocity = FraudRules.Velocity()
        velocity.perLink = try await store.countPayments(.link(link.id), since: since)
        if let ipHash { velocity.perIP = try await store.countPayments(.clientIP(ipHash), since: since) }
        if let fingerprint = cardToken.fingerprint { velocity.perCard = try await store.countPayments(.card(fingerprint: fingerprint), since: since) }
        let fraud = FraudRules(settings: settings).assess(amount: link.amount, velocity: velocity, riskScore: cardToken.riskScore)

        let payment = Payment(
            id: .generate(), linkID: link.id, status: fraud.outcome == .block ? .blocked : .processing, amount: link.amount,
            card: cardToken.card, fingerprint: cardToken.fingerprint, pspToken: cardToken.id, clientIPHash: ipHash, fraud: fraud,
            declineCode: fraud.outcome == .block ? "fraud_check_blocked" : nil, createdAt: now, updatedAt: now)
        let maxDeclines = settings.maxDeclines
        let admitted: PaymentRecord
        do {
            admitted = try await store.updatePayments(link.id, receipt: nil) { record in
                try Self.checkPayable(record.link, holding: record.holdingPayment != nil, now: now)
                // A token an earlier attempt on this link presented (one our fraud checks blocked
                // is still unspent at the PSP): the card must be entered again, as for a spent one.
                if record.payments.contains(where: { $0.pspToken == payment.pspToken }) { throw PaymentRefusal.pspTokenUsed }
                record.replace(payment)
                var drafts = [
                    EventDraft(
                        .paymentSubmitted, at: now,
                        data: ["payment_id": .string(payment.id.rawValue), "card": Self.cardData(payment.card)]),
                    EventDraft(
                        .paymentFraudCheck, at: now,
                        data: [
                            "payment_id": .string(payment.id.rawValue), "outcome": .string(fraud.outcome.rawValue),
                            "reasons": .array(fraud.reasons.map(JSONValue.string)),
                            "risk_score": fraud.riskScore.map { .integer(Int64($0)) } ?? .null,
                        ]),
                ]
                if payment.status == .blocked {
                    drafts += Self.recordDecline(&record, payment, code: "fraud_check_blocked", maxDeclines: maxDeclines, now: now)
                }
                return drafts
            }.0
        } catch StoreError.duplicate {
            // The database's own guard: another attempt holds the link, or this token was used.
            throw PaymentRefusal.paymentInProgress
        }
        guard payment.status == .processing else { return admitted.link }
        logger.info(
            "payment admitted",
            metadata: ["link_id": .string(link.id.rawValue), "payment_id": .string(payment.id.rawValue), "fraud": .string(fraud.outcome.rawValue)])
        return try await charge(payment, returnURL: "\(publicURL)/p/\(token)")
    }

    /// Makes (or, with the same idempotency key, re-asks for) the charge of an admitted attempt.
    private func charge(_ payment: Payment, returnURL: String?) async throws -> Link {
        guard let psp else { throw PaymentRefusal.pspUnavailable }
        do {
            let charge = try await psp.charge(
                PSPChargeRequest(
                    token: payment.pspToken, amount: payment.amount, reference: payment.id.rawValue,
                    metadata: ["link_id": payment.linkID.rawValue, "payment_id": payment.id.rawValue], returnURL: returnURL),
                idempotencyKey: payment.id.rawValue)
            return try await settle(payment.id, of: payment.linkID, with: charge, receipt: nil)
        } catch PSPFailure.rejected(_, let code, _) {
            // The PSP refused the request itself: nothing was charged, so the attempt failed.
            return try await fail(payment.id, of: payment.linkID, code: code)
        } catch PSPFailure.unreachable {
            // Unknown outcome: the attempt stays `processing`; the reconciler asks again under the
            // same idempotency key, so it is charged at most once.
            logger.warning("charge outcome unknown; will reconcile", metadata: ["payment_id": .string(payment.id.rawValue)])
            guard let link = try await store.link(payment.linkID, scope: .all) else { throw PaymentRefusal.linkNotFound }
            return link
        }
    }

    /// Applies what the PSP says about a charge, from the charge answer, a webhook or the
    /// reconciler: whichever arrives first moves the attempt; the rest are no-ops. With a
    /// `receipt` (a webhook) a repeat delivery throws `StoreError.duplicate` and changes nothing.
    @discardableResult
    func settle(_ paymentID: PaymentID, of linkID: LinkID, with charge: PSPCharge, receipt: WebhookReceipt?) async throws -> Link {
        let now = clock.now()
        let maxDeclines = settings.maxDeclines
        let (record, events) = try await store.updatePayments(linkID, receipt: receipt) { record in
            guard var payment = record.payments.first(where: { $0.id == paymentID }) else { throw StoreError.notFound }
            // A webhook must describe the charge this attempt made: its id once we know it, and
            // the amount and currency we asked for. A signature proves who sent it, not that the
            // PSP (or whoever holds the secret) is talking about our charge.
            if receipt != nil, !Self.describes(charge, payment) { throw ChargeMismatch(payment: paymentID) }
            // A final state is final; a late "requires_action" after success is old news.
            guard !payment.status.isFinal else {
                if charge.status == .succeeded, payment.status != .succeeded {
                    // Money taken for an attempt recorded as not paid: a person must look.
                    logger.critical(
                        "PSP reports a success for an attempt recorded as \(payment.status.rawValue)",
                        metadata: ["payment_id": .string(paymentID.rawValue), "link_id": .string(linkID.rawValue)])
                }
                return []
            }
            payment.pspChargeID = payment.pspChargeID ?? charge.id
            payment.updatedAt = now
            var data: [String: JSONValue] = ["payment_id": .string(payment.id.rawValue)]
            switch charge.status {
            case .requiresAction:
                guard payment.status != .requiresAction else {
                    // Still waiting for the customer: note that we asked, so the reconciler waits again.
                    record.replace(payment)
                    return []
                }
                payment.status = .requiresAction
                payment.redirectURL = charge.redirectURL
                record.replace(payment)
                return [EventDraft(.paymentAuthenticationRequired, at: now, data: data)]
            case .succeeded:
                let standing = record.link.status(at: now)
                payment.status = .succeeded
                payment.redirectURL = nil
                payment.late = standing != .open
                record.link.status = .paid
                record.replace(payment)
                data["card"] = Self.cardData(payment.card)
                data["amount"] = .integer(payment.amount.minorUnits)
                data["currency"] = .string(payment.amount.currency.code)
                data["late"] = .bool(payment.late)
                if payment.late { data["link_status"] = .string(standing.rawValue) }
                return [EventDraft(.paymentSucceeded, at: now, data: data)]
            case .declined:
                payment.status = .declined
                payment.redirectURL = nil
                let code = charge.declineCode ?? "generic_decline"
                payment.declineCode = code
                return Self.recordDecline(&record, payment, code: code, maxDeclines: maxDeclines, now: now)
            case .failed:
                payment.status = .failed
                payment.redirectURL = nil
                payment.failureCode = charge.failureCode ?? "processing_error"
                record.replace(payment)
                data["failure_code"] = .string(payment.failureCode!)
                return [EventDraft(.paymentFailed, at: now, data: data)]
            }
        }
        if let event = events.first(where: { $0.type == .paymentSucceeded }) {
            logger.info("payment succeeded", metadata: ["link_id": .string(linkID.rawValue), "event_id": .string(event.id.rawValue)])
        }
        return record.link
    }

    /// A webhook's charge that is not the one this attempt made; nothing is changed.
    struct ChargeMismatch: Error, Equatable {
        let payment: PaymentID
    }

    /// Whether `charge` can be this attempt's charge: the same id if we have recorded one, and
    /// exactly the amount and currency charged (the PSP may spell the currency in lower case).
    static func describes(_ charge: PSPCharge, _ payment: Payment) -> Bool {
        if let recorded = payment.pspChargeID, recorded != charge.id { return false }
        return charge.amount == payment.amount.minorUnits && charge.currency?.uppercased() == payment.amount.currency.code
    }

    /// Marks an attempt failed that the PSP refused outright (nothing charged).
    private func fail(_ paymentID: PaymentID, of linkID: LinkID, code: String) async throws -> Link {
        let now = clock.now()
        return try await store.updatePayments(linkID, receipt: nil) { record in
            guard var payment = record.payments.first(where: { $0.id == paymentID }), !payment.status.isFinal else { return [] }
            payment.status = .failed
            payment.failureCode = code
            payment.redirectURL = nil
            payment.updatedAt = now
            record.replace(payment)
            return [EventDraft(.paymentFailed, at: now, data: ["payment_id": .string(paymentID.rawValue), "failure_code": .string(code)])]
        }.0.link
    }

    /// A decline (issuer, PSP fraud screen or our own checks) counts towards the lock.
    private static func recordDecline(_ record: inout PaymentRecord, _ payment: Payment, code: String, maxDeclines: Int, now: Date)
        -> [EventDraft]
    {
        record.replace(payment)
        record.activity.declines += 1
        let left = max(0, maxDeclines - record.activity.declines)
        var drafts = [
            EventDraft(
                .paymentDeclined, at: now,
                data: [
                    "payment_id": .string(payment.id.rawValue), "decline_code": .string(code), "attempts_left": .integer(Int64(left)),
                ])
        ]
        if left == 0, !record.link.locked {
            record.link.locked = true
            drafts.append(EventDraft(.linkLocked, at: now, data: ["declines": .integer(Int64(record.activity.declines))]))
        }
        return drafts
    }

    /// Why a link cannot take a payment now, if it cannot.
    static func checkPayable(_ link: Link, holding: Bool, now: Date) throws {
        switch link.status(at: now) {
        case .open: break
        case .paid: throw PaymentRefusal.linkPaid
        case let closed: throw PaymentRefusal.linkClosed(closed)
        }
        if link.locked { throw PaymentRefusal.linkLocked }
        if holding { throw PaymentRefusal.paymentInProgress }
    }

    static func cardData(_ card: CardSummary) -> JSONValue {
        .object(["brand": .string(card.brand), "last4": .string(card.last4)])
    }

    func hashIP(_ address: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(address.utf8), using: ipKey).prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    // MARK: Background work

    /// Asks the PSP about an attempt with no outcome yet (a lost webhook, a crash mid-charge).
    func reconcile(_ paymentID: PaymentID, of linkID: LinkID) async throws {
        guard let psp else { return }
        let record = try await record(of: linkID)
        guard let payment = record.payments.first(where: { $0.id == paymentID }), !payment.status.isFinal else { return }
        if let chargeID = payment.pspChargeID {
            do {
                var charge = try await psp.charge(id: chargeID)
                // A challenge the customer left open holds the link: after the timeout it is
                // canceled at the PSP (which then can no longer approve it), and the link is free.
                if charge.status == .requiresAction,
                    clock.now().timeIntervalSince(payment.createdAt) >= settings.authenticationTimeout.seconds
                {
                    charge = try await Self.cancelOrRead(chargeID, at: psp)
                    logger.info(
                        "3-D Secure abandoned; charge canceled",
                        metadata: ["payment_id": .string(paymentID.rawValue), "charge.status": .string(charge.status.rawValue)])
                }
                try await settle(paymentID, of: linkID, with: charge, receipt: nil)
            } catch PSPFailure.rejected(let status, let code, _) {
                // A refusal to *report* a charge (a revoked key, an unknown id) says nothing
                // about the money: the attempt keeps holding the link and is asked about again
                // on the next pass. Recording it failed would free the link for a second card
                // while the first charge might still succeed. Only a refused charge request
                // (`charge(_:returnURL:)`) proves that nothing was charged.
                logger.error(
                    "PSP refused to report a charge; the attempt keeps holding its link",
                    metadata: ["payment_id": .string(paymentID.rawValue), "http.status": "\(status)", "error.code": .string(code)])
            }
        } else {
            // Never got an answer to the charge: ask again under the same idempotency key.
            let url = try? await keyRing.snapshot().encode(LinkToken(keyID: record.link.signingKeyID, nonce: record.link.tokenNonce))
            _ = try await charge(payment, returnURL: url.map { "\(publicURL)/p/\($0)" })
        }
    }

    /// A link's attempts as stored (with their charge ids), read under its row lock; nothing changes.
    private func record(of linkID: LinkID) async throws -> PaymentRecord {
        try await store.updatePayments(linkID, receipt: nil) { _ in [] }.0
    }

    /// When an agent's cancel was refused only because an attempt holds the link: an attempt
    /// waiting for 3-D Secure is canceled at the PSP, so the customer cannot complete it and
    /// pay a cancelled link, and the caller tries the cancel again; if the customer finished
    /// first, its outcome is recorded (and a paid link then refuses the cancel). An attempt
    /// whose charge is still being made cannot be stopped: `409`.
    /// The caller's cancel already checked that the agent may see the link.
    func releaseForCancel(_ linkID: LinkID) async throws {
        guard let payment = try await record(of: linkID).holdingPayment, !payment.status.isFinal else { return }
        guard payment.status == .requiresAction, let chargeID = payment.pspChargeID, let psp else {
            throw PaymentRefusal.paymentInProgress
        }
        let charge: PSPCharge
        do {
            charge = try await Self.cancelOrRead(chargeID, at: psp)
        } catch {
            throw Self.cancelUnavailable
        }
        // Not final: the PSP neither canceled it nor settled it; the link must stay as it is.
        guard charge.status != .requiresAction else { throw Self.cancelUnavailable }
        try await settle(payment.id, of: linkID, with: charge, receipt: nil)
    }

    /// The agent's cancel could not stop an attempt at the PSP: nothing changed.
    static let cancelUnavailable: APIError = {
        var error = APIError(
            status: .serviceUnavailable, kind: .api, code: "psp_unavailable",
            message: "The payment provider could not be reached to stop the customer's payment in progress; the link is unchanged. Try again shortly.")
        error.headers["Retry-After"] = "5"
        return error
    }()

    /// Cancels a charge waiting for 3-D Secure, or, if the PSP refuses to (it settled
    /// meanwhile: Stripe refuses to cancel a succeeded PaymentIntent), reads it: either way the
    /// answer is what the PSP now says, never an assumed failure.
    static func cancelOrRead(_ chargeID: String, at psp: PSPClient) async throws -> PSPCharge {
        do {
            return try await psp.cancelCharge(id: chargeID)
        } catch PSPFailure.rejected {
            return try await psp.charge(id: chargeID)
        }
    }

    /// `link.stalled` for a link that was opened and then went quiet for `stallAfter`. Not for a
    /// locked link: it can take no payment, and the agent already had `link.locked`.
    func markStalledIfQuiet(_ linkID: LinkID) async throws -> Bool {
        let now = clock.now()
        let quiet = settings.stallAfter.seconds
        let (_, events) = try await store.updatePayments(linkID, receipt: nil) { record in
            guard record.link.status(at: now) == .open, !record.link.locked, let last = record.activity.lastActivityAt,
                now.timeIntervalSince(last) >= quiet, record.activity.stalledAt.map({ $0 < last }) ?? true
            else { return [] }
            record.activity.stalledAt = now
            return [
                EventDraft(
                    .linkStalled, at: now,
                    data: ["last_activity_at": .string(RFC3339.string(last)), "quiet_seconds": .integer(Int64(now.timeIntervalSince(last)))])
            ]
        }
        return !events.isEmpty
    }
}

extension Duration {
    /// Whole and fractional seconds, for date arithmetic.
    var seconds: TimeInterval {
        let parts = components
        return TimeInterval(parts.seconds) + TimeInterval(parts.attoseconds) / 1e18
    }
}
