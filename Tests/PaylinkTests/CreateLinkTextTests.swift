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
}
