import Crypto
import Foundation
import Testing

@testable import Paylink

@Suite("API keys and constant-time comparison")
struct APIKeyTests {
    @Test func aKeyMatchesItsOwnDigestAndNoOther() throws {
        let key = APIKey.generate()
        #expect(key.digest == Data(SHA256.hash(data: Data(key.secret.utf8))))
        #expect(key.matches(digest: key.digest))
        #expect(!key.matches(digest: APIKey.generate().digest))
        var flipped = key.digest
        flipped[flipped.startIndex + 31] ^= 1
        #expect(!key.matches(digest: flipped))
        #expect(!key.matches(digest: key.digest.prefix(31)))
        #expect(!key.matches(digest: Data()))
        let presented = try #require(APIKey(presented: key.secret))
        #expect(presented.matches(digest: key.digest))
    }

    @Test func constantTimeEqualityIsEquality() {
        let bytes = Data((0..<32).map { UInt8($0) })
        #expect(ConstantTime.equal(bytes, bytes))
        #expect(ConstantTime.equal(Data(), Data()))
        #expect(!ConstantTime.equal(bytes, bytes.dropLast()))
        #expect(!ConstantTime.equal(bytes.dropLast(), bytes))
        for index in [0, 15, 31] {
            var other = bytes
            other[index] ^= 0x80
            #expect(!ConstantTime.equal(bytes, other))
        }
        // A slice that does not start at index 0 compares by content.
        let sliced = (Data([9]) + bytes).dropFirst()
        #expect(ConstantTime.equal(sliced, bytes))
    }
}
