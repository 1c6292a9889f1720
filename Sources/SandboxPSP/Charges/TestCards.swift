/// What the sandbox does with a card: Stripe's public test numbers, plus "any other valid card succeeds".
///
/// Stripe: https://docs.stripe.com/testing — the numbers and decline codes are theirs.
enum TestCardBehaviour: Equatable {
    case succeed(riskScore: Int)
    case decline(code: String, message: String, riskScore: Int)
    /// Stopped by the sandbox's fraud screen before the issuer saw it.
    case block(riskScore: Int)
    case requireAuthentication(riskScore: Int)
    case fail(code: String, message: String)

    init(number: CardNumber) {
        switch number.digits {
        case "4000000000000002": self = .decline(code: "generic_decline", message: "The card was declined.", riskScore: 20)
        case "4000000000009995":
            self = .decline(code: "insufficient_funds", message: "The card has insufficient funds.", riskScore: 20)
        case "4000000000009987": self = .decline(code: "lost_card", message: "The card was reported lost.", riskScore: 40)
        case "4000000000009979": self = .decline(code: "stolen_card", message: "The card was reported stolen.", riskScore: 40)
        case "4000000000000069": self = .decline(code: "expired_card", message: "The card has expired.", riskScore: 20)
        case "4000000000000127": self = .decline(code: "incorrect_cvc", message: "The security code is incorrect.", riskScore: 20)
        case "4000000000000119": self = .fail(code: "processing_error", message: "An error occurred while processing the card.")
        case "4000000000003220", "4000002760003184": self = .requireAuthentication(riskScore: 30)
        case "4100000000000019": self = .block(riskScore: 99)
        case "4000000000004954": self = .block(riskScore: 85)
        case "4000000000009235": self = .succeed(riskScore: 70)
        default:
            // Deterministic and low, so ordinary cards read as normal risk: 5–34.
            self = .succeed(riskScore: 5 + (Int(number.last4) ?? 0) % 30)
        }
    }

    /// The charge's risk score; known from the card alone, so a token can show it before any charge.
    var riskScore: Int {
        switch self {
        case .succeed(let score), .decline(_, _, let score), .block(let score), .requireAuthentication(let score): score
        case .fail: 10
        }
    }
}
