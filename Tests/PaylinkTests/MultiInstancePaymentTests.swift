import AsyncHTTPClient
import Foundation
import HummingbirdTesting
import Logging
import Testing

@testable import Paylink

/// Two instances on one PostgreSQL database, one sandbox PSP: a link is paid at most once even
/// when submissions race on both instances, and the webhook landing on A settles a payment
/// admitted on B.
@Suite("Paying across instances", .enabled(if: StoreKind.available.contains(.postgres)))
struct MultiInstancePaymentTests {
    @Test("30 submissions split over two instances pay the link once")
    func concurrentSubmissionsOnTwoInstancesPayOnce() async throws {
        let sandbox = try await RunningSandbox.start()
        let first = try await TestPaylink.withPSP(.postgres, sandbox: sandbox) { configuration in
            configuration.payments.maxAttemptsPerCard = 1000
            configuration.payments.maxAttemptsPerIP = 1000
            configuration.payments.maxAttemptsPerLink = 1000
        }
        let second = first.secondInstance()
        defer { first.cleanUp() }
        do {
            try await first.live(sandbox: sandbox) { baseA, http in
                var quiet = Logger(label: "paylink-test-b")
                quiet.logLevel = .warning
                let appB = try await buildApplication(second.configuration, clock: second.clock, logger: quiet, onBootstrapKey: { _, _, _ in })
                try await appB.test(.live) { clientB in
                    let baseB = "http://127.0.0.1:\(clientB.port!)"
                    let agent = AgentClient(http: http, base: baseA, key: first.agent)
                    let link = try await agent.createLink()
                    let onA = Customer(http: http, sandbox: sandbox, paylink: baseA, link: link)
                    let onB = Customer(http: http, sandbox: sandbox, paylink: baseB, link: link)
                    var tokens: [String] = []
                    for _ in 0..<30 { tokens.append(try await onA.tokenise("4242 4242 4242 4242")) }
                    let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                        for (index, token) in tokens.enumerated() {
                            let customer = index % 2 == 0 ? onA : onB
                            group.addTask { try await customer.pay(token).0 }
                        }
                        return try await group.reduce(into: [Int]()) { $0.append($1) }
                    }
                    #expect(statuses.allSatisfy { $0 == 200 || $0 == 409 }, "\(statuses)")
                    try await Task.sleep(for: .milliseconds(500))  // the webhook lands on A
                    let types = try await agent.eventTypes(onA.linkID)
                    #expect(types.filter { $0 == "payment.submitted" }.count == 1, "\(types)")
                    #expect(types.filter { $0 == "payment.succeeded" }.count == 1, "\(types)")
                    let events = try await agent.events(onA.linkID)
                    #expect(events.compactMap { $0["seq"] as? Int } == Array(1...events.count), "no gaps across instances")
                    let viaB = try await AgentClient(http: http, base: baseB, key: first.agent).link(onA.linkID)
                    #expect(viaB["status"] as? String == "paid")
                }
            }
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }
}
