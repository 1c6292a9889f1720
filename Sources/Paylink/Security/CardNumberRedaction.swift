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

    /// Whether `text` holds what is almost surely a card number, for refusing it where a
    /// person typed it (a link's reference or note). Narrower than `redact`, which may mask
    /// too much in an error message but must not refuse a good reference: a run of 13–19
    /// digits that starts as card numbers do (2–6: Mastercard, Amex, Diners, JCB, Visa,
    /// Discover, UnionPay, Maestro), passes the Luhn check, and is either unbroken or grouped
    /// the way cards are printed and read out: fours with a shorter last group (4-4-4-4,
    /// 4-4-4-4-3) or Amex and Diners' 4-6-5 / 4-6-4, with one kind of separator (a space or a
    /// hyphen). So `order-1764149123456` (a millisecond timestamp) or `load-1764149123-1-12345`
    /// are not card numbers; `4929 1357 8642 0756` is. Text with fewer than 13 digits is
    /// answered from one pass over its bytes.
    static func containsCardNumber(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        guard bytes.lazy.filter(isDigit).count >= 13 else { return false }
        var index = 0
        while index < bytes.count {
            guard isDigit(bytes[index]) else {
                index += 1
                continue
            }
            // The longest run from here of digit groups joined by single separators.
            var groups: [[UInt8]] = [[]]
            var separator: UInt8?
            var mixed = false
            var end = index
            while end < bytes.count {
                let byte = bytes[end]
                if isDigit(byte) {
                    groups[groups.count - 1].append(byte)
                    end += 1
                } else if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "-"), end + 1 < bytes.count, isDigit(bytes[end + 1]) {
                    if let separator, separator != byte { mixed = true }
                    separator = byte
                    groups.append([])
                    end += 1
                } else {
                    break
                }
            }
            let digits = groups.joined()
            if !mixed, (13...19).contains(digits.count), (UInt8(ascii: "2")...UInt8(ascii: "6")).contains(digits.first!),
                isCardGrouping(groups.map(\.count)), luhnValid(String(decoding: digits, as: UTF8.self))
            {
                return true
            }
            index = end
        }
        return false
    }

    /// Unbroken, fours with a last group of one to four, or 4-6-5 / 4-6-4.
    private static func isCardGrouping(_ sizes: [Int]) -> Bool {
        if sizes.count == 1 || sizes == [4, 6, 5] || sizes == [4, 6, 4] { return true }
        return sizes.dropLast().allSatisfy { $0 == 4 } && (1...4).contains(sizes.last!)
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
