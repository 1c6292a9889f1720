import Foundation

/// Reads typed parameters out of a request object, naming each failure Stripe-style
/// (`customer[email]`) so a client can point at the exact field that was wrong.
///
/// Unknown keys are rejected, never ignored: a misspelt `expires_in` silently falling back
/// to the default is worse than a 400 that says which key was not understood.
struct JSONObjectReader {
    let object: [String: JSONValue]
    /// The parameter path of this object inside the request, nil at the top level.
    let path: String?

    init(_ object: [String: JSONValue], path: String? = nil) {
        self.object = object
        self.path = path
    }

    func param(_ key: String) -> String {
        path.map { "\($0)[\(key)]" } ?? key
    }

    func rejectUnknownKeys(allowed: Set<String>) throws(APIError) {
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError.unknown(param(unknown))
        }
    }

    /// JSON `null` is treated as absent, like Stripe's empty values.
    private func value(_ key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    func string(_ key: String) throws(APIError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let string) = value else {
            throw APIError.wrongType(param(key), expected: "a string, got \(value.typeName)")
        }
        return string
    }

    func requiredString(_ key: String) throws(APIError) -> String {
        guard let string = try string(key) else { throw APIError.missing(param(key)) }
        return string
    }

    func integer(_ key: String) throws(APIError) -> Int64? {
        guard let value = value(key) else { return nil }
        switch value {
        case .integer(let int): return int
        case .number:
            throw APIError.invalid(param(key), code: "parameter_invalid_integer", "Invalid integer: \(param(key)) must be a whole number with no fraction or exponent.")
        default:
            throw APIError.wrongType(param(key), expected: "an integer, got \(value.typeName)")
        }
    }

    func requiredInteger(_ key: String) throws(APIError) -> Int64 {
        guard let int = try integer(key) else { throw APIError.missing(param(key)) }
        return int
    }

    func object(_ key: String) throws(APIError) -> JSONObjectReader? {
        guard let value = value(key) else { return nil }
        guard case .object(let object) = value else {
            throw APIError.wrongType(param(key), expected: "an object, got \(value.typeName)")
        }
        return JSONObjectReader(object, path: param(key))
    }
}
