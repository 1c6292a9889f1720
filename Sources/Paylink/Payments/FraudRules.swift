/// The checks run before a charge (SPEC §3), each with the reason code the agent sees.
/// Pure: the counts come from the store, the risk score from the PSP's token lookup.
struct FraudRules: Sendable {
    let settings: PaymentSettings

    /// How many earlier attempts each velocity rule saw within the window.
    struct Velocity: Sendable {
        var perLink = 0
        var perIP = 0
        var perCard = 0
    }

    func assess(amount: Money, velocity: Velocity, riskScore: Int?) -> FraudAssessment {
        var blocks: [String] = []
        var reviews: [String] = []
        if amount.minorUnits > settings.amountLimit { blocks.append("amount_over_limit") }
        if velocity.perLink >= settings.maxAttemptsPerLink { blocks.append("velocity_link") }
        if velocity.perIP >= settings.maxAttemptsPerIP { blocks.append("velocity_ip") }
        if velocity.perCard >= settings.maxAttemptsPerCard { blocks.append("velocity_card") }
        if let riskScore {
            if riskScore >= settings.blockRiskScore {
                blocks.append("psp_risk_highest")
            } else if riskScore >= settings.reviewRiskScore {
                reviews.append("psp_risk_elevated")
            }
        }
        let outcome: FraudAssessment.Outcome = !blocks.isEmpty ? .block : !reviews.isEmpty ? .review : .pass
        return FraudAssessment(outcome: outcome, reasons: blocks + reviews, riskScore: riskScore)
    }
}
