import Foundation
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
}
