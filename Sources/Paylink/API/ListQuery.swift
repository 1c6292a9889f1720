import HTTPTypes
import Hummingbird
import HummingbirdCore

/// Query-string parameters of list endpoints, checked like body parameters: unknown names,
/// repeated names and out-of-range limits are 400s, not silently ignored.
///
/// The query is read as an HTML form encodes it (`application/x-www-form-urlencoded`, as
/// Stripe's API reads it): `+` is a space, `%2B` a plus, empty pairs (`?&a=1&&`) are nothing.
/// Python's `urlencode`, `URLSearchParams` and Go's `url.Values` write spaces as `+`, so a
/// filter for `reference=order 1` must find `order 1`, not look for `order+1`.
struct ListQuery {
    private var values: [String: String] = [:]

    init(_ uri: URI, allowed: Set<String>) throws(APIError) {
        guard let query = uri.query, !query.isEmpty else { return }
        for pair in query.utf8.split(separator: UInt8(ascii: "&")) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.formDecoded(parts[0]) else { throw APIError.invalid(String(decoding: parts[0], as: UTF8.self), Self.badEncoding) }
            let encodedValue = parts.count > 1 ? parts[1] : parts[0][parts[0].endIndex...]
            if name.isEmpty && encodedValue.isEmpty { continue }  // a lone `=`
            guard allowed.contains(name) else { throw APIError.unknown(name) }
            guard let value = Self.formDecoded(encodedValue) else { throw APIError.invalid(name, Self.badEncoding) }
            guard values[name] == nil else { throw APIError.invalid(name, "\(name) may be given only once.") }
            values[name] = value
        }
    }

    static let badEncoding = "The query string must be percent-encoded UTF-8 (a % followed by two hex digits)."

    /// One form-encoded name or value: `+` is a space, `%XX` a byte; nil for a stray `%` or bytes
    /// that are not UTF-8.
    static func formDecoded(_ encoded: Substring.UTF8View.SubSequence) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encoded.count)
        var index = encoded.startIndex
        while index < encoded.endIndex {
            let byte = encoded[index]
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                let high = encoded.index(after: index)
                guard high < encoded.endIndex, encoded.index(after: high) < encoded.endIndex,
                    let h = hexValue(encoded[high]), let l = hexValue(encoded[encoded.index(after: high)])
                else { return nil }
                bytes.append(h << 4 | l)
                index = encoded.index(after: high)
            default:
                bytes.append(byte)
            }
            index = encoded.index(after: index)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
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

    /// A text filter for a field that never holds a space (an email, an E.164 phone): a space
    /// here is almost surely a `+` sent unencoded (`+44…`, `ada+tag@…`), which form encoding
    /// reads as a space. Answered with how to send it, rather than with an empty list.
    func spaceless(_ name: String) throws(APIError) -> String? {
        guard let text = try text(name) else { return nil }
        guard !text.contains(" ") else {
            throw APIError.invalid(name, "\(name) holds no spaces; in a query string + means a space, so send a plus as %2B.")
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
