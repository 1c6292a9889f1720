import Testing

@testable import Paylink

@Suite("Link text parameters")
struct CreateLinkTextTests {
    /// The ASCII fast path must judge every string it accepts exactly like the general checks.
    @Test func asciiFastPathAgreesWithTheGeneralChecks() {
        var samples = ["", " ", "  ", "\t", " \t ", "a", " a ", "order-1", "x\ty", "a\r\nb", "\r\n", "bell\u{07}", "del\u{7F}", "é", " é", "\u{00A0}"]
        for length in [0, 1, 9, 10, 11, 64, 65] {
            samples.append(String(repeating: "a", count: length))
            samples.append(String(repeating: " ", count: length))
            samples.append(String(repeating: "a", count: max(0, length - 2)) + "\r\n")
        }
        for byte in UInt8(0)...UInt8(0x7F) { samples.append("ab" + String(UnicodeScalar(byte)) + "cd") }
        var fast = 0
        for sample in samples {
            for max in [1, 5, 10, 64] {
                let general = CreateLinkRequest.problem(sample, max: max)
                if let quick = CreateLinkRequest.asciiProblem(sample, max: max) {
                    fast += 1
                    #expect(quick == general, "\(sample.debugDescription), max \(max)")
                }
            }
        }
        #expect(fast > samples.count, "the fast path judged most samples itself")
    }

    @Test func lengthsAreCodePointsAndBlankMeansNothingVisible() {
        typealias P = CreateLinkRequest.TextProblem
        let cases: [(String, Int, P)] = [
            ("a" + String(repeating: "\u{0301}", count: 2000), 64, .tooLong),  // one Character, 2,001 code points
            (String(repeating: "é", count: 64), 64, .none),
            (String(repeating: "e\u{0301}", count: 32), 64, .none),
            (String(repeating: "e\u{0301}", count: 33), 64, .tooLong),
            (String(repeating: "🇬🇧", count: 32), 64, .none),
            (String(repeating: "🇬", count: 65), 64, .tooLong),
            ("\u{200B}", 64, .empty), ("\u{FEFF}\u{00AD}", 64, .empty), ("\u{0301}", 64, .empty), (" \u{3000}\u{00A0}", 64, .empty),
            ("order\u{202E}1", 64, .control), ("a\u{2066}b\u{2069}", 64, .none), ("a\u{2029}b", 64, .control),
            ("a\u{0085}b", 64, .control),
            ("\u{3164}", 64, .empty), ("\u{2800}\u{115F}", 64, .empty),  // Hangul fillers and the Braille blank draw nothing
            ("\u{2068}مريم\u{2069} 42", 64, .none),  // a right-to-left name wrapped in a closed isolate
            ("\u{2068}مريم", 64, .control), ("a\u{2069}", 64, .control), ("\u{2067}a\u{2069}\u{2069}", 64, .control),
            ("👨‍👩‍👧‍👦", 64, .none),  // zero-width joiners inside an emoji are fine
            ("注文-1", 64, .none),
        ]
        for (value, max, expected) in cases {
            #expect(CreateLinkRequest.problem(value, max: max) == expected, "\(value.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    @Test func emailDomainLabelsCountCharactersNotBytes() {
        #expect(CreateLinkRequest.isPlausibleEmail("ann@" + String(repeating: "ไ", count: 30) + ".th"), "30 Thai letters: 90 bytes, far under 63 in punycode")
        #expect(!CreateLinkRequest.isPlausibleEmail("ann@" + String(repeating: "a", count: 64) + ".com"))
        #expect(!CreateLinkRequest.isPlausibleEmail(String(repeating: "a", count: 65) + "@example.com"))
    }

    /// What a person types as a card number is refused; what merely has many digits is not.
    @Test(arguments: [
        "4929135786420756", "4929 1357 8642 0756", "4929-1357-8642-0756", "card:4929135786420756.", "ORD4929135786420756",
        "3782 822463 10005", "3056 930902 5904", "5555555555554444", "2223003122003222", "6011111111111117", "4111 1111 1111 1111 003",
        "note 4929 1357 8642 0756 exp 12/30",
    ])
    func cardNumbersAreFound(_ text: String) {
        #expect(CardNumberRedaction.containsCardNumber(text), "\(text)")
        #expect(CardNumberRedaction.redact(text) != text, "the error redaction masks it too: \(text)")
    }

    @Test(arguments: [
        // Each of these but the first passes the Luhn check; another rule keeps it out.
        "4929135786420757",  // fails the Luhn check
        "1764149123457", "order-1764149123457", "evt-17641491234565",  // millisecond timestamps start with 1
        "load-1764149123-1-12343", "2024-11-26-000123455",  // not grouped as cards are
        "4929 1357-8642 0756",  // two kinds of separator
        "7000000000000000003", "999999999999994",  // no card starts with 7-9 (or 0-1)
        "+447700900123", "020 7946 0958", "49291357864",  // too short
        "49291357864207564929135786420756",  // one run of 32 digits
    ])
    func otherDigitsAreNot(_ text: String) {
        #expect(!CardNumberRedaction.containsCardNumber(text), "\(text)")
    }
}
