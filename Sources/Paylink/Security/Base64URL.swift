import Foundation

/// RFC 4648 §5 base64url without padding, the URL-safe alphabet of tokens and keys.
///
/// Written out rather than built on `base64EncodedString()` and three `replacingOccurrences`
/// passes, which cost more than the rest of issuing a link's token.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// The 6-bit value of each alphabet byte; 0xFF for every other byte.
    private static let values: [UInt8] = {
        var values = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { values[Int(byte)] = UInt8(index) }
        return values
    }()

    static func encode(_ data: some DataProtocol) -> String {
        let bytes = Array(data)
        let length = (bytes.count * 4 + 2) / 3
        return String(unsafeUninitializedCapacity: length) { output in
            var out = 0
            var index = 0
            while index + 3 <= bytes.count {
                let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
                output[out] = alphabet[Int(chunk >> 18 & 0x3F)]
                output[out + 1] = alphabet[Int(chunk >> 12 & 0x3F)]
                output[out + 2] = alphabet[Int(chunk >> 6 & 0x3F)]
                output[out + 3] = alphabet[Int(chunk & 0x3F)]
                out += 4
                index += 3
            }
            switch bytes.count - index {
            case 1:
                let chunk = UInt32(bytes[index]) << 16
                output[out] = alphabet[Int(chunk >> 18 & 0x3F)]
                output[out + 1] = alphabet[Int(chunk >> 12 & 0x3F)]
                out += 2
            case 2:
                let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
                output[out] = alphabet[Int(chunk >> 18 & 0x3F)]
                output[out + 1] = alphabet[Int(chunk >> 12 & 0x3F)]
                output[out + 2] = alphabet[Int(chunk >> 6 & 0x3F)]
                out += 3
            default: break
            }
            return out
        }
    }

    /// Nil for a character outside the alphabet or an impossible length. Like the padded
    /// decoder this replaced, it ignores the unused low bits of the last character; callers
    /// that need the one canonical spelling re-encode and compare.
    static func decode(_ string: String) -> Data? {
        let input = Array(string.utf8)
        if input.count % 4 == 1 { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(input.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in input {
            let value = values[Int(byte)]
            if value == 0xFF { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return Data(output)
    }

    static func isAlphabet(_ byte: UInt8) -> Bool { values[Int(byte)] != 0xFF }
}
