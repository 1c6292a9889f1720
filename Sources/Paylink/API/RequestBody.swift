import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Reads a JSON request body within the size limit, before any state is touched.
enum RequestBody {
    /// The raw bytes (for idempotency hashing) and the parsed top-level object. An absent body
    /// is an empty object, for endpoints like cancel that take no parameters.
    static func jsonObject(_ request: Request, context: PaylinkRequestContext, allowEmpty: Bool = false) async throws
        -> (bytes: Data, object: [String: JSONValue])
    {
        let bytes = try await self.bytes(request, limit: context.maxUploadSize)
        if bytes.isEmpty && allowEmpty { return (bytes, [:]) }
        guard let contentType = request.headers[.contentType], mediaType(contentType) == "application/json"
        else { throw APIError.unsupportedMediaType }
        return (bytes, try JSONParser.parseObject(bytes))
    }

    /// The raw body, refused with 413 once it exceeds `limit` (by its Content-Length up front,
    /// or while reading one that lied or had none).
    static func bytes(_ request: Request, limit: Int) async throws -> Data {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError.bodyTooLarge
        }
        var request = request
        do {
            return Data(buffer: try await request.collectBody(upTo: limit))
        } catch is NIOTooManyBytesError {
            throw APIError.bodyTooLarge
        }
    }

    /// `type/subtype` of a Content-Type, lowercased, without parameters or surrounding blanks.
    static func mediaType(_ contentType: String) -> String? {
        guard let first = contentType.split(separator: ";").first else { return nil }
        // ASCII, the usual case: trim spaces and tabs here rather than through NSString, which
        // cost 1.4 % of a create's CPU. `.whitespaces` holds no other ASCII character.
        guard first.utf8.allSatisfy({ $0 < 0x80 }) else { return first.trimmingCharacters(in: .whitespaces).lowercased() }
        let blank: (UTF8.CodeUnit) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        let utf8 = first.utf8
        guard let start = utf8.firstIndex(where: { !blank($0) }), let end = utf8.lastIndex(where: { !blank($0) }) else { return "" }
        return String(first[start...end]).lowercased()
    }
}
