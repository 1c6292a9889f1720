import Foundation
import Testing

@testable import Paylink

@Suite("Identifiers")
struct IdentifierTests {
    @Test func idsAreWellFormedAndAscendWithTime() {
        let start = Date(timeIntervalSince1970: 1_790_000_000)
        var previous: LinkID?
        for step in 0..<200 {
            let id = LinkID.generate(now: start.addingTimeInterval(Double(step) * 0.001))
            #expect(LinkID(id.rawValue) == id)
            #expect(id.rawValue.count == 4 + 24)
            if let previous { #expect(previous < id, "ids made a millisecond apart must ascend") }
            previous = id
        }
        // Same millisecond: same time prefix, different random parts.
        let ids = (0..<1000).map { _ in EventID.generate(now: start) }
        #expect(Set(ids.map { $0.rawValue.prefix(4 + 8) }).count == 1)
        #expect(Set(ids).count == ids.count)
        // The random part uses the whole alphabet (62 symbols over 16,000 draws).
        #expect(Set(ids.flatMap { $0.rawValue.dropFirst(4 + 8) }).count == 62)
    }

    /// No symbol is favoured: a plain `byte % 62` would make the first eight symbols a quarter
    /// more likely than the rest. 64,000 symbols, each expected 1,032 times (σ ≈ 32); the bounds
    /// are six σ, and a favoured symbol lands near 1,290.
    @Test func randomSymbolsAreEquallyLikely() {
        var counts: [Character: Int] = [:]
        for _ in 0..<4000 {
            for symbol in PaymentID.generate().rawValue.dropFirst(4 + 8) { counts[symbol, default: 0] += 1 }
        }
        #expect(counts.count == 62)
        #expect(counts.values.allSatisfy { (840...1224).contains($0) }, "\(counts.sorted { $0.value > $1.value }.prefix(3))")
    }

    @Test func theTimePrefixSpellsMilliseconds() {
        #expect(LinkID.generate(now: Date(timeIntervalSince1970: 0)).rawValue.hasPrefix("lnk_00000000"))
        #expect(LinkID.generate(now: Date(timeIntervalSince1970: 0.061)).rawValue.hasPrefix("lnk_0000000z"))
        #expect(LinkID.generate(now: Date(timeIntervalSince1970: 0.062)).rawValue.hasPrefix("lnk_00000010"))
    }
}
