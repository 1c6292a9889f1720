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
}
