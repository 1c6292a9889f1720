import Foundation
import HummingbirdTesting
import Testing

@testable import Paylink

@Suite("Signed link tokens and the page")
struct LinkTokenTests {
    static func token(_ link: [String: Any]) -> String {
        (link["url"] as! String).components(separatedBy: "/p/").last!
    }

    /// Pages differ only in their per-response CSP nonce.
    static func withoutNonce(_ html: String) -> String {
        html.replacingOccurrences(of: #"nonce="[A-Za-z0-9_-]+""#, with: "nonce", options: .regularExpression)
    }

    @Test func tokenIsShortURLSafeAndCarries128RandomBits() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            var tokens = Set<String>()
            for _ in 0..<20 {
                let token = Self.token(try await client.createLink(key: paylink.agent))
                #expect(token.count <= 64)
                #expect(token.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
                tokens.insert(token)
            }
            #expect(tokens.count == 20)
        }
        #expect(LinkToken.nonceLength * 8 >= 128)
    }

    @Test func openPageAnswers200AndAGetChangesNothing() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let link = try await client.createLink(key: paylink.agent, #"{"amount": 1999, "currency": "GBP", "reference": "INV-1", "locale": "zh-Hant"}"#)
            for _ in 0..<3 {
                let page = try await client.send(.get, "/p/\(Self.token(link))", key: nil, headers: ["User-Agent": "Slackbot-LinkExpanding 1.0"])
                #expect(page.status == .ok)
                #expect(page.text.contains("GBP 19.99"))
                #expect(page.text.contains("INV-1"))
                #expect(page.text.contains("lang=\"zh-Hant\""))
                let csp = try #require(page.headers[.contentSecurityPolicy])
                #expect(csp.contains("frame-ancestors 'none'"))
                #expect(csp.contains("'nonce-"))
                #expect(page.headers[.cacheControl] == "no-store")
                #expect(page.headers[.init("Referrer-Policy")!] == "no-referrer")
                #expect(page.headers[.xContentTypeOptions] == "nosniff")
            }
            let events = try await client.send(.get, "/v1/links/\(link["id"]!)/events", key: paylink.agent).jsonObject()["data"] as! [Any]
            #expect(events.count == 1, "a GET must not emit link.opened or anything else")
        }
    }

    @Test func everyAlteredTokenGetsTheSameNotFoundPage() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let token = Self.token(try await client.createLink(key: paylink.agent))
            let unknown = try await client.send(.get, "/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", key: nil)
            #expect(unknown.status == .notFound)
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            var variants: [String] = [String(token.dropLast()), token + "A", String(token.prefix(20)), "x"]
            for index in token.indices {
                var characters = Array(token)
                let position = token.distance(from: token.startIndex, to: index)
                let replacement = alphabet.first { $0 != characters[position] }!
                characters[position] = replacement
                variants.append(String(characters))
            }
            for variant in variants {
                let page = try await client.send(.get, "/p/\(variant)", key: nil)
                #expect(page.status == .notFound, "\(variant)")
                #expect(Self.withoutNonce(page.text) == Self.withoutNonce(unknown.text))
            }
        }
    }

    @Test func cancelledAndExpiredLinksAnswerGone() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let cancelled = try await client.createLink(key: paylink.agent)
            try await client.send(.post, "/v1/links/\(cancelled["id"]!)/cancel", key: paylink.agent)
            #expect(try await client.send(.get, "/p/\(Self.token(cancelled))", key: nil).status == .gone)
            let expiring = try await client.createLink(key: paylink.agent, #"{"amount": 1, "currency": "GBP", "reference": "r", "expires_in": 300}"#)
            paylink.clock.advance(by: 300)
            let page = try await client.send(.get, "/p/\(Self.token(expiring))", key: nil)
            #expect(page.status == .gone)
            #expect(page.text.contains("contact the agent"))
        }
    }

    @Test func rotationKeepsOldLinksAndRetirementEndsThem() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        let old: String = try await paylink.test { client in Self.token(try await client.createLink(key: paylink.agent)) }
        let runtime = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
        let firstKey = try #require(try await runtime.keyRing.list().first { $0.status == .current })
        let rotated = try await runtime.keyRing.rotate(now: paylink.clock.now())
        #expect(rotated.id != firstKey.id)

        let new: String = try await paylink.test { client in
            #expect(try await client.send(.get, "/p/\(old)", key: nil).status == .ok, "old key still valid after rotation")
            let new = Self.token(try await client.createLink(key: paylink.agent))
            #expect(new.prefix(3) != old.prefix(3), "new links carry the new key id")
            return new
        }
        await #expect(throws: SigningKeyRing.Failure.retiringCurrentKey) { try await runtime.keyRing.retire(id: rotated.id, now: paylink.clock.now()) }
        // Right after the rotation a running server may still sign with the old key (it
        // reloads every 2 s): retiring it now would kill links handed out in that window.
        await #expect(throws: SigningKeyRing.Failure.recentlyCurrent) { try await runtime.keyRing.retire(id: firstKey.id, now: paylink.clock.now()) }
        paylink.clock.advance(by: SigningKeyRing.retireGrace)
        _ = try await runtime.keyRing.retire(id: firstKey.id, now: paylink.clock.now())
        try await paylink.test { client in
            let unknown = try await client.send(.get, "/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", key: nil)
            let retired = try await client.send(.get, "/p/\(old)", key: nil)
            #expect(retired.status == .notFound)
            #expect(Self.withoutNonce(retired.text) == Self.withoutNonce(unknown.text))
            #expect(try await client.send(.get, "/p/\(new)", key: nil).status == .ok)
        }
    }

    /// The nonce starts with the creation time so that the stored nonces' unique index grows at
    /// one end; the 128 random bits after it are what makes a token unguessable.
    @Test func nonceIsTheTimeThen128RandomBits() throws {
        let now = Date(timeIntervalSince1970: 1_795_000_000.123)
        let first = LinkToken.random(keyID: 1, now: now)
        let second = LinkToken.random(keyID: 1, now: now)
        let later = LinkToken.random(keyID: 1, now: now.addingTimeInterval(0.001))
        #expect(first.nonce.count == LinkToken.nonceLength)
        #expect(LinkToken.nonceLength - LinkToken.timeLength >= 16)
        let milliseconds = first.nonce.prefix(LinkToken.timeLength).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(milliseconds == 1_795_000_000_123)
        #expect(first.nonce.prefix(LinkToken.timeLength) == second.nonce.prefix(LinkToken.timeLength))
        #expect(first.nonce.dropFirst(LinkToken.timeLength) != second.nonce.dropFirst(LinkToken.timeLength))
        #expect(first.nonce.lexicographicallyPrecedes(later.nonce) && second.nonce.lexicographicallyPrecedes(later.nonce))
    }

    /// Links created before the time prefix store a 16-byte nonce and were sent out with a
    /// 46-character token: those urls keep opening, and the API keeps rendering the same url.
    @Test func tokensOfTheFirstLayoutStillOpen() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        let runtime = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
        defer { runtime.close() }
        let keyID = try await runtime.keyRing.newToken().keyID
        let legacy = LinkToken(keyID: keyID, nonce: Data((0..<LinkToken.legacyNonceLength).map { _ in UInt8.random(in: 0...255) }))
        let now = paylink.clock.now()
        let link = Link(
            id: .generate(), agentID: paylink.agentID, signingKeyID: keyID, tokenNonce: legacy.nonce, status: .open,
            amount: Money(minorUnits: 1999, currency: Currency(code: "GBP")!), reference: "INV-OLD", description: nil, locale: "en",
            expiresAt: now.addingTimeInterval(1800), createdAt: now, customer: nil, metadata: [:], conversation: nil,
            amountRefunded: 0, lastSeq: 0)
        _ = try await runtime.store.insertLink(link, event: EventDraft(.linkCreated, at: now), idempotency: nil)
        let encoded = try await runtime.keyRing.snapshot().encode(legacy)
        #expect(encoded.count == LinkToken.legacyEncodedLength)
        try await paylink.test { client in
            let page = try await client.send(.get, "/p/\(encoded)", key: nil)
            #expect(page.status == .ok)
            #expect(page.text.contains("INV-OLD"))
            let rendered = try await client.send(.get, "/v1/links/\(link.id)", key: paylink.agent).jsonObject()
            #expect(Self.token(rendered) == encoded)
            var altered = Array(encoded)
            altered[10] = altered[10] == "A" ? "B" : "A"
            #expect(try await client.send(.get, "/p/\(String(altered))", key: nil).status == .notFound)
        }
    }

    @Test func tokenRoundTripsAndRejectsNonCanonicalSpellings() throws {
        let key = SymmetricKeyFixture.key
        let token = LinkToken.random(keyID: 7)
        let encoded = token.encoded(with: LinkToken.Signer(key: key))
        #expect(encoded.count == 54)
        let (parsed, tag) = try #require(LinkToken.parse(encoded))
        #expect(parsed == token)
        #expect(parsed.verify(tag: tag, with: LinkToken.Signer(key: key)))
        #expect(!parsed.verify(tag: tag, with: LinkToken.Signer(key: SymmetricKeyFixture.other)))
        #expect(LinkToken.parse(encoded + "=") == nil)
    }
}

import Crypto

enum SymmetricKeyFixture {
    static let key = SymmetricKey(data: Data(repeating: 1, count: 32))
    static let other = SymmetricKey(data: Data(repeating: 2, count: 32))
}
