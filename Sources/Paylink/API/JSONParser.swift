import Foundation

/// A strict RFC 8259 parser for request bodies, building `JSONValue` directly.
///
/// Strict where Foundation's parser is lenient: no trailing commas, no duplicate keys (which
/// would silently keep one value), no comments, no lone surrogates, no invalid UTF-8, and at
/// most 32 levels of nesting. Numbers keep their written kind: no fraction and no exponent and
/// within Int64 is `.integer`, anything else `.number`, so `1999.0` and `2e3` are never taken
/// as amounts. (It replaced a syntax check followed by `JSONSerialization` and an `NSNumber`
/// conversion, which together cost ≈ 5 % of a create's CPU.)
enum JSONParser {
    static let maximumDepth = 32

    /// Parses a whole document whose top level must be an object.
    static func parseObject(_ data: Data) throws(APIError) -> [String: JSONValue] {
        if data.isEmpty { throw APIError.invalidJSON("the body is empty") }
        var parser = Parser(bytes: [UInt8](data))
        parser.skipWhitespace()
        guard parser.current == UInt8(ascii: "{") else {
            // Still read it, so a malformed document is reported as malformed, not as "not an object".
            _ = try parser.value(depth: 0)
            parser.skipWhitespace()
            guard parser.atEnd else { throw APIError.invalidJSON("unexpected characters after the JSON value") }
            throw APIError.invalidJSON("the top level must be an object")
        }
        let object = try parser.object(depth: 1)
        parser.skipWhitespace()
        guard parser.atEnd else { throw APIError.invalidJSON("unexpected characters after the JSON value") }
        return object
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }
        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ literal: StaticString) throws(APIError) {
            let utf8 = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
            for byte in utf8 {
                guard current == byte else { throw APIError.invalidJSON("invalid literal") }
                index += 1
            }
        }

        mutating func value(depth: Int) throws(APIError) -> JSONValue {
            guard depth <= JSONParser.maximumDepth else { throw APIError.invalidJSON("nested more than 32 levels deep") }
            switch current {
            case UInt8(ascii: "{"): return .object(try object(depth: depth + 1))
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try expect("null")
                return .null
            case let byte? where byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte):
                return try number()
            default: throw APIError.invalidJSON("expected a value")
            }
        }

        mutating func object(depth: Int) throws(APIError) -> [String: JSONValue] {
            guard depth <= JSONParser.maximumDepth else { throw APIError.invalidJSON("nested more than 32 levels deep") }
            index += 1
            skipWhitespace()
            var object: [String: JSONValue] = [:]
            if current == UInt8(ascii: "}") {
                index += 1
                return object
            }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw APIError.invalidJSON("expected a key in quotes") }
                let key = try string()
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw APIError.invalidJSON("expected ':' after a key") }
                index += 1
                skipWhitespace()
                let member = try value(depth: depth)
                // Compared decoded, so `"a"` and `"\u0061"` are the same key.
                guard object.updateValue(member, forKey: key) == nil else {
                    throw APIError.invalidJSON("a key appears twice in one object")
                }
                skipWhitespace()
                if current == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                if current == UInt8(ascii: "}") {
                    index += 1
                    return object
                }
                throw APIError.invalidJSON("expected ',' or '}' in an object")
            }
        }

        mutating func array(depth: Int) throws(APIError) -> JSONValue {
            index += 1
            skipWhitespace()
            var elements: [JSONValue] = []
            if current == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth))
                skipWhitespace()
                if current == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                if current == UInt8(ascii: "]") {
                    index += 1
                    return .array(elements)
                }
                throw APIError.invalidJSON("expected ',' or ']' in an array")
            }
        }

        /// A string's decoded value. Raw bytes must be valid UTF-8 and contain no control characters.
        mutating func string() throws(APIError) -> String {
            index += 1
            var start = index
            var decoded: [UInt8] = []
            var escaped = false
            while let byte = current {
                switch byte {
                case UInt8(ascii: "\""):
                    let tail = bytes[start..<index]
                    index += 1
                    if !escaped {
                        guard let string = String(validating: tail, as: UTF8.self) else { throw APIError.invalidJSON("invalid UTF-8") }
                        return string
                    }
                    decoded.append(contentsOf: tail)
                    guard let string = String(validating: decoded, as: UTF8.self) else { throw APIError.invalidJSON("invalid UTF-8") }
                    return string
                case UInt8(ascii: "\\"):
                    escaped = true
                    decoded.append(contentsOf: bytes[start..<index])
                    index += 1
                    try escape(into: &decoded)
                    start = index
                case 0x00..<0x20:
                    throw APIError.invalidJSON("control character inside a string")
                default:
                    index += 1
                }
            }
            throw APIError.invalidJSON("unterminated string")
        }

        /// Decodes the escape after a backslash into UTF-8, leaving `index` after it.
        mutating func escape(into decoded: inout [UInt8]) throws(APIError) {
            guard let letter = current else { throw APIError.invalidJSON("unterminated string") }
            index += 1
            switch letter {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(letter)
            case UInt8(ascii: "b"): decoded.append(0x08)
            case UInt8(ascii: "f"): decoded.append(0x0C)
            case UInt8(ascii: "n"): decoded.append(0x0A)
            case UInt8(ascii: "r"): decoded.append(0x0D)
            case UInt8(ascii: "t"): decoded.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(try hex4())
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low one.
                    guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                        throw APIError.invalidJSON("invalid \\u escape")
                    }
                    index += 2
                    let low = UInt32(try hex4())
                    guard (0xDC00...0xDFFF).contains(low) else { throw APIError.invalidJSON("invalid \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw APIError.invalidJSON("invalid \\u escape")
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw APIError.invalidJSON("invalid \\u escape") }
                decoded.append(contentsOf: UTF8.encode(unicode)!)
            default:
                throw APIError.invalidJSON("invalid escape in a string")
            }
        }

        mutating func hex4() throws(APIError) -> UInt16 {
            var value: UInt16 = 0
            for _ in 0..<4 {
                guard let byte = current else { throw APIError.invalidJSON("invalid \\u escape") }
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw APIError.invalidJSON("invalid \\u escape")
                }
                value = value << 4 | UInt16(digit)
                index += 1
            }
            return value
        }

        mutating func number() throws(APIError) -> JSONValue {
            let start = index
            if current == UInt8(ascii: "-") { index += 1 }
            func digits() -> Int {
                let first = index
                while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
                return index - first
            }
            if current == UInt8(ascii: "0") {
                index += 1
            } else if digits() == 0 {
                throw APIError.invalidJSON("invalid number")
            }
            var integral = true
            if current == UInt8(ascii: ".") {
                integral = false
                index += 1
                guard digits() > 0 else { throw APIError.invalidJSON("invalid number") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                integral = false
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { throw APIError.invalidJSON("invalid number") }
            }
            // ASCII digits, signs, '.', 'e': always valid UTF-8.
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if integral, let exact = Int64(text) { return .integer(exact) }
            // Beyond Int64, or written with a fraction or exponent: a number, never an amount.
            return .number(Double(text) ?? .infinity)
        }
    }
}
