import Foundation

/// A primary account number that passed Luhn. It prints only its last four.
///
/// PCI DSS 3.4.1: display at most BIN and last four; here we show only the last four, and
/// the digits leave this type only to compute a fingerprint or pick a test-card outcome.
public struct CardNumber: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The digits; internal so nothing outside the sandbox can read them.
    let digits: String

    /// Accepts the digits with optional spaces or hyphens (as a customer types them); 12–19 digits, Luhn-valid.
    init(_ presented: String) throws(PSPError) {
        let compact = presented.filter { $0 != " " && $0 != "-" }
        guard (12...19).contains(compact.count), compact.allSatisfy(\.isASCIIDigit) else {
            throw .card("invalid_number", "The card number is not a valid card number.", param: "number")
        }
        guard Self.passesLuhn(compact) else {
            throw .card("invalid_number", "The card number is not a valid card number.", param: "number")
        }
        self.digits = compact
    }

    /// ISO/IEC 7812-1 Annex B check digit.
    static func passesLuhn(_ digits: String) -> Bool {
        var sum = 0
        for (index, character) in digits.reversed().enumerated() {
            guard let digit = character.wholeNumberValue else { return false }
            if index % 2 == 1 {
                let doubled = digit * 2
                sum += doubled > 9 ? doubled - 9 : doubled
            } else {
                sum += digit
            }
        }
        return sum % 10 == 0
    }

    public var last4: String { String(digits.suffix(4)) }
    public var brand: CardBrand { CardBrand(number: digits) }

    public var description: String { "CardNumber(\(brand.rawValue) ••••\(last4))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["brand": brand.rawValue, "last4": last4]) }
}

/// The card schemes the sandbox recognises by IIN range; anything else is `unknown`, as Stripe does.
public enum CardBrand: String, Sendable, Codable, CaseIterable {
    case visa, mastercard, amex, discover, diners, jcb, unionpay, unknown

    init(number: String) {
        func prefix(_ length: Int) -> Int { Int(number.prefix(length)) ?? -1 }
        switch true {
        case number.hasPrefix("34") || number.hasPrefix("37"): self = .amex
        case number.hasPrefix("4"): self = .visa
        case (51...55).contains(prefix(2)) || (2221...2720).contains(prefix(4)): self = .mastercard
        case number.hasPrefix("6011") || number.hasPrefix("65") || (644...649).contains(prefix(3)): self = .discover
        case number.hasPrefix("36") || number.hasPrefix("38") || number.hasPrefix("39") || (300...305).contains(prefix(3)): self = .diners
        case (3528...3589).contains(prefix(4)): self = .jcb
        case number.hasPrefix("62"): self = .unionpay
        default: self = .unknown
        }
    }

    /// Amex prints a 4-digit CID on the front; every other scheme a 3-digit code on the back.
    var cvcLength: Int { self == .amex ? 4 : 3 }
}
