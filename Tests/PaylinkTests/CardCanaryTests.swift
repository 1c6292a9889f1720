import AsyncHTTPClient
import Foundation
import Logging
import Synchronization
import Testing

@testable import Paylink

/// PCI DSS 3.3/3.5: a whole payment with a canary card, then every byte Paylink wrote — its
/// database files (main, WAL, SHM), its log lines at trace level, every event and every API
/// answer — is searched for the card number, with and without spaces, and for its CVC.
@Suite("Card data never lands in Paylink")
struct CardCanaryTests {
    static let canary = "4000 0566 5566 5556"
    /// "000": a printed number never has leading zeros, so it cannot stand alone in a log line
    /// by chance. "917" did once: PostgreSQL's connection log names the backend's process id.
    static let canaryCVC = "000"

    /// Every log line, as production would write it (JSON lines), kept in memory.
    final class LogCapture: Sendable {
        let lines = Mutex<Data>(Data())
        func logger(_ label: String) -> Logger {
            Logger(label: label) { label in
                var handler = JSONLogHandler(label: label, sink: { [self] data in lines.withLock { $0.append(data) } })
                handler.logLevel = .trace
                return handler
            }
        }
    }

    /// `pg_dump` of the test's schema (data and definitions), as bytes.
    static func pgDump(_ configuration: PaylinkConfiguration) throws -> Data {
        let bin = try FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql").sorted().last.map { "/usr/lib/postgresql/\($0)/bin/pg_dump" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bin ?? "/usr/bin/pg_dump")
        let url = configuration.databaseURL!.components(separatedBy: "?").first!
        process.arguments = ["--dbname=\(url)", "--schema=\(configuration.databaseSchema!)", "--no-owner"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return data
    }

    /// The CVC as a value of its own (`"000"`, ` 000 `): three digits also occur inside random
    /// ids, times and durations.
    static func containsWord(_ word: String, in text: String) -> Bool {
        text.ranges(of: word).contains { range in
            let before = range.lowerBound == text.startIndex ? nil : text[text.index(before: range.lowerBound)]
            let after = range.upperBound == text.endIndex ? nil : text[range.upperBound]
            // Part of a bigger token (an id, "20:14:22.000", "0.000") is not the CVC.
            func joins(_ character: Character?) -> Bool {
                guard let character else { return false }
                return character.isLetter || character.isNumber || character == "." || character == ":" || character == "_"
            }
            return !joins(before) && !joins(after)
        }
    }

    @Test("a full payment with a canary card leaves no trace of the number or CVC", arguments: StoreKind.available)
    func canaryCardLeavesNoTrace(store: StoreKind) async throws {
        let logs = LogCapture()
        let sandbox = try await RunningSandbox.start(logger: logs.logger("sandbox-psp"))
        let paylink = try await TestPaylink.withPSP(store, sandbox: sandbox)
        defer { paylink.cleanUp() }
        let answers = Mutex<[Data]>([])
        do {
            try await paylink.live(sandbox: sandbox, logger: logs.logger("paylink")) { base, http in
                let agent = AgentClient(http: http, base: base, key: paylink.agent)
                let link = try await agent.createLink(#"{"amount": 4200, "currency": "GBP", "reference": "canary-1"}"#)
                let customer = Customer(http: http, sandbox: sandbox, paylink: base, link: link)
                func keep(_ object: [String: Any]) {
                    if let data = try? JSONSerialization.data(withJSONObject: object) { answers.withLock { $0.append(data) } }
                }
                for (type, field) in [
                    ("link.opened", nil), ("payment.card_entry_started", nil), ("payment.card_field_completed", "number"),
                    ("payment.card_field_completed", "expiry"), ("payment.card_field_completed", "cvc"), ("payment.card_entry_completed", nil),
                ] as [(String, String?)] {
                    keep(try await customer.progress(type, field: field).1)
                }
                // A broken page that tried to report values gets an error that does not echo them.
                keep(try await customer.send("POST", "\(base)/p/\(customer.token)/progress", json: ["type": "payment.card_field_completed", "field": Self.canary]).1)
                keep(try await customer.send("POST", "\(base)/p/\(customer.token)/progress", json: ["type": Self.canary]).1)
                keep(try await customer.send("POST", "\(base)/p/\(customer.token)/progress", json: [Self.canary: Self.canaryCVC]).1)
                keep(try await customer.send("POST", "\(base)/p/\(customer.token)/pay", json: ["psp_token": Self.canary]).1)

                let token = try await customer.tokenise(Self.canary, cvc: Self.canaryCVC)
                let (status, paid) = try await customer.pay(token, brand: "visa", last4: "5556")
                #expect(status == 200)
                keep(paid)
                #expect(paid["link_status"] as? String == "paid")
                try await Task.sleep(for: .milliseconds(500))  // the webhook lands too
                let (_, finalLink) = try await agent.send("GET", "/v1/links/\(customer.linkID)", body: nil)
                keep(finalLink)
                let (_, events) = try await agent.send("GET", "/v1/links/\(customer.linkID)/events?limit=100", body: nil)
                keep(events)
                #expect((events["data"] as? [Any])?.count ?? 0 >= 9)
                let (_, all) = try await agent.send("GET", "/v1/links?limit=100", body: nil)
                keep(all)
                keep(try await customer.status())
            }
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()

        let digits = Self.canary.replacingOccurrences(of: " ", with: "")
        let needles = [digits, Self.canary, Self.canary.replacingOccurrences(of: " ", with: "-")].map { Data($0.utf8) }
        var searched = 0
        let files = FileManager.default.enumerator(at: paylink.directory, includingPropertiesForKeys: nil)!
        for case let url as URL in files {
            guard let bytes = try? Data(contentsOf: url) else { continue }
            searched += 1
            for needle in needles { #expect(bytes.range(of: needle) == nil, "card number found in \(url.lastPathComponent)") }
        }
        if store == .sqlite {
            #expect(searched >= 2, "the data directory holds the database and the master key at least")
        } else {
            // PostgreSQL keeps the data on the server: dump this test's schema and search the dump.
            let dump = try Self.pgDump(paylink.configuration)
            #expect(dump.count > 1000, "the dump has the link, payment and events")
            for needle in needles { #expect(dump.range(of: needle) == nil, "card number found in the PostgreSQL dump") }
        }

        let logBytes = logs.lines.withLock { $0 }
        #expect(logBytes.count > 0, "logs were captured")
        for needle in needles { #expect(logBytes.range(of: needle) == nil, "card number found in a log line") }
        let logLines = String(decoding: logBytes, as: UTF8.self).split(separator: "\n").map(String.init)
        let cvcLines = logLines.filter { Self.containsWord(Self.canaryCVC, in: $0) }
        #expect(cvcLines.isEmpty, "CVC found in a log line: \(cvcLines)")

        for answer in answers.withLock({ $0 }) {
            for needle in needles { #expect(answer.range(of: needle) == nil, "card number in an answer: \(String(decoding: answer, as: UTF8.self))") }
            #expect(!Self.containsWord(Self.canaryCVC, in: String(decoding: answer, as: UTF8.self)), "CVC in an answer")
        }
    }
}
