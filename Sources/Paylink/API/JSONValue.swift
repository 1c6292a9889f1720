import Foundation

/// A parsed JSON document kept exactly as sent, so validation can tell `1999` from `19.99`,
/// `"1999"` and `1e3`, name the offending parameter, and reject fields it does not know.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// A short name for error messages ("expected an integer, got a string").
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer: "an integer"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Converts Foundation's parse tree. Integers are recognised from the number's own text
    /// (no fraction, no exponent) so `1999.0` and `2e3` are not silently taken as amounts.
    init(foundation value: Any) {
        switch value {
        case is NSNull: self = .null
        case let string as String: self = .string(string)
        case let array as [Any]: self = .array(array.map { JSONValue(foundation: $0) })
        case let dict as [String: Any]:
            self = .object(dict.mapValues { JSONValue(foundation: $0) })
        case let number as NSNumber:
            // Foundation keeps the parsed kind in the NSNumber: a boolean class for true/false,
            // "d" for anything written with a fraction or exponent, an integer code otherwise.
            // Integers too large for Int64 arrive as NSDecimalNumber and are treated as non-integers.
            if String(describing: type(of: number)).contains("Boolean") {
                self = .bool(number.boolValue)
            } else if number is NSDecimalNumber || ["d", "f"].contains(String(cString: number.objCType)) {
                self = .number(number.doubleValue)
            } else if let exact = Int64(number.stringValue) {
                self = .integer(exact)
            } else {
                // An integer beyond Int64 (Foundation keeps it as UInt64): not a usable integer.
                self = .number(number.doubleValue)
            }
        default: self = .null
        }
    }
}


extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let bool = try? container.decode(Bool.self) { self = .bool(bool) }
        else if let int = try? container.decode(Int64.self) { self = .integer(int) }
        else if let double = try? container.decode(Double.self) { self = .number(double) }
        else if let string = try? container.decode(String.self) { self = .string(string) }
        else if let array = try? container.decode([JSONValue].self) { self = .array(array) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let bool): try container.encode(bool)
        case .integer(let int): try container.encode(int)
        case .number(let double): try container.encode(double)
        case .string(let string): try container.encode(string)
        case .array(let array): try container.encode(array)
        case .object(let object): try container.encode(object)
        }
    }
}

/// Reading answers from peers (the PSP): optional accessors, nil on any other type.
extension JSONValue {
    var objectValue: [String: JSONValue]? { if case .object(let value) = self { value } else { nil } }
    var stringValue: String? { if case .string(let value) = self { value } else { nil } }
    var integerValue: Int64? { if case .integer(let value) = self { value } else { nil } }
    var boolValue: Bool? { if case .bool(let value) = self { value } else { nil } }

    /// Parses a peer's JSON leniently (no strict-syntax pass: we did not write the contract for it).
    static func parse(_ data: Data) throws -> JSONValue {
        JSONValue(foundation: try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }
}
