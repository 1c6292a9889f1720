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
        if let length = request.headers[.contentLength].flatMap(Int.init), length > context.maxUploadSize {
            throw APIError.bodyTooLarge
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw APIError.bodyTooLarge
        }
        let bytes = Data(buffer: buffer)
        if bytes.isEmpty && allowEmpty { return (bytes, [:]) }
        guard let contentType = request.headers[.contentType],
            contentType.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() == "application/json"
        else { throw APIError.unsupportedMediaType }
        return (bytes, try JSONValue.parseObject(bytes))
    }
}
