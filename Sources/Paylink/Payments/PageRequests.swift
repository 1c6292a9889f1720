import Foundation
import HTTPTypes

/// What the page's script may report about the customer's progress: steps, never values.
struct ProgressReport: Sendable, Equatable {
    enum Kind: String, Sendable, CaseIterable {
        case opened = "link.opened"
        case cardEntryStarted = "payment.card_entry_started"
        case cardFieldCompleted = "payment.card_field_completed"
        case cardEntryCompleted = "payment.card_entry_completed"
        case needsHelp = "link.customer_needs_help"

        var eventType: EventType { EventType(rawValue: rawValue) }
    }

    enum Field: String, Sendable, CaseIterable { case number, expiry, cvc, name }

    let kind: Kind
    let field: Field?

    /// `{"type": "payment.card_field_completed", "field": "cvc"}`; any other key is refused, so
    /// a script that tried to send a value gets a 400 instead of having it stored.
    init(json: [String: JSONValue]) throws(APIError) {
        let reader = JSONObjectReader(json)
        try reader.rejectUnknownKeys(allowed: ["type", "field"])
        let type = try reader.requiredString("type")
        guard let kind = Kind(rawValue: type) else {
            throw APIError.invalid(
                "type", "Unknown progress type. Expected one of: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        let field = try reader.string("field")
        if kind == .cardFieldCompleted {
            guard let field else { throw APIError.missing("field") }
            guard let known = Field(rawValue: field) else {
                throw APIError.invalid("field", "Unknown field. Expected one of: number, expiry, cvc, name.")
            }
            self.field = known
        } else {
            guard field == nil else { throw APIError.unknown("field") }
            self.field = nil
        }
        self.kind = kind
    }
}

/// The page's payment submission: the PSP's token, and the brand and last four it showed.
struct PaySubmission: Sendable, Equatable {
    /// Twelve or more ASCII digits in a row.
    static func hasLongDigitRun(_ text: String) -> Bool {
        var run = 0
        for byte in text.utf8 {
            run = (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? run + 1 : 0
            if run >= 12 { return true }
        }
        return false
    }

    let pspToken: String
    let card: CardSummary?

    init(json: [String: JSONValue]) throws(APIError) {
        let reader = JSONObjectReader(json)
        try reader.rejectUnknownKeys(allowed: ["psp_token", "brand", "last4"])
        let token = try reader.requiredString("psp_token")
        guard (4...255).contains(token.utf8.count), token.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "/") }) else {
            throw APIError.invalid("psp_token", code: "psp_token_invalid", "This is not a payment token from the PSP.")
        }
        // A card number where the token goes is refused before any call: it would otherwise
        // reach the PSP in a URL (`GET /v1/tokens/…`) and its logs. No PSP token is a long run
        // of digits, so any run of 12 or more is refused, a mistyped number (Luhn fails) or one
        // starting with another digit too. The message does not repeat it.
        guard !CardNumberRedaction.containsCardNumber(token), !Self.hasLongDigitRun(token) else {
            throw APIError.invalid(
                "psp_token", code: "card_number_not_allowed",
                "psp_token looks like a card number. Card details go to the PSP only; send the token it returned.")
        }
        self.pspToken = token
        let brand = try reader.string("brand")
        let last4 = try reader.string("last4")
        switch (brand, last4) {
        case (nil, nil): card = nil
        case (let brand?, let last4?):
            guard let summary = CardSummary(brand: brand, last4: last4) else {
                throw APIError.invalid(
                    CardSummary(brand: brand, last4: "0000") == nil ? "brand" : "last4",
                    "brand must be a known card brand and last4 four digits.")
            }
            card = summary
        case (nil, _): throw APIError.missing("brand")
        case (_, nil): throw APIError.missing("last4")
        }
    }
}

/// Refusals of the page's endpoints (`/p/TOKEN/…`), each with its status and code.
enum PaymentRefusal: APIErrorConvertible, Equatable {
    case linkNotFound
    case linkClosed(Link.Status)
    case linkPaid
    case linkLocked
    case paymentInProgress
    case pspTokenInvalid
    case pspTokenUsed
    case pspTokenMismatch(param: String)
    case pspUnavailable
    case rateLimited(retryAfter: Int)

    var apiError: APIError {
        switch self {
        case .linkNotFound:
            return APIError(status: .notFound, code: "link_not_found", message: "This payment link is not valid.")
        case .linkClosed(let status):
            return APIError(
                status: .gone, code: status == .cancelled ? "link_cancelled" : "link_expired",
                message: "This payment link is no longer open. Please contact the agent for a new one.")
        case .linkPaid:
            return APIError(status: .conflict, code: "link_paid", message: "This link has already been paid.")
        case .linkLocked:
            return APIError(
                status: .conflict, code: "link_locked", message: "Too many declined attempts: this link is locked. Ask the agent for a new one.")
        case .paymentInProgress:
            return APIError(status: .conflict, code: "payment_in_progress", message: "A payment for this link is already in progress.")
        case .pspTokenInvalid:
            return APIError(status: .badRequest, code: "psp_token_invalid", message: "The card token is not valid.", param: "psp_token")
        case .pspTokenUsed:
            return APIError(
                status: .badRequest, code: "psp_token_used", message: "The card token was already used; enter the card again.",
                param: "psp_token")
        case .pspTokenMismatch(let param):
            return APIError(
                status: .badRequest, code: "psp_token_mismatch", message: "The card token was not made for this payment.", param: param)
        case .pspUnavailable:
            var error = APIError(
                status: .serviceUnavailable, kind: .api, code: "psp_unavailable",
                message: "The payment provider cannot be reached right now; nothing was charged. Try again shortly.")
            error.headers["Retry-After"] = "5"
            return error
        case .rateLimited(let seconds):
            var error = APIError(status: .tooManyRequests, kind: .rateLimit, code: "rate_limited", message: "Too many requests; slow down.")
            error.headers["Retry-After"] = String(seconds)
            return error
        }
    }
}
