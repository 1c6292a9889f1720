/// Masks anything shaped like a card number (13–19 digits passing the Luhn check, optionally
/// separated by single spaces or hyphens) in text Paylink writes back, such as an error naming an unknown
/// parameter. Paylink never asks for card numbers, so this is a last line of defence against a
/// client that sends one anyway (PCI DSS 3.4: a PAN is never displayed in full).
enum CardNumberRedaction {
    static func redact(_ text: String) -> String {
        let characters = Array(text)
        var output = ""
        var index = 0
        while index < characters.count {
            // Longest run of digits with single separators starting here.
            var end = index
            var digits = 0
            var lastDigitEnd = index
            while end < characters.count {
                let character = characters[end]
                if character.isASCII, character.isNumber {
                    digits += 1
                    end += 1
                    lastDigitEnd = end
                } else if (character == " " || character == "-"), digits > 0, end + 1 < characters.count,
                    characters[end + 1].isASCII, characters[end + 1].isNumber
                {
                    end += 1
                } else {
                    break
                }
            }
            if (13...19).contains(digits), luhnValid(String(characters[index..<lastDigitEnd])) {
                output += "[redacted]"
                index = lastDigitEnd
            } else if digits > 0 {
                output += String(characters[index..<lastDigitEnd])
                index = lastDigitEnd
            } else {
                output.append(characters[index])
                index += 1
            }
        }
        return output
    }

    /// Whether `text` holds something card-number shaped (as `redact` would mask it). Text with
    /// fewer than 13 digits cannot, which is nearly every value: those are answered from one pass
    /// over the bytes.
    static func containsCardNumber(_ text: String) -> Bool {
        var digits = 0
        for byte in text.utf8 where (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { digits += 1 }
        return digits >= 13 && redact(text) != text
    }

    static func luhnValid(_ text: String) -> Bool {
        let digits = text.compactMap { $0.wholeNumberValue }
        var sum = 0
        for (offset, digit) in digits.reversed().enumerated() {
            let value = offset % 2 == 1 ? digit * 2 : digit
            sum += value > 9 ? value - 9 : value
        }
        return sum % 10 == 0
    }
}
