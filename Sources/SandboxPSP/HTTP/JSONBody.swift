import Foundation
import HTTPTypes
import Hummingbird

/// A JSON value, decoded without Foundation's `Bool`/`NSNumber` ambiguity.
enum JSONValue: Decodable, Sendable, Equatable {
    case null, bool(Bool), int(Int), double(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }
}

/// A request's JSON object with typed accessors that fail with the parameter's name,
/// so every 400 says exactly which field is wrong.
struct JSONBody {
    let fields: [String: JSONValue]
    /// The raw bytes, for idempotency fingerprints.
    let raw: Data

    static func read(_ request: Request, context: SandboxRequestContext) async throws -> JSONBody {
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            throw PSPError.unsupportedMediaType
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: context.maxUploadSize)
        } catch {
            throw PSPError.bodyTooLarge
        }
        let raw = Data(buffer: buffer)
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: raw), case .object(let fields) = value else {
            throw PSPError.invalidJSON()
        }
        return JSONBody(fields: fields, raw: raw)
    }

    func string(_ name: String) throws -> String {
        guard let value = try optionalString(name) else { throw PSPError.missing(name) }
        return value
    }

    func optionalString(_ name: String) throws -> String? {
        switch fields[name] {
        case nil, .null: return nil
        case .string(let value): return value
        default: throw PSPError.wrongType(name, expected: "a string")
        }
    }

    func int(_ name: String) throws -> Int {
        guard let value = try optionalInt(name) else { throw PSPError.missing(name) }
        return value
    }

    func optionalInt(_ name: String) throws -> Int? {
        switch fields[name] {
        case nil, .null: return nil
        case .int(let value): return value
        default: throw PSPError.wrongType(name, expected: "an integer")
        }
    }

    /// An integer that a browser form may also send as a string of digits (card expiry).
    func lenientInt(_ name: String) throws -> Int {
        switch fields[name] {
        case nil, .null: throw PSPError.missing(name)
        case .int(let value): return value
        case .string(let text) where !text.isEmpty && text.count <= 4 && text.allSatisfy(\.isASCIIDigit): return Int(text)!
        default: throw PSPError.wrongType(name, expected: "an integer")
        }
    }

    func stringMap(_ name: String) throws -> [String: String] {
        switch fields[name] {
        case nil, .null: return [:]
        case .object(let object):
            var result: [String: String] = [:]
            for (key, value) in object {
                guard case .string(let text) = value else { throw PSPError.wrongType("\(name)[\(key)]", expected: "a string") }
                result[key] = text
            }
            return result
        default: throw PSPError.wrongType(name, expected: "an object of strings")
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

/// JSON responses with sorted keys, so replays and snapshots are byte-stable.
enum JSONResponse {
    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static func make(_ status: HTTPResponse.Status, body: Data, extraHeaders: HTTPFields = [:]) -> Response {
        var fields = extraHeaders
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
