import Foundation
import HTTPTypes
import Hummingbird

/// Serves the committed OpenAPI 3.1 document (`Sources/Paylink/API/openapi.json`) at `/v1/openapi.json`.
struct OpenAPIController: Sendable {
    static let document: Data? = Bundle.module.url(forResource: "openapi", withExtension: "json").flatMap { try? Data(contentsOf: $0) }

    func addRoutes(to router: Router<PaylinkRequestContext>) {
        router.get("v1/openapi.json") { _, _ in
            guard let document = Self.document else { throw APIError.internalError }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: document)))
        }
    }
}
