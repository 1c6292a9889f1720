import Foundation

/// Writes the API's JSON by hand for the resources on the hot paths (a link, an event),
/// byte for byte as `APIJSON.encoder` would: keys in ascending UTF-8 order, `/` unescaped,
/// non-ASCII as UTF-8, control characters escaped. `JSONEncoder` cost ≈ 8 % of a create's CPU.
///
/// Objects are written with `object { … }`, whose members the caller must add in sorted key
/// order (a test compares every resource against `JSONEncoder`).
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    private var needsComma = false

    init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    var data: Data { Data(bytes) }

    /// `{ … }`: `body` adds the members, in sorted key order.
    mutating func object(_ body: (inout JSONWriter) throws -> Void) rethrows {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
        try body(&self)
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    /// `null` when `value` is nil, else the object `body` writes for it.
    mutating func object<T>(ifPresent value: T?, _ body: (inout JSONWriter, T) throws -> Void) rethrows {
        guard let value else { return null() }
        try object { writer in try body(&writer, value) }
    }

    mutating func array<S: Sequence>(_ elements: S, _ element: (inout JSONWriter, S.Element) throws -> Void) rethrows {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
        for item in elements { try element(&self, item) }
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Stripe's list envelope, `{"data": [...], "has_more": bool, "object": "list"}`.
    mutating func list<S: Sequence>(_ items: S, hasMore: Bool, _ item: (inout JSONWriter, S.Element) throws -> Void) rethrows {
        try object { writer in
            writer.key("data")
            try writer.array(items, item)
            writer.key("has_more")
            writer.bool(hasMore)
            writer.key("object")
            writer.string("list")
        }
    }

    /// A member's key; the value written next belongs to it.
    mutating func key(_ key: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        needsComma = false
    }

    private mutating func dynamicKey(_ key: String) {
        separate()
        appendQuoted(key)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func string(_ value: String?) {
        separate()
        if let value { appendQuoted(value) } else { appendLiteral("null") }
        needsComma = true
    }

    mutating func integer(_ value: Int64) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
        needsComma = true
    }

    mutating func bool(_ value: Bool) {
        separate()
        appendLiteral(value ? "true" : "false")
        needsComma = true
    }

    mutating func null() {
        separate()
        appendLiteral("null")
        needsComma = true
    }

    /// Bytes that are already one JSON value (from `JSONEncoder`, for the rare parts).
    mutating func raw(_ json: Data) {
        separate()
        bytes.append(contentsOf: json)
        needsComma = true
    }

    /// String-to-string map (link metadata), keys sorted.
    mutating func object(_ map: [String: String]) {
        object { writer in
            for (key, value) in Self.sorted(map) {
                writer.dynamicKey(key)
                writer.string(value)
            }
        }
    }

    /// An object of JSON values (event data), keys sorted.
    mutating func object(_ map: [String: JSONValue]) throws {
        try object { writer in
            for (key, value) in Self.sorted(map) {
                writer.dynamicKey(key)
                try writer.value(value)
            }
        }
    }

    mutating func value(_ value: JSONValue) throws {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .integer(let number): integer(number)
        case .number(let number):
            // Rare (nothing Paylink writes itself is fractional): leave the formatting to Foundation.
            raw(try APIJSON.encoder.encode(number))
        case .string(let text): string(text)
        case .array(let elements): try array(elements) { writer, element in try writer.value(element) }
        case .object(let members): try object(members)
        }
    }

    private static func sorted<Value>(_ map: [String: Value]) -> [(key: String, value: Value)] {
        map.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func appendLiteral(_ literal: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func appendQuoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x00..<0x20:
                bytes.append(contentsOf: [
                    UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), Self.hexDigits[Int(byte >> 4)],
                    Self.hexDigits[Int(byte & 0x0F)],
                ])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
