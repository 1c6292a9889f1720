import Crypto
import Foundation
import Testing

@testable import Paylink

/// The hand-written JSON reader and writer against Foundation, which they replaced on the
/// hot paths: the writer must produce `APIJSON.encoder`'s exact bytes, and the parser the
/// values `JSONSerialization` would, while refusing what RFC 8259 refuses.
@Suite("JSON reader and writer")
struct JSONCodingTests {
    // MARK: Writer

    /// The link resource as it was written with `JSONEncoder`; the oracle for `LinkRenderer`.
    struct LinkOracle: Encodable {
        let link: Link
        let url: String
        let now: Date

        enum CodingKeys: String, CodingKey {
            case id, object, url, status, amount, currency, reference, description, locale, expires_at, created_at
            case agent_id, customer, metadata, conversation, payment, amount_refunded, locked
        }

        struct CustomerOracle: Encodable {
            let customer: Link.Customer
            enum CodingKeys: String, CodingKey { case name, email, phone }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(customer.name, forKey: .name)
                try container.encode(customer.email, forKey: .email)
                try container.encode(customer.phone, forKey: .phone)
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(link.id, forKey: .id)
            try container.encode("link", forKey: .object)
            try container.encode(url, forKey: .url)
            try container.encode(link.status(at: now).rawValue, forKey: .status)
            try container.encode(link.amount.minorUnits, forKey: .amount)
            try container.encode(link.amount.currency.code, forKey: .currency)
            try container.encode(link.reference, forKey: .reference)
            try container.encode(link.description, forKey: .description)
            try container.encode(link.locale, forKey: .locale)
            try container.encode(RFC3339.string(link.expiresAt), forKey: .expires_at)
            try container.encode(RFC3339.string(link.createdAt), forKey: .created_at)
            try container.encode(link.agentID, forKey: .agent_id)
            try container.encode(link.customer.map(CustomerOracle.init), forKey: .customer)
            try container.encode(link.metadata, forKey: .metadata)
            try container.encode(link.conversation, forKey: .conversation)
            try container.encode(link.payment.map(LinkRenderer.PaymentResource.init), forKey: .payment)
            try container.encode(link.amountRefunded, forKey: .amount_refunded)
            try container.encode(link.locked, forKey: .locked)
        }
    }

    struct EventOracle: Encodable {
        let event: Event
        enum CodingKeys: String, CodingKey { case id, object, seq, type, link_id, created_at, data }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(event.id, forKey: .id)
            try container.encode("event", forKey: .object)
            try container.encode(event.seq, forKey: .seq)
            try container.encode(event.type, forKey: .type)
            try container.encode(event.linkID, forKey: .link_id)
            try container.encode(RFC3339.string(event.createdAt), forKey: .created_at)
            try container.encode(event.data, forKey: .data)
        }
    }

    struct ListOracle<Item: Encodable>: Encodable {
        let data: [Item]
        let hasMore: Bool
        enum CodingKeys: String, CodingKey { case object, data, has_more }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode("list", forKey: .object)
            try container.encode(data, forKey: .data)
            try container.encode(hasMore, forKey: .has_more)
        }
    }

    /// Strings that exercise every escaping rule and key order across scripts.
    static let awkward = [
        "", "plain", "quote \" backslash \\ slash /", "lines\n\r\ttab", "\u{00}\u{01}\u{08}\u{0C}\u{1F}\u{7F}",
        "é", "ｆｕｌｌ", "😀 emoji", "\u{2028}\u{2029}", "</script>", "a10", "a2", "B", "_", "~",
    ]

    static func links() -> [Link] {
        let now = Date(unixSeconds: 1_790_000_000)
        let gbp = Currency(code: "GBP")!
        func link(_ reference: String, customer: Link.Customer?, metadata: [String: String], conversation: Link.Conversation?, payment: PaymentSummary?)
            -> Link
        {
            var link = Link(
                id: .generate(), agentID: .generate(), signingKeyID: 3, tokenNonce: Data((0..<16).map { UInt8($0) }), status: .open,
                amount: Money(minorUnits: 1999, currency: gbp), reference: reference, description: reference.isEmpty ? nil : "d \(reference)",
                locale: "en", expiresAt: now.addingTimeInterval(900), createdAt: now, customer: customer, metadata: metadata,
                conversation: conversation, amountRefunded: 0, lastSeq: 1)
            link.payment = payment
            return link
        }
        let payment = PaymentSummary(
            id: .generate(), status: .succeeded, card: CardSummary(brand: "visa", last4: "4242")!,
            fraud: FraudAssessment(outcome: .review, reasons: ["velocity"], riskScore: 70), declineCode: nil, failureCode: nil, late: true,
            createdAt: 1_790_000_100, redirectURL: "https://psp.example/3ds")
        var metadata: [String: String] = [:]
        for (index, text) in awkward.enumerated() { metadata[text.isEmpty ? "empty" : text] = awkward[(index + 1) % awkward.count] }
        return [
            link("order-1", customer: nil, metadata: [:], conversation: nil, payment: nil),
            link("", customer: .init(name: "Ada \"Lovelace\"", email: nil, phone: "+447700900123"), metadata: metadata,
                conversation: .init(channel: "whatsapp", id: "c/1\n"), payment: payment),
        ] + awkward.map { link($0, customer: .init(name: $0, email: $0, phone: nil), metadata: [$0: $0], conversation: nil, payment: nil) }
    }

    @Test func linkResourceIsWhatJSONEncoderWrote() throws {
        let key = SymmetricKey(size: .bits256)
        let renderer = LinkRenderer(keys: .init(signers: [3: LinkToken.Signer(key: key)]), publicURL: "https://pay.example", now: Date(unixSeconds: 1_790_000_500))
        let links = Self.links()
        for link in links {
            let expected = try APIJSON.encoder.encode(LinkOracle(link: link, url: try renderer.url(link), now: renderer.now))
            #expect(String(decoding: try renderer.render(link), as: UTF8.self) == String(decoding: expected, as: UTF8.self))
        }
        for hasMore in [false, true] {
            let expected = try APIJSON.encoder.encode(
                ListOracle(data: try links.map { LinkOracle(link: $0, url: try renderer.url($0), now: renderer.now) }, hasMore: hasMore))
            #expect(try renderer.renderList(links, hasMore: hasMore) == expected)
            #expect(try renderer.renderList([], hasMore: hasMore) == APIJSON.encoder.encode(ListOracle<LinkOracle>(data: [], hasMore: hasMore)))
        }
    }

    @Test func eventResourceIsWhatJSONEncoderWrote() throws {
        var data: [String: JSONValue] = [
            "amount": .integer(-9_223_372_036_854_775_808), "flag": .bool(true), "none": .null, "ratio": .number(0.1),
            "list": .array([.integer(1), .string("two"), .array([]), .object([:])]),
            "nested": .object(["z": .integer(1), "a": .object(["é": .string("\u{01}")])]),
        ]
        for text in Self.awkward { data["k" + text] = .string(text) }
        let events = [data, [:]].map { data in
            Event(
                id: .generate(), linkID: .generate(), agentID: .generate(), seq: 7, cursor: 42, type: .linkCreated,
                createdAt: Date(unixSeconds: 1_790_000_000), data: data)
        }
        for event in events {
            var writer = JSONWriter()
            try EventResource(event: event).write(to: &writer)
            let expected = try APIJSON.encoder.encode(EventOracle(event: event))
            #expect(String(decoding: writer.bytes, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
            #expect(try StoreJSON.encode(event.data) == String(decoding: try APIJSON.encoder.encode(event.data), as: UTF8.self))
        }
        #expect(try EventResource.list(events, hasMore: true) == APIJSON.encoder.encode(ListOracle(data: events.map(EventOracle.init), hasMore: true)))
        let metadata = Dictionary(uniqueKeysWithValues: Self.awkward.map { ($0, $0) })
        #expect(StoreJSON.encode(metadata) == String(decoding: try APIJSON.encoder.encode(metadata), as: UTF8.self))
        #expect(StoreJSON.encode([:] as [String: String]) == "{}")
    }

    // MARK: Parser

    /// Valid documents parse to what Foundation's parser (converted as before) made of them.
    @Test func parserAgreesWithFoundationOnValidDocuments() throws {
        let documents = [
            #"{}"#, #"{"a":1}"#, #" { "amount" : 1999 , "currency":"GBP" } "#,
            #"{"n":[0,-0,1.5,-2.25e3,1E2,9223372036854775807,-12345678901,9223372036854775808]}"#,
            #"{"s":"\"\\\/\b\f\n\r\t\u0041\u00e9\u20AC\ud83d\ude00","raw":"é€😀"}"#,
            #"{"t":true,"f":false,"z":null,"o":{"p":{"q":[[],[{}]]}}}"#,
            "{\"ws\":\t[\r\n1 ,\n2]\n}",
        ]
        for document in documents {
            let data = Data(document.utf8)
            let ours = try JSONParser.parseObject(data)
            let foundation = JSONValue(foundation: try JSONSerialization.jsonObject(with: data))
            #expect(JSONValue.object(ours) == foundation, "\(document)")
        }
        #expect(try JSONParser.parseObject(Data(#"{"big":9223372036854775808,"frac":1.0,"exp":2e3,"int":-12,"min":-9223372036854775808}"#.utf8)) == [
            "min": .integer(.min),
            "big": .number(9_223_372_036_854_775_808), "frac": .number(1), "exp": .number(2000), "int": .integer(-12),
        ])
    }

    @Test(arguments: [
        "", " ", "[]", "1", "\"s\"", "null", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1 \"b\":2}", "{,}",
        "{\"a\":1}x", "{\"a\":1}{}", "{'a':1}", "{a:1}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":1e}",
        "{\"a\":+1}", "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"line\nbreak\"}", "{\"a\":\"open}",
        "/* c */{}", "{\"a\":1,\"a\":2}", "{\"a\":1,\"\\u0061\":2}", "{\"a\":[1,]}", "{\"a\":[1 2]}",
    ])
    func parserRefusesWhatRFC8259Refuses(document: String) {
        #expect(throws: APIError.self, "\(document.debugDescription)") { try JSONParser.parseObject(Data(document.utf8)) }
    }

    @Test func parserRefusesInvalidUTF8AndDeepNesting() {
        let invalid = Data(#"{"a":""#.utf8) + Data([0xC3, 0x28]) + Data(#""}"#.utf8)
        #expect(throws: APIError.self) { try JSONParser.parseObject(invalid) }
        let deep = "{\"a\":" + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}"
        #expect(throws: APIError.self) { try JSONParser.parseObject(Data(deep.utf8)) }
        let fine = "{\"a\":" + String(repeating: "[", count: 30) + String(repeating: "]", count: 30) + "}"
        #expect(throws: Never.self) { try JSONParser.parseObject(Data(fine.utf8)) }
    }

    /// Stored event data and metadata are read back with the parser: what was stored is what
    /// comes back, number kinds included, and JSONDecoder agrees wherever kinds cannot differ.
    @Test func storedJSONReadsBackExactly() throws {
        let data: [String: JSONValue] = [
            "payment_id": .string("pay_0123"), "card": .object(["brand": .string("visa"), "last4": .string("4242")]),
            "reasons": .array([.string("velocity"), .string("a \"quoted\" / slashed\\ value\n")]), "risk_score": .integer(42),
            "none": .null, "yes": .bool(true), "no": .bool(false), "big": .integer(Int64.max), "small": .integer(Int64.min),
            "ratio": .number(2.5), "huge": .number(1e20), "tiny": .number(1.5e-7), "unicode": .string("Zoë 支付 🙂 \u{1}"),
            "nested": .array([.object(["a": .array([])]), .object([:])]),
        ]
        let text = try StoreJSON.encode(data)
        #expect(try StoreJSON.decode([String: JSONValue].self, from: text) == data)
        let withoutHugeNumbers = data.filter { $0.key != "huge" }
        #expect(
            try JSONDecoder().decode([String: JSONValue].self, from: Data(StoreJSON.encode(withoutHugeNumbers).utf8))
                == StoreJSON.decode([String: JSONValue].self, from: StoreJSON.encode(withoutHugeNumbers)))

        let metadata = ["order": "A-1", "note": "naïve \"quote\"", "empty": ""]
        #expect(try StoreJSON.decode([String: String].self, from: StoreJSON.encode(metadata)) == metadata)
        #expect(try StoreJSON.decode([String: String].self, from: StoreJSON.encode([String: String]())) == [:])
        #expect(throws: DecodingError.self) { try StoreJSON.decode([String: String].self, from: #"{"n":1}"#) }
        #expect(throws: DecodingError.self) { try StoreJSON.decode([String: JSONValue].self, from: "{") }
    }
}
