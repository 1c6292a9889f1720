import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@testable import Paylink

/// "Bad input gets a precise 4xx with a machine-readable code and changes nothing" (SPEC §2, §3, §4).
///
/// Every request here is wrong in exactly one way. Each case asserts the exact status, `error.code`
/// and `error.param`, that the body is the `{"error": {…}}` object, that no 5xx appears, and that
/// every link and every event a supervisor can see is exactly as it was before the request.
@Suite("Bad input is refused precisely and changes nothing")
struct BadInputTests {
    // MARK: - POST /v1/links bodies

    /// A valid body every bad body is one mistake away from; `validBodyIsAccepted` proves it is valid.
    static let valid = #"{"amount": 1999, "currency": "GBP", "reference": "order-1"}"#

    static func body(_ extra: String) -> String {
        #"{"amount": 1999, "currency": "GBP", "reference": "order-1", \#(extra)}"#
    }

    static let malformedJSON: [BadRequest] = [
        .create("top-level array", "[]", .badRequest, "invalid_json"),
        .create("valid link inside an array", "[\(valid)]", .badRequest, "invalid_json"),
        .create("empty body", "", .badRequest, "invalid_json"),
        .create("whitespace only", "   \n", .badRequest, "invalid_json"),
        .create("truncated mid-string", #"{"amount": 1999, "currency": "GB"#, .badRequest, "invalid_json"),
        .create("truncated after a comma", #"{"amount": 1999,"#, .badRequest, "invalid_json"),
        .create("top-level null", "null", .badRequest, "invalid_json"),
        .create("top-level string", #""amount=1999""#, .badRequest, "invalid_json"),
        .create("top-level number", "1999", .badRequest, "invalid_json"),
        .create("single quotes", #"{'amount': 1999, 'currency': 'GBP', 'reference': 'order-1'}"#, .badRequest, "invalid_json"),
        .create("unquoted keys", #"{amount: 1999, currency: "GBP", reference: "order-1"}"#, .badRequest, "invalid_json"),
        .create("trailing comma", #"{"amount": 1999, "currency": "GBP", "reference": "order-1",}"#, .badRequest, "invalid_json"),
        .create("nested trailing comma", body(#""customer": {"name": "Ada",}"#), .badRequest, "invalid_json"),
        .create("garbage after the object", valid + "x", .badRequest, "invalid_json"),
        .create("two objects", valid + valid, .badRequest, "invalid_json"),
        .create("comment", "/* hi */" + valid, .badRequest, "invalid_json"),
        .create("NaN", #"{"amount": NaN, "currency": "GBP", "reference": "order-1"}"#, .badRequest, "invalid_json"),
        .create("leading zero", #"{"amount": 01999, "currency": "GBP", "reference": "order-1"}"#, .badRequest, "invalid_json"),
        .create("lone surrogate", #"{"amount": 1999, "currency": "GBP", "reference": "\ud800"}"#, .badRequest, "invalid_json"),
        .create("raw newline in a string", "{\"amount\": 1999, \"currency\": \"GBP\", \"reference\": \"a\nb\"}", .badRequest, "invalid_json"),
        .create("10 000 levels deep", body(#""metadata": "# + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)),
            .badRequest, "invalid_json"),
        BadRequest(
            name: "invalid UTF-8", bytes: Array(#"{"amount": 1999, "currency": "GBP", "reference": ""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8),
            status: .badRequest, code: "invalid_json"),
    ]

    static let wrongTypes: [BadRequest] = [
        .create("amount as string", #"{"amount": "1999", "currency": "GBP", "reference": "r"}"#, .badRequest, "parameter_invalid_type", "amount"),
        .create("amount as float", #"{"amount": 19.99, "currency": "GBP", "reference": "r"}"#, .badRequest, "parameter_invalid_integer", "amount"),
        .create("amount as 1999.0", #"{"amount": 1999.0, "currency": "GBP", "reference": "r"}"#, .badRequest, "parameter_invalid_integer", "amount"),
        .create("amount as 1e3", #"{"amount": 1e3, "currency": "GBP", "reference": "r"}"#, .badRequest, "parameter_invalid_integer", "amount"),
        .create("amount as true", #"{"amount": true, "currency": "GBP", "reference": "r"}"#, .badRequest, "parameter_invalid_type", "amount"),
        .create("amount as array", #"{"amount": [1999], "currency": "GBP", "reference": "r"}"#, .badRequest, "parameter_invalid_type", "amount"),
        .create("amount as object", #"{"amount": {"value": 1999}, "currency": "GBP", "reference": "r"}"#, .badRequest, "parameter_invalid_type", "amount"),
        .create("currency as number", #"{"amount": 1999, "currency": 826, "reference": "r"}"#, .badRequest, "parameter_invalid_type", "currency"),
        .create("currency as array", #"{"amount": 1999, "currency": ["GBP"], "reference": "r"}"#, .badRequest, "parameter_invalid_type", "currency"),
        .create("reference as number", #"{"amount": 1999, "currency": "GBP", "reference": 42}"#, .badRequest, "parameter_invalid_type", "reference"),
        .create("description as boolean", body(#""description": true"#), .badRequest, "parameter_invalid_type", "description"),
        .create("locale as number", body(#""locale": 1"#), .badRequest, "parameter_invalid_type", "locale"),
        .create("expires_in as string", body(#""expires_in": "600""#), .badRequest, "parameter_invalid_type", "expires_in"),
        .create("expires_in as float", body(#""expires_in": 600.5"#), .badRequest, "parameter_invalid_integer", "expires_in"),
        .create("customer as string", body(#""customer": "ada@example.com""#), .badRequest, "parameter_invalid_type", "customer"),
        .create("customer as array", body(#""customer": []"#), .badRequest, "parameter_invalid_type", "customer"),
        .create("customer email as number", body(#""customer": {"email": 42}"#), .badRequest, "parameter_invalid_type", "customer[email]"),
        .create("customer phone as number", body(#""customer": {"phone": 447700900123}"#), .badRequest, "parameter_invalid_type", "customer[phone]"),
        .create("customer name as object", body(#""customer": {"name": {}}"#), .badRequest, "parameter_invalid_type", "customer[name]"),
        .create("metadata as string", body(#""metadata": "crm=42""#), .badRequest, "parameter_invalid_type", "metadata"),
        .create("metadata value as number", body(#""metadata": {"crm": 42}"#), .badRequest, "parameter_invalid_type", "metadata[crm]"),
        .create("metadata value as object", body(#""metadata": {"crm": {}}"#), .badRequest, "parameter_invalid_type", "metadata[crm]"),
        .create("conversation as string", body(#""conversation": "chat""#), .badRequest, "parameter_invalid_type", "conversation"),
    ]

    static let missingFields: [BadRequest] = [
        .create("empty object", "{}", .badRequest, "parameter_missing", "amount"),
        .create("no amount", #"{"currency": "GBP", "reference": "r"}"#, .badRequest, "parameter_missing", "amount"),
        .create("null amount", #"{"amount": null, "currency": "GBP", "reference": "r"}"#, .badRequest, "parameter_missing", "amount"),
        .create("no currency", #"{"amount": 1999, "reference": "r"}"#, .badRequest, "parameter_missing", "currency"),
        .create("no reference", #"{"amount": 1999, "currency": "GBP"}"#, .badRequest, "parameter_missing", "reference"),
        .create("conversation without id", body(#""conversation": {"channel": "chat"}"#), .badRequest, "parameter_missing", "conversation[id]"),
    ]

    static let amounts: [BadRequest] = [
        amount("-1", "amount_too_small"),
        amount("0", "amount_too_small"),
        amount("-0", "amount_too_small"),
        amount("100000000", "amount_too_large"),  // the configured maximum is 99 999 999
        amount("9223372036854775807", "amount_too_large"),  // Int64.max
        // Beyond Int64 the number cannot be an amount at all (Stripe: "Invalid integer").
        amount("9223372036854775808", "parameter_invalid_integer"),  // Int64.max + 1
        amount("18446744073709551615", "parameter_invalid_integer"),  // UInt64.max
        amount("99999999999999999999", "parameter_invalid_integer"),
        amount("-9223372036854775809", "parameter_invalid_integer"),  // Int64.min - 1
    ]

    static func amount(_ literal: String, _ code: String) -> BadRequest {
        .create("amount \(literal)", #"{"amount": \#(literal), "currency": "GBP", "reference": "r"}"#, .badRequest, code, "amount")
    }

    static let currencies: [BadRequest] = ["gbp", "Gbp", "XYZ", "XAU", "XAG", "XTS", "XXX", "", " GBP", "GBPX", "GB"].map { code in
        .create("currency '\(code)'", #"{"amount": 1999, "currency": "\#(code)", "reference": "r"}"#, .badRequest, "currency_invalid", "currency")
    }

    static let expiries: [BadRequest] = [
        .create("expires_in 299", body(#""expires_in": 299"#), .badRequest, "expires_in_out_of_range", "expires_in"),
        .create("expires_in 604801", body(#""expires_in": 604801"#), .badRequest, "expires_in_out_of_range", "expires_in"),
        .create("expires_in 0", body(#""expires_in": 0"#), .badRequest, "expires_in_out_of_range", "expires_in"),
        .create("expires_in -1800", body(#""expires_in": -1800"#), .badRequest, "expires_in_out_of_range", "expires_in"),
        .create("expires_in Int64.max + 1", body(#""expires_in": 9223372036854775808"#), .badRequest, "parameter_invalid_integer", "expires_in"),
    ]

    static let phones: [BadRequest] = [
        "07700900123", "447700900123", "+0447700900123", "+44 7700 900123", "+44-7700-900123", "+(44)7700900123",
        "+1234567890123456", "+", "+1", "+44770090012a", "", "＋447700900123", "+４４7700900123", "+447700900123\\n",
    ].map { phone in
        .create("phone '\(phone)'", body(#""customer": {"phone": "\#(phone)"}"#), .badRequest, "phone_invalid", "customer[phone]")
    }

    static let emails: [BadRequest] = [
        "ada", "ada@", "@example.com", "ada@example", "ada@@example.com", "ada@exa mple.com", "ada@example..com",
        "ada@-example.com", "ada@example.com\\n", "", String(repeating: "a", count: 65) + "@example.com",
        "ada@" + String(repeating: "a", count: 250) + ".com", "ada\\u0000@example.com", "ada\\u001b@example.com",
        // A right-to-left override reads differently on screen, and no list filter could find it.
        "ada\\u202e@example.com", "ada@example.com\\u2028",
        // Invisible characters defeat the exact-match filter; display and quoted forms are not addresses.
        "ada\\u200b@example.com", "ada\\u200d@example.com", "\\ufeffada@example.com", "<ada@example.com>", "Ada <ada@example.com>",
        "ada(comment)@example.com", "ada,bob@example.com", "ada@[192.0.2.1]",
    ].map { email in
        .create("email '\(email.prefix(30))'", body(#""customer": {"email": "\#(email)"}"#), .badRequest, "email_invalid", "customer[email]")
    }

    static let texts: [BadRequest] = [
        .create("reference of 65 chars", #"{"amount": 1999, "currency": "GBP", "reference": "\#(String(repeating: "r", count: 65))"}"#,
            .badRequest, "parameter_too_long", "reference"),
        .create("empty reference", #"{"amount": 1999, "currency": "GBP", "reference": ""}"#, .badRequest, "parameter_invalid_string_empty", "reference"),
        .create("blank reference", #"{"amount": 1999, "currency": "GBP", "reference": "   "}"#, .badRequest, "parameter_invalid_string_empty", "reference"),
        .create("reference with NUL", #"{"amount": 1999, "currency": "GBP", "reference": "a\u0000b"}"#, .badRequest, "parameter_invalid", "reference"),
        .create("reference with newline", #"{"amount": 1999, "currency": "GBP", "reference": "a\nb"}"#, .badRequest, "parameter_invalid", "reference"),
        .create("description of 501 chars", body(#""description": "\#(String(repeating: "d", count: 501))""#),
            .badRequest, "parameter_too_long", "description"),
        .create("customer name with escape char", body(#""customer": {"name": "Ada\u001b[31m"}"#), .badRequest, "parameter_invalid", "customer[name]"),
        // Lengths are code points (JSON Schema's maxLength), not grapheme clusters.
        .create("reference of one letter and 64 combining accents", #"{"amount": 1999, "currency": "GBP", "reference": "a\#(String(repeating: "\u{0301}", count: 64))"}"#,
            .badRequest, "parameter_too_long", "reference"),
        .create("reference of 10 family emoji (70 code points)", #"{"amount": 1999, "currency": "GBP", "reference": "\#(String(repeating: "👨‍👩‍👧‍👦", count: 10))"}"#,
            .badRequest, "parameter_too_long", "reference"),
        .create("description of one letter and 500 combining accents",
            body(#""description": "a\#(String(repeating: "\u{0301}", count: 500))""#), .badRequest, "parameter_too_long", "description"),
        .create("customer name of 201 code points", body(#""customer": {"name": "\#(String(repeating: "e\u{0301}", count: 101))"}"#),
            .badRequest, "parameter_too_long", "customer[name]"),
        // A reference is matched exactly: nothing invisible inside it.
        .create("reference with a zero-width space", #"{"amount": 1999, "currency": "GBP", "reference": "A\u200b1"}"#,
            .badRequest, "parameter_invalid", "reference"),
        .create("reference with a byte order mark", #"{"amount": 1999, "currency": "GBP", "reference": "\ufeffA1"}"#,
            .badRequest, "parameter_invalid", "reference"),
        .create("reference with a tag character", #"{"amount": 1999, "currency": "GBP", "reference": "A1\udb40\udc41"}"#,
            .badRequest, "parameter_invalid", "reference"),
        // A card number typed by an agent would be stored and put in link.created: refused, wherever it is.
        .create("reference that is a card number", #"{"amount": 1999, "currency": "GBP", "reference": "4929135786420756"}"#,
            .badRequest, "card_number_not_allowed", "reference"),
        .create("description holding a spaced card number", body(#""description": "card 4929 1357 8642 0756 exp 12/30""#),
            .badRequest, "card_number_not_allowed", "description"),
        .create("customer name holding a hyphenated card number", body(#""customer": {"name": "Ada 4929-1357-8642-0756"}"#),
            .badRequest, "card_number_not_allowed", "customer[name]"),
        .create("metadata value that is a card number", body(#""metadata": {"note": "378282246310005"}"#),
            .badRequest, "card_number_not_allowed", "metadata[note]"),
        .create("metadata key that is a card number", body(#""metadata": {"4929135786420756": "x"}"#),
            .badRequest, "card_number_not_allowed", "metadata"),
        .create("conversation id that is a card number", body(#""conversation": {"channel": "sms", "id": "5555555555554444"}"#),
            .badRequest, "card_number_not_allowed", "conversation[id]"),
        .create("email whose local part is a card number", body(#""customer": {"email": "4929135786420756@example.com"}"#),
            .badRequest, "card_number_not_allowed", "customer[email]"),
        // Nothing visible is blank.
        .create("zero-width spaces only", #"{"amount": 1999, "currency": "GBP", "reference": "\u200b\u200b"}"#, .badRequest, "parameter_invalid_string_empty", "reference"),
        .create("byte order mark only", #"{"amount": 1999, "currency": "GBP", "reference": "\ufeff"}"#, .badRequest, "parameter_invalid_string_empty", "reference"),
        .create("soft hyphen only", #"{"amount": 1999, "currency": "GBP", "reference": "\u00ad"}"#, .badRequest, "parameter_invalid_string_empty", "reference"),
        .create("lone combining accent", #"{"amount": 1999, "currency": "GBP", "reference": "\u0301"}"#, .badRequest, "parameter_invalid_string_empty", "reference"),
        // Line separators and bidirectional overrides read differently on screen from what they are.
        .create("right-to-left override", #"{"amount": 1999, "currency": "GBP", "reference": "order-\u202e1-tset"}"#, .badRequest, "parameter_invalid", "reference"),
        .create("unclosed first-strong isolate", body(#""description": "a\u2068b""#), .badRequest, "parameter_invalid", "description"),
        .create("line separator", #"{"amount": 1999, "currency": "GBP", "reference": "a\u2028b"}"#, .badRequest, "parameter_invalid", "reference"),
        .create("locale fr", body(#""locale": "fr""#), .badRequest, "locale_unsupported", "locale"),
        .create("locale EN", body(#""locale": "EN""#), .badRequest, "locale_unsupported", "locale"),
    ]

    static let metadata: [BadRequest] = [
        .create("21 metadata keys", body(#""metadata": {\#((1...21).map { #""k\#($0)": "v""# }.joined(separator: ", "))}"#),
            .badRequest, "metadata_invalid", "metadata"),
        .create("metadata key of 41 chars", body(#""metadata": {"\#(String(repeating: "k", count: 41))": "v"}"#),
            .badRequest, "metadata_invalid", "metadata[\(String(repeating: "k", count: 41))]"),
        .create("empty metadata key", body(#""metadata": {"": "v"}"#), .badRequest, "metadata_invalid", "metadata[]"),
        .create("metadata value of 501 chars", body(#""metadata": {"crm": "\#(String(repeating: "v", count: 501))"}"#),
            .badRequest, "metadata_invalid", "metadata[crm]"),
        .create("null metadata value", body(#""metadata": {"crm": null}"#), .badRequest, "metadata_invalid", "metadata[crm]"),
        .create("metadata key with a newline", body(#""metadata": {"a\nb": "v"}"#), .badRequest, "metadata_invalid", "metadata[a\nb]"),
        .create("metadata key of one letter and 40 accents", body(#""metadata": {"k\#(String(repeating: "\u{0301}", count: 40))": "v"}"#),
            .badRequest, "metadata_invalid", "metadata[k\(String(repeating: "\u{0301}", count: 40))]"),
        .create("blank metadata key", body(#""metadata": {"  ": "v"}"#), .badRequest, "metadata_invalid", "metadata[  ]"),
        .create("metadata value of 501 code points", body(#""metadata": {"crm": "\#(String(repeating: "e\u{0301}", count: 250))x"}"#),
            .badRequest, "metadata_invalid", "metadata[crm]"),
    ]

    static let unknownFields: [BadRequest] = [
        .create("unknown top-level field", body(#""amount_cents": 1999"#), .badRequest, "parameter_unknown", "amount_cents"),
        .create("differently cased field", body(#""Amount": 1999"#), .badRequest, "parameter_unknown", "Amount"),
        .create("misspelt expires_in", body(#""expires": 600"#), .badRequest, "parameter_unknown", "expires"),
        .create("customer[foo]", body(#""customer": {"name": "Ada", "foo": 1}"#), .badRequest, "parameter_unknown", "customer[foo]"),
        .create("customer[Email]", body(#""customer": {"Email": "ada@example.com"}"#), .badRequest, "parameter_unknown", "customer[Email]"),
        .create("conversation[foo]", body(#""conversation": {"channel": "chat", "id": "c1", "foo": "x"}"#),
            .badRequest, "parameter_unknown", "conversation[foo]"),
        .create("status on create", body(#""status": "paid""#), .badRequest, "parameter_unknown", "status"),
    ]

    static let mediaAndSize: [BadRequest] = [
        BadRequest(name: "text/plain", body: valid, contentType: "text/plain", status: .unsupportedMediaType, code: "unsupported_media_type"),
        BadRequest(name: "no Content-Type", body: valid, contentType: nil, status: .unsupportedMediaType, code: "unsupported_media_type"),
        // No body is a missing JSON object, not a body in another format.
        BadRequest(name: "no body and no Content-Type", body: "", contentType: nil, status: .badRequest, code: "invalid_json"),
        BadRequest(
            name: "form encoded", body: "amount=1999&currency=GBP&reference=r", contentType: "application/x-www-form-urlencoded",
            status: .unsupportedMediaType, code: "unsupported_media_type"),
        BadRequest(
            name: "application/json-patch+json", body: valid, contentType: "application/json-patch+json",
            status: .unsupportedMediaType, code: "unsupported_media_type"),
        BadRequest(
            name: "10 MB body", body: body(#""description": "\#(String(repeating: "x", count: 10 * 1024 * 1024))""#),
            status: .contentTooLarge, code: "body_too_large"),
        BadRequest(
            name: "64 KiB + 1 body", body: padded(to: 64 * 1024 + 1), status: .contentTooLarge, code: "body_too_large"),
        BadRequest(
            name: "charset latin-1", body: valid, contentType: "application/json; charset=latin-1", status: .unsupportedMediaType,
            code: "unsupported_media_type"),
        BadRequest(
            name: "charset utf-16", body: valid, contentType: #"application/json;charset="utf-16""#, status: .unsupportedMediaType,
            code: "unsupported_media_type"),
        .withHeaders("Content-Encoding: gzip on a plain body", ["Content-Encoding": "gzip"], status: .unsupportedMediaType,
            code: "unsupported_media_type"),
        .withHeaders("Content-Encoding: br", ["Content-Encoding": "br"], status: .unsupportedMediaType, code: "unsupported_media_type"),
        // No endpoint with a JSON body takes query parameters: a parameter in the URL is a mistake, not a default.
        BadRequest(name: "create with ?foo=1", path: "/v1/links?foo=1", body: valid, status: .badRequest, code: "parameter_unknown",
            param: "foo"),
        BadRequest(name: "create with ?amount=5", path: "/v1/links?amount=5", body: valid, status: .badRequest,
            code: "parameter_unknown", param: "amount"),
        BadRequest(name: "cancel with ?junk=1", path: "/v1/links/{link}/cancel?junk=1", status: .badRequest,
            code: "parameter_unknown", param: "junk"),
        BadRequest(name: "extend with ?expires_in=600", path: "/v1/links/{link}/extend?expires_in=600", status: .badRequest,
            code: "parameter_unknown", param: "expires_in"),
    ]

    /// A valid-looking body of exactly `size` bytes (the padding is whitespace, which JSON allows).
    static func padded(to size: Int) -> String {
        valid + String(repeating: " ", count: size - valid.utf8.count)
    }

    @Test(arguments: malformedJSON) func malformedJSONAreRefused(_ request: BadRequest) async throws { try await Self.refuse(request) }
    @Test(arguments: wrongTypes) func wrongTypesAreRefused(_ request: BadRequest) async throws { try await Self.refuse(request) }
    @Test(arguments: missingFields) func missingFieldsAreRefused(_ request: BadRequest) async throws { try await Self.refuse(request) }
    @Test(arguments: amounts) func amountsOutOfRange(_ request: BadRequest) async throws { try await Self.refuse(request) }
    @Test(arguments: currencies) func currenciesThatCannotBeCharged(_ request: BadRequest) async throws { try await Self.refuse(request) }
    @Test(arguments: expiries) func expiriesOutOfRange(_ request: BadRequest) async throws { try await Self.refuse(request) }
    @Test(arguments: phones) func phonesThatAreNotE164(_ request: BadRequest) async throws { try await Self.refuse(request) }
    @Test(arguments: emails) func emailsThatCannotBeAddresses(_ request: BadRequest) async throws { try await Self.refuse(request) }
    @Test(arguments: texts) func textsOutOfBounds(_ request: BadRequest) async throws { try await Self.refuse(request) }
    @Test(arguments: metadata) func metadataOutOfBounds(_ request: BadRequest) async throws { try await Self.refuse(request) }
    @Test(arguments: unknownFields) func unknownFieldsAreNamed(_ request: BadRequest) async throws { try await Self.refuse(request) }
    @Test(arguments: mediaAndSize) func wrongMediaTypeOrSize(_ request: BadRequest) async throws { try await Self.refuse(request) }

    /// The control for every create case above: the body they are one mistake away from, at the
    /// edges of each limit, is accepted. Without it a server refusing everything would pass.
    @Test func validBodiesAtEveryLimitAreAccepted() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let accepted = [
                Self.valid,
                #"{"amount": 1, "currency": "GBP", "reference": "r"}"#,
                #"{"amount": 99999999, "currency": "JPY", "reference": "\#(String(repeating: "r", count: 64))"}"#,
                Self.body(#""expires_in": 300"#), Self.body(#""expires_in": 604800"#),
                Self.body(#""customer": {"email": "ada@example.com", "phone": "+447700900123", "name": "Ada"}"#),
                Self.body(#""metadata": {\#((1...20).map { #""k\#($0)": "v""# }.joined(separator: ", "))}"#),
                Self.body(#""metadata": {"\#(String(repeating: "k", count: 40))": "\#(String(repeating: "v", count: 500))"}"#),
                Self.padded(to: 64 * 1024),
                // Limits count code points: 64 two-byte letters, 9 family emoji of 7 code points each.
                #"{"amount": 5, "currency": "GBP", "reference": "\#(String(repeating: "é", count: 64))"}"#,
                #"{"amount": 5, "currency": "GBP", "reference": "\#(String(repeating: "👨‍👩‍👧‍👦", count: 9))"}"#,
                Self.body(#""description": "\#(String(repeating: "日", count: 500))""#),
                Self.body(#""metadata": {"\#(String(repeating: "ü", count: 40))": "note\nwith a newline"}"#),
                // Card-shaped but failing the Luhn check, or too short: not card numbers.
                #"{"amount": 5, "currency": "GBP", "reference": "4929135786420757"}"#,
                Self.body(#""description": "call 020 7946 0958 ref 123456789012""#),
            ]
            for body in accepted {
                let response = try await client.send(.post, "/v1/links", key: paylink.agent, json: body)
                #expect(response.status == .created, "\(body.prefix(120)): \(response.text)")
            }
            let charset = try await client.send(
                .post, "/v1/links", key: paylink.agent, json: Self.valid, headers: ["Content-Type": "Application/JSON; charset=utf-8"])
            #expect(charset.status == .created)
            let identity = try await client.send(
                .post, "/v1/links", key: paylink.agent, json: Self.valid,
                headers: ["Content-Type": #"application/json; charset="UTF8""#, "Content-Encoding": "identity"])
            #expect(identity.status == .created)
            let count = try await client.send(.get, "/v1/links?limit=100", key: paylink.agent).jsonObject()["data"] as? [Any]
            #expect(count?.count == accepted.count + 2)
        }
    }

    /// Duplicate names make the amount ambiguous: a proxy or log reading the first `amount` and
    /// the service reading the last would disagree about what the customer is asked to pay.
    @Test func duplicateKeysAreRefused() async throws {
        try await Self.refuse(
            .create(
                "duplicate amount", #"{"amount": 1, "currency": "GBP", "reference": "r", "amount": 99999999}"#, .badRequest, "invalid_json"))
    }

    /// A 10 MB body sent chunked, with no Content-Length to reject it by, is cut off at the limit.
    @Test func chunkedOversizedBodyIsRefused() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test(.live) { client in
            let before = try await Observed.read(client, paylink)
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(client.port!)/v1/links")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(paylink.agent)")
            request.headers.add(name: "Content-Type", value: "application/json")
            let chunk = ByteBuffer(repeating: UInt8(ascii: " "), count: 64 * 1024)
            let chunks = [ByteBuffer(string: Self.valid)] + Array(repeating: chunk, count: 160)
            let stream = AsyncStream<ByteBuffer> { continuation in
                for chunk in chunks { continuation.yield(chunk) }
                continuation.finish()
            }
            request.body = .stream(stream, length: .unknown)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1024 * 1024)
            #expect(response.status.code == 413)
            let json = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
            #expect((json?["error"] as? [String: Any])?["code"] as? String == "body_too_large")
            #expect(try await Observed.read(client, paylink) == before)
        }
    }

    // MARK: - Authentication

    enum Credential: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case absent, bearerWithoutKey, garbage, basic, basicWithTheKey, keyWithoutScheme, unknownButWellFormed, alteredLastCharacter
        case truncatedKey, extendedKey

        var code: String { self == .absent ? "api_key_missing" : "api_key_invalid" }
        var testDescription: String { rawValue }

        func header(realKey key: String) -> String? {
            switch self {
            case .absent: nil
            case .bearerWithoutKey: "Bearer"
            case .garbage: "Bearer not-a-key"
            case .basic: "Basic " + Data("alice:correct-horse".utf8).base64EncodedString()
            case .basicWithTheKey: "Basic " + Data("\(key):".utf8).base64EncodedString()
            case .keyWithoutScheme: key
            case .unknownButWellFormed: "Bearer plk_" + String(repeating: "A", count: 43)
            case .alteredLastCharacter: "Bearer " + key.dropLast() + (key.last == "A" ? "B" : "A")
            case .truncatedKey: "Bearer " + key.dropLast()
            case .extendedKey: "Bearer " + key + "A"
            }
        }
    }

    /// Every `/v1` endpoint the tests can reach, with a body that would succeed with a good key.
    static let endpoints: [(HTTPRequest.Method, String, String?)] = [
        (.post, "/v1/links", valid), (.get, "/v1/links", nil), (.get, "/v1/links/{link}", nil),
        (.post, "/v1/links/{link}/cancel", nil), (.post, "/v1/links/{link}/extend", #"{"expires_in": 600}"#),
        (.get, "/v1/links/{link}/events", nil), (.get, "/v1/links/{link}/events/stream", nil), (.get, "/v1/events/stream", nil),
    ]

    @Test(arguments: Credential.allCases) func badCredentialsAre401(_ credential: Credential) async throws {
        try await World.run { world, client in
            for (method, path, body) in Self.endpoints {
                var request = BadRequest(name: "\(method) \(path)", method: method, path: path, body: body, status: .unauthorized, code: credential.code)
                request.authorization = .some(credential.header(realKey: world.paylink.agent))
                try await request.check(world, client)
            }
        }
    }

    /// RFC 9110 §11.6.1 / RFC 6750 §3: a 401 must carry a `WWW-Authenticate` challenge naming the scheme.
    @Test(arguments: [Credential.absent, .garbage, .unknownButWellFormed]) func unauthorisedResponsesChallengeForBearer(
        _ credential: Credential
    ) async throws {
        try await World.run { world, client in
            var headers = HTTPFields()
            if let value = credential.header(realKey: world.paylink.agent) { headers[.authorization] = value }
            let response = try await client.executeRequest(uri: "/v1/links", method: .get, headers: headers, body: nil)
            #expect(response.status == .unauthorized)
            #expect(response.headers[.wwwAuthenticate]?.lowercased().hasPrefix("bearer") == true)
        }
    }

    @Test func disabledAgentIs401AgentDisabledEverywhere() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        let runtime = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
        let (carol, carolKey) = try await runtime.createAgent(name: "carol", role: .agent)
        try await paylink.test { client in
            // While enabled, Carol's key works; this is the control.
            let carolsLink = try await client.createLink(key: carolKey.secret)["id"] as! String
            #expect(try await runtime.store.setAgentDisabled(carol.id, disabled: true)?.disabled == true)
            let before = try await Observed.read(client, paylink)
            for (method, path, body) in Self.endpoints {
                let response = try await withinTimeLimit {
                    try await client.send(method, path.replacingOccurrences(of: "{link}", with: carolsLink), key: carolKey.secret, json: body)
                }
                expectRefusal(response, .unauthorized, "agent_disabled", param: nil, "\(method) \(path)")
            }
            #expect(try await Observed.read(client, paylink) == before)
            // Nobody else was affected.
            #expect(try await client.send(.get, "/v1/links/\(carolsLink)", key: paylink.supervisor).status == .ok)
        }
    }

    // MARK: - Ids: someone else's, unknown and malformed

    /// `{link}` is replaced by Bob's link (Alice asks) or by an id that never existed: same status, same body.
    static let linkEndpoints: [(HTTPRequest.Method, String, String?)] = [
        (.get, "/v1/links/{link}", nil), (.post, "/v1/links/{link}/cancel", nil),
        (.post, "/v1/links/{link}/extend", #"{"expires_in": 600}"#), (.get, "/v1/links/{link}/events", nil),
        (.get, "/v1/links/{link}/events/stream", nil),
    ]

    @Test func anotherAgentsLinkIsIndistinguishableFromAnUnknownOne() async throws {
        try await World.run { world, client in
            let unknown = "lnk_000000000000000000000000"
            for (method, path, body) in Self.linkEndpoints {
                let theirs = try await withinTimeLimit {
                    try await client.send(method, path.replacingOccurrences(of: "{link}", with: world.bob), key: world.paylink.agent, json: body)
                }
                let none = try await withinTimeLimit {
                    try await client.send(method, path.replacingOccurrences(of: "{link}", with: unknown), key: world.paylink.agent, json: body)
                }
                expectRefusal(theirs, .notFound, "resource_missing", param: "id", "\(method) \(path)")
                expectRefusal(none, .notFound, "resource_missing", param: "id", "\(method) \(path)")
                #expect(theirs.text.replacingOccurrences(of: world.bob, with: unknown) == none.text, "\(method) \(path)")
                #expect(theirs.headers[.contentType] == none.headers[.contentType])
            }
            // The list cursor is no oracle either.
            let theirCursor = try await client.send(.get, "/v1/links?starting_after=\(world.bob)", key: world.paylink.agent)
            let noCursor = try await client.send(.get, "/v1/links?starting_after=\(unknown)", key: world.paylink.agent)
            expectRefusal(theirCursor, .badRequest, "resource_missing", param: "starting_after")
            #expect(theirCursor.status == noCursor.status)
            #expect(theirCursor.text.replacingOccurrences(of: world.bob, with: unknown) == noCursor.text)
        }
    }

    static let malformedIDs: [String] = [
        "lnk_x", "lnk_", "lnk_" + String(repeating: "a", count: 23), "lnk_" + String(repeating: "a", count: 25),
        "LNK_" + String(repeating: "a", count: 24), "lnk_" + String(repeating: "a", count: 23) + "-",
        "lnk_" + String(repeating: "a", count: 23) + "%C3%A9", "agt_" + String(repeating: "a", count: 24), "x", "%20", "null",
        "{event}",  // replaced by a real event id of Alice's link: an evt_ where a link is expected
    ]

    @Test(arguments: malformedIDs) func malformedLinkIDsAre404(_ id: String) async throws {
        try await World.run { world, client in
            let id = id.replacingOccurrences(of: "{event}", with: world.aliceEvent)
            for (method, path, body) in Self.linkEndpoints {
                try await BadRequest(
                    name: "\(method) \(path) with \(id)", method: method, path: path.replacingOccurrences(of: "{link}", with: id), body: body,
                    status: .notFound, code: "resource_missing", param: "id"
                ).check(world, client)
            }
        }
    }

    // MARK: - State conflicts

    @Test func cancellingACancelledLinkIs409AndChangesNothing() async throws {
        try await World.run(prepare: { world, client in
            // The one change made before the snapshot.
            let cancelled = try await client.send(.post, "/v1/links/\(world.alice)/cancel", key: world.paylink.agent)
            #expect(cancelled.status == .ok)
        }) { world, client in
            for (path, body) in [("cancel", nil), ("extend", #"{"expires_in": 600}"#)] {
                try await BadRequest(
                    name: path, path: "/v1/links/{link}/\(path)", body: body, status: .conflict, code: "link_cancelled"
                ).check(world, client)
                // An Idempotency-Key does not turn the refusal into something else.
                var keyed = BadRequest(
                    name: path + " keyed", path: "/v1/links/{link}/\(path)", body: body, status: .conflict, code: "link_cancelled")
                keyed.headers = ["Idempotency-Key": "cancel-again-\(path)"]
                try await keyed.check(world, client)
            }
            let link = try await client.send(.get, "/v1/links/\(world.alice)", key: world.paylink.agent).jsonObject()
            #expect(link["status"] as? String == "cancelled")
        }
    }

    @Test func extendingOrCancellingAnExpiredLinkIs409AndChangesNothing() async throws {
        try await World.run(prepare: { world, client in
            world.paylink.clock.advance(by: 1801)
            // Let the expiry sweeper record `link.expired` first, so the snapshot is taken after it.
            try await world.waitForExpiry(client)
        }) { world, client in
            for (path, body) in [("extend", #"{"expires_in": 600}"#), ("extend", nil), ("cancel", nil)] {
                try await BadRequest(name: path, path: "/v1/links/{link}/\(path)", body: body, status: .conflict, code: "link_expired")
                    .check(world, client)
            }
            let link = try await client.send(.get, "/v1/links/\(world.alice)", key: world.paylink.agent).jsonObject()
            #expect(link["status"] as? String == "expired")
        }
    }

    static let cancelAndExtendBodies: [BadRequest] = [
        BadRequest(name: "cancel with unknown field", path: "/v1/links/{link}/cancel", body: #"{"reason": "x"}"#,
            status: .badRequest, code: "parameter_unknown", param: "reason"),
        BadRequest(name: "cancel with array body", path: "/v1/links/{link}/cancel", body: "[]", status: .badRequest, code: "invalid_json"),
        BadRequest(name: "cancel with text/plain body", path: "/v1/links/{link}/cancel", body: "{}", contentType: "text/plain",
            status: .unsupportedMediaType, code: "unsupported_media_type"),
        BadRequest(name: "extend 299", path: "/v1/links/{link}/extend", body: #"{"expires_in": 299}"#,
            status: .badRequest, code: "expires_in_out_of_range", param: "expires_in"),
        BadRequest(name: "extend 604801", path: "/v1/links/{link}/extend", body: #"{"expires_in": 604801}"#,
            status: .badRequest, code: "expires_in_out_of_range", param: "expires_in"),
        BadRequest(name: "extend past 7 days from now", path: "/v1/links/{link}/extend", body: #"{"expires_in": 604800}"#,
            status: .badRequest, code: "expires_in_out_of_range", param: "expires_in"),
        BadRequest(name: "extend as string", path: "/v1/links/{link}/extend", body: #"{"expires_in": "600"}"#,
            status: .badRequest, code: "parameter_invalid_type", param: "expires_in"),
        BadRequest(name: "extend as float", path: "/v1/links/{link}/extend", body: #"{"expires_in": 600.5}"#,
            status: .badRequest, code: "parameter_invalid_integer", param: "expires_in"),
        BadRequest(name: "extend with unknown field", path: "/v1/links/{link}/extend", body: #"{"expires_in": 600, "at": 1}"#,
            status: .badRequest, code: "parameter_unknown", param: "at"),
        BadRequest(name: "extend truncated", path: "/v1/links/{link}/extend", body: #"{"expires_in": "#,
            status: .badRequest, code: "invalid_json"),
        BadRequest(name: "extend 10 MB", path: "/v1/links/{link}/extend",
            body: #"{"expires_in": 600}"# + String(repeating: " ", count: 10 * 1024 * 1024), status: .contentTooLarge, code: "body_too_large"),
    ]

    @Test(arguments: cancelAndExtendBodies) func badCancelAndExtendBodies(_ request: BadRequest) async throws {
        try await Self.refuse(request)
    }

    // MARK: - Query strings and stream cursors

    static let queries: [BadRequest] = [
        list("limit=0", "parameter_invalid_integer", "limit"), list("limit=101", "parameter_invalid_integer", "limit"),
        list("limit=abc", "parameter_invalid_integer", "limit"), list("limit=-1", "parameter_invalid_integer", "limit"),
        list("limit=1.5", "parameter_invalid_integer", "limit"), list("limit=1e1", "parameter_invalid_integer", "limit"),
        list("limit=10&limit=20", "parameter_invalid", "limit"), list("foo=bar", "parameter_unknown", "foo"),
        list("Limit=10", "parameter_unknown", "Limit"), list("status=done", "parameter_invalid", "status"),
        list("limit=+5", "parameter_invalid_integer", "limit"), list("limit=05", "parameter_invalid_integer", "limit"),
        list("limit=%205", "parameter_invalid_integer", "limit"),
        list("reference=%zz", "parameter_invalid", "reference"), list("reference=A%", "parameter_invalid", "reference"),
        list("reference=%FF", "parameter_invalid", "reference"), list("=x", "parameter_unknown", ""),
        list("bogus=%zz", "parameter_unknown", "bogus"), list("b%6Fgus=1", "parameter_unknown", "bogus"),
        // A + is a space: a phone or email filter with one was sent unencoded, and is told so.
        list("customer_phone=+447700900123", "parameter_invalid", "customer_phone"),
        list("customer_email=ada+tag@example.com", "parameter_invalid", "customer_email"),
        list("starting_after=lnk_x", "resource_missing", "starting_after"),
        list("starting_after=evt_000000000000000000000000", "resource_missing", "starting_after"),
        BadRequest(name: "events limit=0", method: .get, path: "/v1/links/{link}/events?limit=0",
            status: .badRequest, code: "parameter_invalid_integer", param: "limit"),
        BadRequest(name: "events limit=101", method: .get, path: "/v1/links/{link}/events?limit=101",
            status: .badRequest, code: "parameter_invalid_integer", param: "limit"),
        BadRequest(name: "events after=abc", method: .get, path: "/v1/links/{link}/events?after=abc",
            status: .badRequest, code: "parameter_invalid", param: "after"),
        BadRequest(name: "events after=-1", method: .get, path: "/v1/links/{link}/events?after=-1",
            status: .badRequest, code: "parameter_invalid", param: "after"),
        BadRequest(name: "events after=+1", method: .get, path: "/v1/links/{link}/events?after=%2B1",
            status: .badRequest, code: "parameter_invalid", param: "after"),
        BadRequest(name: "events after=01", method: .get, path: "/v1/links/{link}/events?after=01",
            status: .badRequest, code: "parameter_invalid", param: "after"),
        BadRequest(name: "events unknown parameter", method: .get, path: "/v1/links/{link}/events?since=1",
            status: .badRequest, code: "parameter_unknown", param: "since"),
        BadRequest(name: "retrieve with unknown parameter", method: .get, path: "/v1/links/{link}?expand=payment",
            status: .badRequest, code: "parameter_unknown", param: "expand"),
    ]

    static func list(_ query: String, _ code: String, _ param: String) -> BadRequest {
        BadRequest(name: "list \(query)", method: .get, path: "/v1/links?\(query)", status: .badRequest, code: code, param: param)
    }

    @Test(arguments: queries) func badQueryParameters(_ request: BadRequest) async throws { try await Self.refuse(request) }

    /// A valid stream request never ends, so only invalid ones are sent (each under a timeout).
    static let streamCursors: [BadRequest] = ["/v1/links/{link}/events/stream", "/v1/events/stream"].flatMap(badCursors)

    static func badCursors(_ path: String) -> [BadRequest] {
        // "1000000" is past the newest event: no client can have been sent that id.
        let headers: [BadRequest] = ["abc", "-1", "1.5", "99999999999999999999", "0x10", "+1", "01", "1000000"].map { id in
            var request = BadRequest(
                name: "\(path) Last-Event-ID \(id)", method: .get, path: path, status: .badRequest, code: "parameter_invalid",
                param: "Last-Event-ID")
            request.headers = ["Last-Event-ID": id]
            return request
        }
        let queries: [BadRequest] = [("after=abc", "after"), ("after=-5", "after"), ("after=1000000", "after")].map { query, param in
            BadRequest(name: "\(path)?\(query)", method: .get, path: path + "?" + query, status: .badRequest, code: "parameter_invalid",
                param: param)
        }
        let unknown = BadRequest(name: "\(path)?from=1", method: .get, path: path + "?from=1", status: .badRequest,
            code: "parameter_unknown", param: "from")
        return headers + queries + [unknown]
    }

    @Test(arguments: streamCursors) func badStreamCursors(_ request: BadRequest) async throws { try await Self.refuse(request) }

    // MARK: - Idempotency-Key

    /// Only characters HTTP itself carries (a DEL would be turned into a space by HTTPTypes before the server saw it).
    static let badIdempotencyKeys: [String] = [String(repeating: "k", count: 256), "", "two words", "tab\there", "ключ"]

    @Test(arguments: badIdempotencyKeys) func invalidIdempotencyKeysAre400(_ key: String) async throws {
        try await World.run { world, client in
            for (path, body) in [("/v1/links", Self.valid), ("/v1/links/{link}/cancel", nil), ("/v1/links/{link}/extend", #"{"expires_in": 600}"#)] {
                var request = BadRequest(
                    name: "\(path) key \(key.prefix(10))", path: path, body: body, status: .badRequest, code: "idempotency_key_invalid",
                    param: "Idempotency-Key")
                request.headers = ["Idempotency-Key": key]
                try await request.check(world, client)
            }
        }
    }

    @Test func idempotencyKeyOf255CharactersIsAccepted() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let response = try await client.send(
                .post, "/v1/links", key: paylink.agent, json: Self.valid, headers: ["Idempotency-Key": String(repeating: "k", count: 255)])
            #expect(response.status == .created)
        }
    }

    @Test func sameIdempotencyKeyWithAnotherRequestIs422() async throws {
        let key = ["Idempotency-Key": "order-1-attempt"]
        try await World.run(prepare: { world, client in
            let first = try await client.send(.post, "/v1/links", key: world.paylink.agent, json: Self.valid, headers: key)
            #expect(first.status == .created)
            world.keyed = try first.jsonObject()["id"] as? String
        }) { world, client in
            let changed = [
                ("/v1/links", #"{"amount": 2999, "currency": "GBP", "reference": "order-1"}"#),
                ("/v1/links", #"{"amount": 1999, "currency": "GBP", "reference": "order-1", "description": "x"}"#),
                ("/v1/links/{link}/cancel", nil),  // the same key on another endpoint
                ("/v1/links/{link}/extend", #"{"expires_in": 600}"#),
            ]
            for (path, body) in changed {
                var request = BadRequest(
                    name: "\(path) \(body ?? "")", path: path, body: body, status: .unprocessableContent, code: "idempotency_key_reused")
                request.headers = key
                try await request.check(world, client)
            }
            // The first request's response is still the one replayed.
            let replay = try await client.send(.post, "/v1/links", key: world.paylink.agent, json: Self.valid, headers: key)
            #expect(replay.status == .created)
            #expect(replay.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(try replay.jsonObject()["id"] as? String == world.keyed)
        }
    }

    /// A request refused by validation does not use up its Idempotency-Key: the corrected retry runs.
    @Test func refusedRequestDoesNotConsumeItsIdempotencyKey() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            let key = ["Idempotency-Key": "retry-me"]
            let bad = try await client.send(.post, "/v1/links", key: paylink.agent, json: #"{"amount": "1999", "currency": "GBP", "reference": "r"}"#, headers: key)
            expectRefusal(bad, .badRequest, "parameter_invalid_type", param: "amount")
            let good = try await client.send(.post, "/v1/links", key: paylink.agent, json: Self.valid, headers: key)
            #expect(good.status == .created)
            #expect(good.headers[HTTPField.Name("Idempotent-Replayed")!] == nil)
        }
    }

    // MARK: - GET /p/TOKEN

    static let base64URL = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    @Test func everyAlteredTokenGetsTheUnknownLinkPage() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        // A genuinely signed token whose link does not exist: the reference "unknown link" page.
        let runtime = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
        let (_, unknownToken) = try await runtime.keyRing.issue()
        try await World.run(paylink) { world, client in
            let token = world.aliceToken
            let unknown = try await client.send(.get, "/p/\(unknownToken)", key: nil)
            #expect(unknown.status == .notFound)
            #expect(unknown.text.contains("Link not valid"))
            // The control: the real token opens the page.
            #expect(try await client.send(.get, "/p/\(token)", key: nil).status == .ok)

            var variants: [(String, String)] = []
            let characters = Array(token)
            for position in characters.indices {
                let index = Self.base64URL.firstIndex(of: characters[position])!
                for step in [1, 32] {
                    var altered = characters
                    altered[position] = Self.base64URL[(index + step) % 64]
                    variants.append(("position \(position) +\(step)", String(altered)))
                }
            }
            // The last character carries 2 bits; these spellings decode to the very same bytes.
            let lastIndex = Self.base64URL.firstIndex(of: characters.last!)!
            for spare in 1..<16 where (lastIndex ^ spare) < 64 {
                variants.append(("non-canonical last character \(spare)", String(characters.dropLast()) + String(Self.base64URL[lastIndex ^ spare])))
            }
            variants += [
                ("dropped last", String(token.dropLast())), ("half", String(token.prefix(23))), ("one character", String(token.prefix(1))),
                ("extended by one", token + "A"), ("padded", token + "="), ("doubled", token + token),
                ("uppercased", token.uppercased()), ("lowercased", token.lowercased()), ("reversed", String(token.reversed())),
                ("standard base64 +", "+" + token.dropFirst()), ("space", "%20"), ("dash", "-"), ("underscore", "_"), ("equals", "="),
                ("null", "null"), ("undefined", "undefined"), ("all A", String(repeating: "A", count: 54)),
                ("all A, first layout's length", String(repeating: "A", count: 46)),
                ("percent-encoded NUL", "%00"), ("64 characters", String(repeating: "A", count: 64)),
                ("a link id", world.alice),
            ]
            let expected = PageSnapshot(unknown)
            for (name, variant) in variants where variant != token {
                let response = try await client.send(.get, "/p/\(variant)", key: nil)
                #expect(response.status.code < 500, "\(name): 5xx")
                #expect(response.status == .notFound, "\(name) (\(variant)): \(response.status)")
                #expect(PageSnapshot(response) == expected, "\(name) (\(variant)) differs from the unknown-link page")
            }
            // Bare /p/ is not a token at all; it must still be a plain 404, never a 5xx.
            for path in ["/p/", "/p"] {
                let response = try await client.send(.get, path, key: nil)
                #expect(response.status == .notFound, "\(path)")
            }
            // Still open, still opening: none of the above touched Alice's link.
            #expect(try await client.send(.get, "/p/\(token)", key: nil).status == .ok)
        }
    }

    @Test func tokenSignedByARetiredKeyGetsTheUnknownLinkPage() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        let runtime = try await PaylinkRuntime.open(paylink.configuration, clock: paylink.clock)
        let (link, token) = try await paylink.test { client in
            let link = try await client.createLink(key: paylink.agent)
            let token = String((link["url"] as! String).split(separator: "/").last!)
            #expect(try await client.send(.get, "/p/\(token)", key: nil).status == .ok)
            return (link["id"] as! String, token)
        }
        let old = try #require(try await runtime.keyRing.list().first(where: { $0.status == .current }))
        try await runtime.keyRing.rotate(now: paylink.clock.now())
        paylink.clock.advance(by: SigningKeyRing.retireGrace)
        let retired = try await runtime.keyRing.retire(id: old.id, now: paylink.clock.now())
        #expect(retired.status == .retired)
        // Signed by the new current key, for a link that does not exist: the reference 404.
        let (_, unknownToken) = try await runtime.keyRing.issue()
        // A fresh application, so its key ring has not cached the key as still usable.
        try await World.run(paylink) { world, client in
            let unknown = try await client.send(.get, "/p/\(unknownToken)", key: nil)
            let response = try await client.send(.get, "/p/\(token)", key: nil)
            #expect(response.status == .notFound)
            #expect(unknown.status == .notFound)
            #expect(PageSnapshot(response) == PageSnapshot(unknown))
            // The control: links signed by the new current key open.
            #expect(try await client.send(.get, "/p/\(world.aliceToken)", key: nil).status == .ok)
            // Retiring a key closes the door but does not rewrite the link.
            let read = try await client.send(.get, "/v1/links/\(link)", key: paylink.agent).jsonObject()
            #expect(read["status"] as? String == "open")
        }
    }

    enum Closed: String, CaseIterable, Sendable { case expired, cancelled }

    @Test(arguments: Closed.allCases) func closedLinksAre410AndOpeningChangesNothing(_ closed: Closed) async throws {
        try await World.run(prepare: { world, client in
            switch closed {
            case .expired:
                world.paylink.clock.advance(by: 1801)
                try await world.waitForExpiry(client)
            case .cancelled:
                let cancelled = try await client.send(.post, "/v1/links/\(world.alice)/cancel", key: world.paylink.agent)
                #expect(cancelled.status == .ok)
            }
        }) { world, client in
            for _ in 0..<3 {
                let response = try await client.send(.get, "/p/\(world.aliceToken)", key: nil)
                #expect(response.status == .gone)
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(!response.text.contains("order-1"), "a closed link's page shows no details")
            }
            let link = try await client.send(.get, "/v1/links/\(world.alice)", key: world.paylink.agent).jsonObject()
            #expect(link["status"] as? String == closed.rawValue)
        }
    }

    /// The error object always has its four keys, `param` null when no one parameter is at fault (APIError.jsonBody).
    @Test func errorsWithoutAParamStillCarryAllFourKeys() async throws {
        let paylink = try await TestPaylink.make()
        defer { paylink.cleanUp() }
        try await paylink.test { client in
            for response in [
                try await client.send(.post, "/v1/links", key: paylink.agent, json: "[]"),
                try await client.send(.get, "/v1/links", key: nil),
            ] {
                let error = try #require(try response.jsonObject()["error"] as? [String: Any])
                #expect(Set(error.keys) == ["type", "code", "message", "param"], "\(response.text)")
                #expect(error["param"] is NSNull)
            }
        }
    }

    // MARK: - Running a case

    /// Sends `request` against a fresh Paylink and checks it is refused as described and changes nothing.
    static func refuse(_ request: BadRequest) async throws {
        try await World.run { world, client in try await request.check(world, client) }
    }
}

// MARK: - Test support

extension BadInputTests {

    /// One request that is wrong in one way, and exactly how it must be refused.
    struct BadRequest: Sendable, CustomTestStringConvertible {
        var name: String
        var method: HTTPRequest.Method = .post
        /// `{link}` stands for Alice's link.
        var path: String = "/v1/links"
        var body: String?
        var bytes: [UInt8]?
        var contentType: String? = "application/json"
        var headers: [String: String] = [:]
        /// nil: Alice's key; `.some(nil)`: no Authorization header; `.some(value)`: that header verbatim.
        var authorization: String?? = nil
        var status: HTTPResponse.Status
        var code: String
        var param: String?

        var testDescription: String { name }

        init(
            name: String, method: HTTPRequest.Method = .post, path: String = "/v1/links", body: String? = nil, bytes: [UInt8]? = nil,
            contentType: String? = "application/json", status: HTTPResponse.Status, code: String, param: String? = nil
        ) {
            self.name = name
            self.method = method
            self.path = path
            self.body = body
            self.bytes = bytes
            self.contentType = contentType
            self.status = status
            self.code = code
            self.param = param
        }

        static func create(_ name: String, _ body: String, _ status: HTTPResponse.Status, _ code: String, _ param: String? = nil) -> BadRequest {
            BadRequest(name: name, body: body, status: status, code: code, param: param)
        }

        /// The valid create body, with extra headers.
        static func withHeaders(_ name: String, _ headers: [String: String], status: HTTPResponse.Status, code: String) -> BadRequest {
            var request = BadRequest(name: name, body: BadInputTests.valid, status: status, code: code)
            request.headers = headers
            return request
        }

        /// Sends the request, checks the refusal, and checks nothing a supervisor can see has changed.
        func check(_ world: World, _ client: any TestClientProtocol, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            try await world.checkUnchanged(client, sourceLocation: sourceLocation) {
                let response = try await withinTimeLimit { try await send(world, client) }
                expectRefusal(response, status, code, param: param, name, sourceLocation: sourceLocation)
                // An error never repeats a card number it was sent (PCI DSS 3.4.1).
                #expect(CardNumberRedaction.redact(response.text) == response.text, "\(name): \(response.text)", sourceLocation: sourceLocation)
            }
        }

        func send(_ world: World, _ client: any TestClientProtocol) async throws -> TestResponse {
            var fields = HTTPFields()
            switch authorization {
            case .none: fields[.authorization] = "Bearer \(world.paylink.agent)"
            case .some(.none): break
            case .some(.some(let value)): fields[.authorization] = value
            }
            let payload = bytes.map { ByteBuffer(bytes: $0) } ?? body.map { ByteBuffer(string: $0) }
            if payload != nil, let contentType { fields[.contentType] = contentType }
            for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
            return try await client.executeRequest(
                uri: path.replacingOccurrences(of: "{link}", with: world.alice), method: method, headers: fields, body: payload)
        }
    }

    /// A fresh Paylink with one open link of Alice's and one of Bob's: enough state for "nothing changed" to mean something.
    final class World: @unchecked Sendable {
        let paylink: TestPaylink
        let alice: String
        let bob: String
        let aliceToken: String
        let aliceEvent: String
        /// Set by tests that make one more link during `prepare`.
        var keyed: String?

        init(paylink: TestPaylink, client: any TestClientProtocol) async throws {
            self.paylink = paylink
            let alice = try await client.createLink(
                key: paylink.agent,
                #"{"amount": 1999, "currency": "GBP", "reference": "order-1", "customer": {"email": "ada@example.com"}, "metadata": {"crm": "42"}}"#)
            self.alice = try #require(alice["id"] as? String)
            self.aliceToken = String(try #require(alice["url"] as? String).split(separator: "/").last!)
            self.bob = try #require(try await client.createLink(key: paylink.otherAgent)["id"] as? String)
            let events = try await client.send(.get, "/v1/links/\(self.alice)/events", key: paylink.agent).jsonObject()
            self.aliceEvent = try #require((events["data"] as? [[String: Any]])?.first?["id"] as? String)
        }

        /// Runs `prepare` (allowed to change state), then `body`, which must change nothing.
        static func run(
            _ paylink: TestPaylink? = nil,
            prepare: @Sendable (World, any TestClientProtocol) async throws -> Void = { _, _ in },
            _ body: @Sendable (World, any TestClientProtocol) async throws -> Void
        ) async throws {
            let owned = paylink == nil
            let paylink = if let paylink { paylink } else { try await TestPaylink.make() }
            defer { if owned { paylink.cleanUp() } }
            try await paylink.test { client in
                let world = try await World(paylink: paylink, client: client)
                try await prepare(world, client)
                try await world.checkUnchanged(client) { try await body(world, client) }
            }
        }

        func checkUnchanged(
            _ client: any TestClientProtocol, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
        ) async throws {
            let before = try await Observed.read(client, paylink)
            try await body()
            let after = try await Observed.read(client, paylink)
            #expect(after == before, "state changed", sourceLocation: sourceLocation)
        }

        /// Waits until the expiry sweeper has recorded `link.expired` on both seeded links.
        func waitForExpiry(_ client: any TestClientProtocol) async throws {
            for link in [alice, bob] {
                var seen = false
                for _ in 0..<100 where !seen {
                    let events = try await client.send(.get, "/v1/links/\(link)/events", key: paylink.supervisor).jsonObject()
                    seen = (events["data"] as? [[String: Any]])?.contains { $0["type"] as? String == "link.expired" } == true
                    if !seen { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(seen, "no link.expired event on \(link)")
            }
        }
    }

    /// Everything observable about state: Alice's link count, and every link and every event a supervisor can see.
    struct Observed: Equatable, CustomStringConvertible {
        var aliceLinkCount: Int
        var links: [String]
        var events: [String: [String]]

        static func read(_ client: any TestClientProtocol, _ paylink: TestPaylink) async throws -> Observed {
            let mine = try await client.send(.get, "/v1/links?limit=100", key: paylink.agent).jsonObject()
            let all = try await client.send(.get, "/v1/links?limit=100", key: paylink.supervisor).jsonObject()
            let links = try #require(all["data"] as? [[String: Any]])
            var events: [String: [String]] = [:]
            for link in links {
                let id = link["id"] as! String
                let page = try await client.send(.get, "/v1/links/\(id)/events?limit=100", key: paylink.supervisor).jsonObject()
                events[id] = (page["data"] as? [[String: Any]] ?? []).map { "\($0["seq"]!) \($0["type"]!) \($0["id"]!)" }
            }
            return Observed(
                aliceLinkCount: (mine["data"] as? [Any])?.count ?? -1,
                links: try links.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) },
                events: events)
        }

        var description: String { "\(aliceLinkCount) links of Alice's; \(links.count) in all; events \(events)" }
    }

    /// A payment page with its per-response CSP nonce blanked out, so two pages compare byte for byte otherwise.
    struct PageSnapshot: Equatable {
        let status: Int
        let headers: [String]
        let body: String

        init(_ response: TestResponse) {
            let csp = response.headers[.contentSecurityPolicy] ?? ""
            var nonces: Set<String> = []
            var rest = Substring(csp)
            while let start = rest.range(of: "'nonce-") {
                let tail = rest[start.upperBound...]
                let end = tail.firstIndex(of: "'") ?? tail.endIndex
                nonces.insert(String(tail[..<end]))
                rest = tail[end...]
            }
            func blank(_ text: String) -> String { nonces.reduce(text) { $0.replacingOccurrences(of: $1, with: "NONCE") } }
            status = Int(response.status.code)
            headers = response.headers.map { "\($0.name.canonicalName): \(blank($0.value))" }.sorted()
            body = blank(response.text)
        }
    }
}

/// The whole error contract in one place: status, code, param, the JSON error object, and never a 5xx.
fileprivate func expectRefusal(
    _ response: TestResponse, _ status: HTTPResponse.Status, _ code: String, param: String?, _ what: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let context = "\(what): \(response.status) \(response.text.prefix(300))"
    #expect(response.status.code < 500, "5xx for \(context)", sourceLocation: sourceLocation)
    #expect(response.status == status, "status for \(context)", sourceLocation: sourceLocation)
    #expect(response.headers[.contentType]?.hasPrefix("application/json") == true, "content type for \(context)", sourceLocation: sourceLocation)
    guard let object = try? response.jsonObject(), let error = object["error"] as? [String: Any] else {
        Issue.record("not a JSON error object: \(context)", sourceLocation: sourceLocation)
        return
    }
    let type = response.status == .unauthorized ? "authentication_error" : code.hasPrefix("idempotency_") ? "idempotency_error" : "invalid_request_error"
    #expect(Array(object.keys) == ["error"], "\(context)", sourceLocation: sourceLocation)
    #expect(Set(error.keys).isSubset(of: ["type", "code", "message", "param"]), "\(context)", sourceLocation: sourceLocation)
    #expect(error["type"] as? String == type, "type for \(context)", sourceLocation: sourceLocation)
    #expect(error["code"] as? String == code, "code for \(context)", sourceLocation: sourceLocation)
    #expect((error["message"] as? String)?.isEmpty == false, "message for \(context)", sourceLocation: sourceLocation)
    if let param {
        #expect(error["param"] as? String == param, "param for \(context)", sourceLocation: sourceLocation)
    } else {
        #expect(error["param"] == nil || error["param"] is NSNull, "param for \(context)", sourceLocation: sourceLocation)
    }
}

/// Runs `operation`, failing instead of hanging if it takes longer than `limit` (a stream that was wrongly opened).
fileprivate func withinTimeLimit<T: Sendable>(_ limit: Duration = .seconds(10), _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TestFailure("no response within \(limit): a request that should have been refused was answered with a stream")
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
