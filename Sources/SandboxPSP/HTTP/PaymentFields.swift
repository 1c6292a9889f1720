/// The payment fields both a charge and a bound token carry, validated one way so that a token
/// accepts exactly the values a charge would.
extension JSONBody {
    /// Minor units, 1 … 99 999 999 (Stripe's ceiling for most currencies: eight digits).
    func optionalAmount(_ name: String = "amount") throws -> Int? {
        guard let amount = try optionalInt(name) else { return nil }
        guard (1...99_999_999).contains(amount) else {
            throw PSPError.invalid(name, "\(name) must be a positive integer in minor units, at most 99999999.")
        }
        return amount
    }

    /// Three ASCII letters, answered upper-case. The ISO 4217 list is Paylink's to check.
    func optionalCurrency(_ name: String = "currency") throws -> String? {
        guard let currency = try optionalString(name) else { return nil }
        guard currency.count == 3, currency.allSatisfy({ $0.isASCII && $0.isLetter }) else {
            throw PSPError.invalid(name, "\(name) must be a three-letter ISO 4217 code.")
        }
        return currency.uppercased()
    }

    /// The merchant's own id for the payment (Paylink's `lnk_…` or `pay_…`), 1–64 characters.
    func optionalReference(_ name: String = "reference") throws -> String? {
        guard let reference = try optionalString(name) else { return nil }
        guard (1...64).contains(reference.count) else {
            throw PSPError.invalid(name, "\(name) must be 1 to 64 characters.")
        }
        return reference
    }

    func amount(_ name: String = "amount") throws -> Int {
        guard let value = try optionalAmount(name) else { throw PSPError.missing(name) }
        return value
    }

    func currency(_ name: String = "currency") throws -> String {
        guard let value = try optionalCurrency(name) else { throw PSPError.missing(name) }
        return value
    }

    func reference(_ name: String = "reference") throws -> String {
        guard let value = try optionalReference(name) else { throw PSPError.missing(name) }
        return value
    }
}
