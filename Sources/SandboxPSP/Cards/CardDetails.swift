import Foundation

/// What the customer typed: number, expiry, CVC and optional name, validated as a whole.
/// Lives only in the vault; its description shows brand and last four, nothing else.
struct CardDetails: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let number: CardNumber
    let expMonth: Int
    let expYear: Int
    /// PCI DSS 3.3.1.2: kept only until the token is charged or expires, never logged.
    let cvc: String
    let name: String?

    /// Checks the fields in the order a form shows them, so the first error is the first wrong field.
    static func validate(_ body: JSONBody, now: Date) throws -> CardDetails {
        let number = try CardNumber(body.string("number"))
        let month = try body.lenientInt("exp_month")
        guard (1...12).contains(month) else {
            throw PSPError.card("invalid_expiry_month", "The card's expiration month is invalid.", param: "exp_month")
        }
        var year = try body.lenientInt("exp_year")
        if (0...99).contains(year) { year += 2000 }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let today = calendar.dateComponents([.year, .month], from: now)
        let thisYear = today.year!, thisMonth = today.month!
        guard (2000...(thisYear + 50)).contains(year) else {
            throw PSPError.card("invalid_expiry_year", "The card's expiration year is invalid.", param: "exp_year")
        }
        // A card is valid through the last day of its expiry month.
        guard year > thisYear || (year == thisYear && month >= thisMonth) else {
            throw PSPError.card("expired_card", "The card has expired.", param: "exp_year")
        }
        let cvc = try body.string("cvc")
        guard cvc.count == number.brand.cvcLength, cvc.allSatisfy(\.isASCIIDigit) else {
            throw PSPError.card(
                "invalid_cvc", "The card's security code must be \(number.brand.cvcLength) digits.", param: "cvc")
        }
        let name = try body.optionalString("name")
        if let name, name.count > 200 { throw PSPError.invalid("name", "The cardholder name is longer than 200 characters.") }
        return CardDetails(number: number, expMonth: month, expYear: year, cvc: cvc, name: name)
    }

    var description: String { "CardDetails(\(number.brand.rawValue) ••••\(number.last4), \(expMonth)/\(expYear), cvc: •••)" }
    var debugDescription: String { description }
    var customMirror: Mirror { Mirror(self, children: ["brand": number.brand.rawValue, "last4": number.last4]) }
}

/// The card as the API shows it: never the number or CVC (PCI DSS 3.4.1).
public struct CardSummary: Sendable, Codable, Equatable {
    public let brand: CardBrand
    public let last4: String
    public let expMonth: Int
    public let expYear: Int
    /// Same card, same fingerprint, within one sandbox process.
    public let fingerprint: String

    enum CodingKeys: String, CodingKey {
        case brand, last4, fingerprint
        case expMonth = "exp_month"
        case expYear = "exp_year"
    }
}
