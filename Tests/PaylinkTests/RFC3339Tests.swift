import Foundation
import Testing

@testable import Paylink

@Suite("RFC 3339 timestamps")
struct RFC3339Tests {
    /// The hand-written formatter writes what `Date.ISO8601FormatStyle` writes: every day of
    /// four leap cycles around 2000 and 2100, random instants from 1970 to 9999 (fractions
    /// included), the edges of days, months and years, and the fallback before 1970.
    @Test func matchesTheFormatStyle() {
        var dates: [Date] = []
        let day: TimeInterval = 86_400
        for start in [946_684_800.0 - 800 * day, 4_102_444_800.0 - 800 * day] {
            for index in 0..<1_600 { dates.append(Date(timeIntervalSince1970: start + Double(index) * day + Double(index % 86_400))) }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            dates.append(Date(timeIntervalSince1970: Double.random(in: 0 ..< 253_402_300_800, using: &generator)))
        }
        for edge in [-62_135_596_800.0, -1, -0.5, 0, 0.999, 59, 60, 86_399, 86_400, 951_782_400, 253_402_300_799] {
            dates.append(Date(timeIntervalSince1970: edge))
        }
        var mismatches: [String] = []
        for date in dates where RFC3339.string(date) != date.formatted(.iso8601) {
            mismatches.append("\(date.timeIntervalSince1970): \(RFC3339.string(date)) vs \(date.formatted(.iso8601))")
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
        #expect(RFC3339.string(Date(timeIntervalSince1970: 1_795_000_000)) == "2026-11-18T11:06:40Z")
    }
}
