import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing

/// `paylink serve` killed with SIGKILL in the middle of a burst of creates, then started again
/// on the same database: every link that was acknowledged is there with its `link.created`
/// event, each request the kill cut off can be retried at once with its Idempotency-Key and
/// makes one link, never two, and every link's `seq` starts at 1 with no gap.
/// (The power-loss half of durability, `synchronous=FULL`'s fsync per commit, is what
/// `scripts/load/fsync_check.sh` shows; a test process cannot pull the plug.)
@Suite("Crash recovery")
struct CrashRecoveryTests {
    @Test(.timeLimit(.minutes(3)), arguments: StoreKind.available)
    func whatWasAcknowledgedSurvivesAKill9(store: StoreKind) async throws {
        let root = try CLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var environment = ["PAYLINK_DATA_DIR": root.appendingPathComponent("data").path]
        if store == .postgres {
            environment["PAYLINK_DATABASE_URL"] = ProcessInfo.processInfo.environment["PAYLINK_TEST_DATABASE_URL"]
            environment["PAYLINK_DATABASE_SCHEMA"] = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            environment["PAYLINK_MASTER_KEY"] = Data(repeating: 9, count: 32).base64EncodedString()
        }
        let created = try CLITests.paylink(["agents", "create", "--name", "crash", "--role", "agent", "--json"], environment: environment)
        #expect(created.status == 0, "\(created.error)")
        let key = try #require(
            (try JSONSerialization.jsonObject(with: Data(created.output.utf8)) as? [String: Any])?["api_key"] as? String)

        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { _ = http.shutdown() }
        let port = try await BrowserPaymentTests.freeLoopbackPort()
        let agent = AgentClient(http: http, base: "http://127.0.0.1:\(port)", key: key)

        // A burst from eight clients; the server is killed once 150 creates have been answered.
        let first = try Server.start(port: port, environment: environment, in: root)
        try await first.waitUntilReady(agent)
        let outcomes = Outcomes()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<8 {
                group.addTask {
                    for n in 0..<2_000 {
                        let reference = "crash-\(client)-\(n)"
                        outcomes.withLock { $0[reference] = .some(nil) }
                        guard let (status, link) = try? await agent.create(reference: reference), status == 201 else { return }
                        outcomes.withLock { $0[reference] = .some(link["id"] as? String) }
                    }
                }
            }
            group.addTask {
                for _ in 0..<6_000 where outcomes.withLock({ $0.values.compactMap { $0 }.count }) < 150 {
                    try await Task.sleep(for: .milliseconds(5))
                }
                first.kill()
            }
            try await group.waitForAll()
        }
        let acknowledged = outcomes.withLock { $0.compactMapValues { $0 } }
        let unanswered = outcomes.withLock { $0.filter { $0.value == nil }.map(\.key) }
        #expect(acknowledged.count >= 150)

        let second = try Server.start(port: port, environment: environment, in: root)
        defer { second.kill() }
        try await second.waitUntilReady(agent)
        for (reference, id) in acknowledged {
            let (status, link) = try await agent.send("GET", "/v1/links/\(id)", body: nil)
            #expect(status == 200 && link["reference"] as? String == reference, "acknowledged \(id) is there")
        }
        // A request cut off by the crash is retried with its key at once: the key is taken in
        // the create's own transaction, so the kill left no claim to wait out. It made one link
        // (the retry is its replay) or none (the retry makes it), never two.
        for reference in unanswered {
            let (status, link) = try await agent.create(reference: reference)
            #expect(status == 201 && link["reference"] as? String == reference, "\(reference): \(status) \(link)")
        }
        var byReference: [String: Int] = [:]
        var startingAfter: String?
        repeat {
            let (status, page) = try await agent.send(
                "GET", "/v1/links?limit=100" + (startingAfter.map { "&starting_after=\($0)" } ?? ""), body: nil)
            #expect(status == 200)
            let links = page["data"] as? [[String: Any]] ?? []
            for link in links {
                byReference[link["reference"] as? String ?? "", default: 0] += 1
                let events = try await agent.events(link["id"] as! String)
                #expect(events.compactMap { $0["seq"] as? Int } == Array(1...max(1, events.count)), "no gap in \(link["id"]!)")
                #expect(events.first?["type"] as? String == "link.created")
            }
            startingAfter = page["has_more"] as? Bool == true ? links.last?["id"] as? String : nil
        } while startingAfter != nil
        #expect(byReference.values.allSatisfy { $0 == 1 }, "one link per Idempotency-Key")
        #expect(Set(acknowledged.keys).isSubset(of: Set(byReference.keys)))
    }

    /// Idempotency-Key → the link's id once acknowledged, nil while sent and unanswered.
    final class Outcomes: Sendable {
        private let state = Mutex<[String: String?]>([:])
        func withLock<T>(_ body: (inout [String: String?]) -> T) -> T { state.withLock { body(&$0) } }
    }

    /// One `paylink serve` process on plain HTTP, its output in a file. `Process` is used from
    /// one task at a time (start, then kill).
    final class Server: @unchecked Sendable {
        let process: Process

        init(process: Process) { self.process = process }

        static func start(port: Int, environment: [String: String], in directory: URL) throws -> Server {
            let process = Process()
            process.executableURL = try CLITests.binary()
            process.arguments = ["serve", "--no-tls", "--host", "127.0.0.1", "--port", "\(port)", "--psp-port", "0"]
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PAYLINK_") }
                .merging(environment) { $1 }
            let log = directory.appendingPathComponent("serve-\(UUID().uuidString).log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            return Server(process: process)
        }

        /// Until `/readyz` answers 200, for at most 30 s.
        func waitUntilReady(_ agent: AgentClient) async throws {
            for _ in 0..<300 {
                if let (status, _) = try? await agent.send("GET", "/readyz", body: nil), status == 200 { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestFailure("paylink serve did not become ready")
        }

        func kill() {
            guard process.isRunning else { return }
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

extension AgentClient {
    /// POST /v1/links with `reference` as both the reference and the Idempotency-Key.
    func create(reference: String) async throws -> (Int, [String: Any]) {
        var request = HTTPClientRequest(url: base + "/v1/links")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: reference)
        request.body = .bytes(ByteBuffer(string: #"{"amount": 500, "currency": "EUR", "reference": "\#(reference)"}"#))
        let response = try await http.execute(request, timeout: .seconds(20))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), (try? JSONSerialization.jsonObject(with: Data(buffer: bytes))) as? [String: Any] ?? [:])
    }
}
