import HTTPTypes
import Hummingbird

/// Query-string parameters of list endpoints, checked like body parameters: unknown names,
/// repeated names and out-of-range limits are 400s, not silently ignored.
struct ListQuery {
    private var values: [String: String] = [:]

    init(_ parameters: Parameters, allowed: Set<String>) throws(APIError) {
        for (key, value) in parameters {
            let name = String(key)
            guard allowed.contains(name) else { throw APIError.unknown(name) }
            guard values[name] == nil else { throw APIError.invalid(name, "\(name) may be given only once.") }
            values[name] = String(value)
        }
    }

    func value(_ name: String) -> String? { values[name].flatMap { $0.isEmpty ? nil : $0 } }

    /// A text filter (an exact match against a stored field): refused with control characters,
    /// as the field itself would be. SQLite binds text up to a NUL, so `ref%00anything` would
    /// otherwise match `ref`; and no stored value holds a control character to match.
    func text(_ name: String) throws(APIError) -> String? {
        guard let text = value(name) else { return nil }
        guard !text.unicodeScalars.contains(where: CreateLinkRequest.isControl) else {
            throw APIError.invalid(name, "\(name) must not contain control characters.")
        }
        return text
    }

    /// `limit`: 1–100, default 20 (SPEC §2).
    func limit(default defaultLimit: Int = 20) throws(APIError) -> Int {
        guard let text = value("limit") else { return defaultLimit }
        guard let limit = Self.plainInteger(text), (1...100).contains(limit) else {
            throw APIError.invalid("limit", code: "parameter_invalid_integer", "limit must be an integer from 1 to 100.")
        }
        return limit
    }

    /// A non-negative integer written the plain way: ASCII digits only, no sign, no leading
    /// zero, so `+5`, `05` and ` 5` are refused rather than read as 5.
    static func plainInteger<Result: FixedWidthInteger>(_ text: String, as: Result.Type = Int.self) -> Result? {
        let digits = text.utf8
        guard let first = digits.first, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            first != UInt8(ascii: "0") || digits.count == 1
        else { return nil }
        return Result(text)
    }
}
