import Foundation

/// An RFC 8259 syntax check run before parsing, because Foundation's parser accepts things
/// the contract does not: trailing commas, duplicate keys (which silently keep one value),
/// and unbounded nesting. It only validates; `JSONSerialization` still builds the values.
enum StrictJSONSyntax {
    static let maximumDepth = 32

    static func check(_ data: Data) throws(APIError) {
        var scanner = Scanner(bytes: [UInt8](data))
        scanner.skipWhitespace()
        try scanner.value(depth: 0)
        scanner.skipWhitespace()
        guard scanner.atEnd else { throw APIError.invalidJSON("unexpected characters after the JSON value") }
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }
        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ literal: String) throws(APIError) {
            for byte in literal.utf8 {
                guard current == byte else { throw APIError.invalidJSON("invalid literal") }
                index += 1
            }
        }

        mutating func value(depth: Int) throws(APIError) {
            guard depth <= StrictJSONSyntax.maximumDepth else { throw APIError.invalidJSON("nested more than 32 levels deep") }
            switch current {
            case UInt8(ascii: "{"): try object(depth: depth + 1)
            case UInt8(ascii: "["): try array(depth: depth + 1)
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "t"): try expect("true")
            case UInt8(ascii: "f"): try expect("false")
            case UInt8(ascii: "n"): try expect("null")
            case let byte? where byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte): try number()
            default: throw APIError.invalidJSON("expected a value")
            }
        }

        mutating func object(depth: Int) throws(APIError) {
            index += 1
            skipWhitespace()
            if current == UInt8(ascii: "}") { index += 1; return }
            var keys = Set<[UInt8]>()
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw APIError.invalidJSON("expected a key in quotes") }
                let key = try string()
                guard keys.insert(key).inserted else { throw APIError.invalidJSON("a key appears twice in one object") }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw APIError.invalidJSON("expected ':' after a key") }
                index += 1
                skipWhitespace()
                try value(depth: depth)
                skipWhitespace()
                if current == UInt8(ascii: ",") { index += 1; continue }
                if current == UInt8(ascii: "}") { index += 1; return }
                throw APIError.invalidJSON("expected ',' or '}' in an object")
            }
        }

        mutating func array(depth: Int) throws(APIError) {
            index += 1
            skipWhitespace()
            if current == UInt8(ascii: "]") { index += 1; return }
            while true {
                skipWhitespace()
                try value(depth: depth)
                skipWhitespace()
                if current == UInt8(ascii: ",") { index += 1; continue }
                if current == UInt8(ascii: "]") { index += 1; return }
                throw APIError.invalidJSON("expected ',' or ']' in an array")
            }
        }

        /// Returns the raw bytes between the quotes (escapes undecoded; enough to compare keys
        /// for duplicates in practice, and Foundation decodes the value itself).
        mutating func string() throws(APIError) -> [UInt8] {
            index += 1
            let start = index
            while let byte = current {
                switch byte {
                case UInt8(ascii: "\""):
                    let raw = Array(bytes[start..<index])
                    index += 1
                    return raw
                case UInt8(ascii: "\\"):
                    index += 1
                    guard let escaped = current else { break }
                    if escaped == UInt8(ascii: "u") {
                        for _ in 0..<4 {
                            index += 1
                            guard let hex = current, (hex >= 0x30 && hex <= 0x39) || (hex | 0x20 >= 0x61 && hex | 0x20 <= 0x66) else {
                                throw APIError.invalidJSON("invalid \\u escape")
                            }
                        }
                    } else if !"\"\\/bfnrt".utf8.contains(escaped) {
                        throw APIError.invalidJSON("invalid escape in a string")
                    }
                    index += 1
                case 0x00..<0x20:
                    throw APIError.invalidJSON("control character inside a string")
                default:
                    index += 1
                }
            }
            throw APIError.invalidJSON("unterminated string")
        }

        mutating func number() throws(APIError) {
            if current == UInt8(ascii: "-") { index += 1 }
            func digits() -> Int {
                let start = index
                while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
                return index - start
            }
            if current == UInt8(ascii: "0") {
                index += 1
            } else if digits() == 0 {
                throw APIError.invalidJSON("invalid number")
            }
            if current == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { throw APIError.invalidJSON("invalid number") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { throw APIError.invalidJSON("invalid number") }
            }
        }
    }
}
