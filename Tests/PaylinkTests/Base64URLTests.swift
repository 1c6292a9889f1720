import Foundation
import Testing

@testable import Paylink

@Suite("base64url, written out")
struct Base64URLTests {
    /// RFC 4648 §5 spelled with Foundation's padded base64, the reference the hand-written coder must match.
    static func reference(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    @Test func encodesLikeFoundationAndDecodesBack() {
        for length in 0...64 {
            for _ in 0..<20 {
                let data = Data((0..<length).map { _ in UInt8.random(in: 0...255) })
                let encoded = Base64URL.encode(data)
                #expect(encoded == Self.reference(data))
                #expect(Base64URL.decode(encoded) == data)
            }
        }
    }

    @Test func refusesWhatIsNotBase64URL() {
        for invalid in ["ab+c", "ab/c", "abc=", "a", "abcde", "ab c", "é"] {
            #expect(Base64URL.decode(invalid) == nil, "\(invalid)")
        }
        #expect(Base64URL.decode("") == Data())
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        for byte in UInt8.min...UInt8.max { #expect(Base64URL.isAlphabet(byte) == alphabet.contains(byte)) }
    }
}
