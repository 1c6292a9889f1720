import Foundation
import HTTPTypes
import Testing

@testable import Paylink

@Suite("Request bodies")
struct RequestBodyTests {
    @Test func mediaTypeReadsContentTypeAsFoundationTrimmingDid() {
        let headers = [
            "application/json", "Application/JSON", " application/json ; charset=utf-8", "\tapplication/json\t;q=1",
            ";application/json", "application/json;", "text/plain", "", " ", ";", "application/json\u{00A0}", "\u{2003}application/json",
            "application/ json",
        ]
        for header in headers {
            let reference = header.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
            #expect(RequestBody.mediaType(header) == reference, "\(header.debugDescription)")
        }
    }

    /// The fast path reads a header as `HTTPFields`' subscript does: absent, once, or repeated
    /// (joined, so `Content-Type` twice is no JSON type and `Authorization` twice no bearer token).
    @Test func aHeaderReadsAsTheSubscriptReadsIt() {
        var fields = HTTPFields()
        #expect(fields.value(.contentType) == nil)
        fields.append(HTTPField(name: .contentType, value: "application/json"))
        fields.append(HTTPField(name: .authorization, value: "Bearer a"))
        #expect(fields.value(.contentType) == "application/json")
        #expect(fields.value(HTTPField.Name("content-TYPE")!) == "application/json")
        fields.append(HTTPField(name: .contentType, value: "text/plain"))
        fields.append(HTTPField(name: .authorization, value: "Bearer b"))
        for name in [HTTPField.Name.contentType, .authorization, .contentLength] {
            #expect(fields.value(name) == fields[name], "\(name)")
        }
        #expect(fields.value(.authorization) == "Bearer a, Bearer b")
    }
}
