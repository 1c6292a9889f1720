import Foundation
import HummingbirdTesting
import Testing

@testable import Paylink

@Suite("Event log and expiry")
struct EventLogTests {
    @Test(arguments: StoreKind.available) func seqHasNoGapsUnderTwentyConcurrentWriters(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let id = try await client.createLink(key: paylink.agent, #"{"amount": 100, "currency": "EUR", "reference": "r", "expires_in": 300}"#)["id"] as! String
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        Int(try await client.send(.post, "/v1/links/\(id)/extend", key: paylink.agent, json: #"{"expires_in": 300}"#).status.code)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 200, count: 20))
            let page = try await client.send(.get, "/v1/links/\(id)/events?limit=100", key: paylink.agent).jsonObject()
            let seqs = (page["data"] as! [[String: Any]]).map { $0["seq"] as! Int }
            #expect(seqs == Array(1...21))
            let link = try await client.send(.get, "/v1/links/\(id)", key: paylink.agent).jsonObject()
            #expect(link["expires_at"] as? String == paylink.clock.now().addingTimeInterval(300 + 20 * 300).formatted(.iso8601))
        }
    }

    @Test(arguments: StoreKind.available) func concurrentWritersOnManyLinksKeepEachLinksOwnSequence(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            var ids: [String] = []
            for _ in 0..<4 { ids.append(try await client.createLink(key: paylink.agent)["id"] as! String) }
            let targets = ids
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await client.send(.post, "/v1/links/\(targets[index % 4])/extend", key: paylink.agent, json: #"{"expires_in": 300}"#)
                    }
                }
                try await group.waitForAll()
            }
            for id in ids {
                let page = try await client.send(.get, "/v1/links/\(id)/events?limit=100", key: paylink.agent).jsonObject()
                #expect((page["data"] as! [[String: Any]]).map { $0["seq"] as! Int } == Array(1...6))
            }
        }
    }

    @Test(arguments: StoreKind.available) func expiryServiceRecordsLinkExpired(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let id = try await client.createLink(key: paylink.agent, #"{"amount": 100, "currency": "EUR", "reference": "r", "expires_in": 300}"#)["id"] as! String
            paylink.clock.advance(by: 301)
            var types: [String] = []
            for _ in 0..<50 {
                let page = try await client.send(.get, "/v1/links/\(id)/events", key: paylink.agent).jsonObject()
                types = (page["data"] as! [[String: Any]]).map { $0["type"] as! String }
                if types.count == 2 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(types == ["link.created", "link.expired"])
            let cancel = try await client.send(.post, "/v1/links/\(id)/cancel", key: paylink.agent)
            #expect(cancel.errorCode == "link_expired")
        }
    }

    @Test(arguments: StoreKind.available) func linksThatExpiredWhileTheServiceWasDownAreExpiredOnStart(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        let id: String = try await paylink.test { client in
            try await client.createLink(key: paylink.agent, #"{"amount": 100, "currency": "EUR", "reference": "r", "expires_in": 300}"#)["id"] as! String
        }
        // Down for an hour.
        paylink.clock.advance(by: 3600)
        try await paylink.test { client in
            var events: [[String: Any]] = []
            for _ in 0..<50 {
                events = try await client.send(.get, "/v1/links/\(id)/events", key: paylink.agent).jsonObject()["data"] as! [[String: Any]]
                if events.count == 2 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(events.map { $0["type"] as! String } == ["link.created", "link.expired"])
            #expect(events.map { $0["seq"] as! Int } == [1, 2])
            let link = try await client.send(.get, "/v1/links/\(id)", key: paylink.agent).jsonObject()
            #expect(link["status"] as? String == "expired")
        }
    }

    @Test(arguments: StoreKind.available) func extendedLinkIsNotExpiredAtItsOldTime(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let id = try await client.createLink(key: paylink.agent, #"{"amount": 100, "currency": "EUR", "reference": "r", "expires_in": 300}"#)["id"] as! String
            try await client.send(.post, "/v1/links/\(id)/extend", key: paylink.agent, json: #"{"expires_in": 600}"#)
            paylink.clock.advance(by: 301)
            try await Task.sleep(for: .milliseconds(400))
            let link = try await client.send(.get, "/v1/links/\(id)", key: paylink.agent).jsonObject()
            #expect(link["status"] as? String == "open")
            let events = try await client.send(.get, "/v1/links/\(id)/events", key: paylink.agent).jsonObject()["data"] as! [[String: Any]]
            #expect(!events.contains { $0["type"] as? String == "link.expired" })
        }
    }

    @Test(arguments: StoreKind.available) func eventsSurviveAReopenOfTheDatabase(store: StoreKind) async throws {
        let paylink = try await TestPaylink.make(store)
        defer { paylink.cleanUp() }
        let id: String = try await paylink.test { client in
            let id = try await client.createLink(key: paylink.agent)["id"] as! String
            try await client.send(.post, "/v1/links/\(id)/cancel", key: paylink.agent)
            return id
        }
        try await paylink.test { client in
            let events = try await client.send(.get, "/v1/links/\(id)/events", key: paylink.agent).jsonObject()["data"] as! [[String: Any]]
            #expect(events.map { $0["type"] as! String } == ["link.created", "link.cancelled"])
        }
    }
}
