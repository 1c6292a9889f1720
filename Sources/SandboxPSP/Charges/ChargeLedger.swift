/// The sandbox's charges and refunds, in memory. Every state change happens here, one at a time.
actor ChargeLedger {
    enum Failure: Error { case notFound, notRefundable(ChargeStatus), alreadyRefunded, amountTooLarge(remaining: Int) }

    private var charges: [String: Charge] = [:]

    func insert(_ charge: Charge) { charges[charge.id] = charge }

    func charge(_ id: String) -> Charge? { charges[id] }

    /// Finishes a 3-D Secure challenge. Returns the charge and whether this call changed it
    /// (a second click on the challenge page changes nothing).
    func completeAuthentication(_ id: String, approved: Bool) throws(Failure) -> (charge: Charge, changed: Bool) {
        guard var charge = charges[id] else { throw .notFound }
        guard charge.status == .requiresAction else { return (charge, false) }
        charge.nextAction = nil
        if approved {
            charge.status = .succeeded
            charge.outcome.type = "authorized"
        } else {
            Self.fail(&charge, code: "authentication_failed", "The customer did not complete 3-D Secure authentication.")
        }
        charges[id] = charge
        return (charge, true)
    }

    /// A charge that did not complete: no money moves.
    private static func fail(_ charge: inout Charge, code: String, _ message: String) {
        charge.nextAction = nil
        charge.status = .failed
        charge.failureCode = code
        charge.failureMessage = message
        charge.outcome.type = "invalid"
    }

    /// Cancels a charge still waiting for 3-D Secure (Stripe's PaymentIntent cancel): it fails
    /// with `failure_code: canceled` and its challenge can no longer approve it. A charge that
    /// has settled is returned as it is. Returns whether this call changed it.
    func cancel(_ id: String) throws(Failure) -> (charge: Charge, changed: Bool) {
        guard var charge = charges[id] else { throw .notFound }
        guard charge.status == .requiresAction else { return (charge, false) }
        Self.fail(&charge, code: "canceled", "The charge was canceled before 3-D Secure authentication was completed.")
        charges[id] = charge
        return (charge, true)
    }

    /// Refunds `amount` (default: what is left) of a succeeded charge; never more than was charged.
    func refund(_ id: String, amount: Int?, refundID: String, created: Int) throws(Failure) -> (refund: Refund, charge: Charge) {
        guard var charge = charges[id] else { throw .notFound }
        guard charge.status == .succeeded else { throw .notRefundable(charge.status) }
        let remaining = charge.amount - charge.amountRefunded
        guard remaining > 0 else { throw .alreadyRefunded }
        let amount = amount ?? remaining
        guard amount <= remaining else { throw .amountTooLarge(remaining: remaining) }
        let refund = Refund(id: refundID, amount: amount, currency: charge.currency, charge: id, created: created)
        charge.amountRefunded += amount
        charge.refunds.append(refund)
        charges[id] = charge
        return (refund, charge)
    }
}
