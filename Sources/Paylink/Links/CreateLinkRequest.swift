import Foundation

/// A validated `POST /v1/links` body. Parsing is total: every way a body can be wrong maps to
/// one 400 with a code and the parameter at fault, and nothing is stored until all of it passes.
struct CreateLinkRequest: Sendable, Equatable {
    var amount: Money
    var reference: String
    var description: String?
    var locale: String
    var expiresIn: Int64
    var customer: Link.Customer?
    var metadata: [String: String]
    var conversation: Link.Conversation?

    static let supportedLocales: Set<String> = ["en", "zh-Hans", "zh-Hant"]
    static let expiresInRange: ClosedRange<Int64> = 300...604_800
    static let defaultExpiresIn: Int64 = 1800
    static let referenceMaxLength = 64
    static let descriptionMaxLength = 500
    static let metadataMaxPairs = 20
    static let metadataKeyMaxLength = 40
    static let metadataValueMaxLength = 500

    init(_ body: [String: JSONValue], maxAmount: Int64) throws(APIError) {
        let reader = JSONObjectReader(body)
        try reader.rejectUnknownKeys(allowed: [
            "amount", "currency", "reference", "description", "locale", "expires_in", "customer", "metadata", "conversation",
        ])

        let amount = try reader.requiredInteger("amount")
        let currencyCode = try reader.requiredString("currency")
        guard let currency = Currency(code: currencyCode) else {
            let hint = Currency(code: currencyCode.uppercased()) != nil ? " Currency codes are uppercase." : ""
            throw APIError.invalid("currency", code: "currency_invalid", "Invalid currency: '\(currencyCode)' is not an ISO 4217 code that can be charged.\(hint)")
        }
        guard amount >= 1 else {
            throw APIError.invalid("amount", code: "amount_too_small", "Amount must be at least 1 (in the currency's minor unit).")
        }
        guard amount <= maxAmount else {
            throw APIError.invalid("amount", code: "amount_too_large", "Amount must be at most \(maxAmount) (in the currency's minor unit).")
        }
        self.amount = Money(minorUnits: amount, currency: currency)

        reference = try Self.text(reader, "reference", required: true, max: Self.referenceMaxLength)!
        // A reference is matched exactly (filters, the agent reading it out): an invisible
        // character would make two references look alike, or one look like what it is not.
        // Free text (description, names) keeps them.
        // (ASCII has none: the usual reference skips the scan.)
        if reference.utf8.contains(where: { $0 >= 0x80 }) && reference.unicodeScalars.contains(where: Self.isInvisible) {
            throw APIError.invalid("reference", "reference must not contain invisible characters (such as zero-width spaces or a byte order mark).")
        }
        description = try Self.text(reader, "description", required: false, max: Self.descriptionMaxLength)

        locale = try reader.string("locale") ?? "en"
        guard Self.supportedLocales.contains(locale) else {
            throw APIError.invalid("locale", code: "locale_unsupported", "Unsupported locale '\(locale)'; use one of en, zh-Hans, zh-Hant.")
        }

        expiresIn = try reader.integer("expires_in") ?? Self.defaultExpiresIn
        try Self.checkExpiresIn(expiresIn)

        if let customerReader = try reader.object("customer") {
            try customerReader.rejectUnknownKeys(allowed: ["name", "email", "phone"])
            let name = try Self.text(customerReader, "name", required: false, max: 200)
            let email = try customerReader.string("email")
            if let email, !Self.isPlausibleEmail(email) {
                throw APIError.invalid(customerReader.param("email"), code: "email_invalid", "Invalid email address.")
            }
            if let email { try Self.refuseCardNumber(email, param: customerReader.param("email")) }
            let phone = try customerReader.string("phone")
            if let phone, !Self.isE164(phone) {
                throw APIError.invalid(
                    customerReader.param("phone"), code: "phone_invalid", "Invalid phone number: use E.164, e.g. +447700900123.")
            }
            customer = (name == nil && email == nil && phone == nil) ? nil : Link.Customer(name: name, email: email, phone: phone)
        }

        metadata = try Self.metadata(reader)

        if let conversationReader = try reader.object("conversation") {
            try conversationReader.rejectUnknownKeys(allowed: ["channel", "id"])
            let channel = try Self.text(conversationReader, "channel", required: true, max: 40)!
            let id = try Self.text(conversationReader, "id", required: true, max: 200)!
            conversation = Link.Conversation(channel: channel, id: id)
        }
    }

    static func checkExpiresIn(_ value: Int64, param: String = "expires_in") throws(APIError) {
        guard expiresInRange.contains(value) else {
            throw APIError.invalid(
                param, code: "expires_in_out_of_range",
                "\(param) must be between \(expiresInRange.lowerBound) and \(expiresInRange.upperBound) seconds.")
        }
    }

    /// A string with no control characters, not blank, within `max` characters.
    private static func text(_ reader: JSONObjectReader, _ key: String, required: Bool, max: Int) throws(APIError) -> String? {
        guard let value = try reader.string(key) else {
            if required { throw APIError.missing(reader.param(key)) }
            return nil
        }
        let param = reader.param(key)
        switch textProblem(value, max: max) {
        case .none:
            try refuseCardNumber(value, param: param)
            return value
        case .empty: throw APIError.invalid(param, code: "parameter_invalid_string_empty", "\(param) must not be empty.")
        case .tooLong: throw APIError.invalid(param, code: "parameter_too_long", "\(param) must be at most \(max) characters.")
        case .control: throw APIError.invalid(param, "\(param) must not contain control characters.")
        }
    }

    enum TextProblem { case none, empty, tooLong, control }

    /// A card number typed by an agent into a link's text (a reference, a note, metadata) would
    /// be stored, put in `link.created` and shown on the page: exactly where SPEC §4 and PCI DSS
    /// say no card number may be. What `CardNumberRedaction.containsCardNumber` takes for one
    /// (13–19 digits starting with 2–6, written as cards are, passing the Luhn check) is
    /// refused, and the message does not repeat it. The cost: an unbroken numeric order number
    /// of that shape passes the Luhn check one time in ten, and then needs another form.
    static func refuseCardNumber(_ value: String, param: String) throws(APIError) {
        guard CardNumberRedaction.containsCardNumber(value) else { return }
        throw APIError.invalid(
            param, code: "card_number_not_allowed",
            "\(param) looks like a card number (13 to 19 digits, written as on a card, passing the Luhn check). Card numbers must never be typed into "
                + "Paylink: the customer enters theirs on the payment page. If this is not one, use another value.")
    }

    /// The text rules for any free-text value (link fields, metadata keys, agent names): the
    /// one-pass ASCII check when it can judge, else the general one.
    static func textProblem(_ value: String, max: Int) -> TextProblem {
        asciiProblem(value, max: max) ?? problem(value, max: max)
    }

    /// What is wrong with a text parameter, checked in this order: blank, longer than `max`
    /// characters, containing a control character.
    ///
    /// Lengths are Unicode code points, as JSON Schema's `maxLength` counts them, not grapheme
    /// clusters: a reference of one letter and 2,000 combining accents is one `Character` and
    /// 2,001 code points, and must not slip past a 64-character limit. Blank means nothing
    /// visible: no letter, digit, punctuation or symbol that draws something (so zero-width
    /// spaces, soft hyphens, Hangul fillers or a lone combining mark are blank too). Control
    /// characters include line and paragraph separators, the bidirectional embeddings and
    /// overrides, and unbalanced isolates, which would let a reference read differently on an
    /// agent's screen from what it is.
    static func problem(_ value: String, max: Int) -> TextProblem {
        if !value.unicodeScalars.contains(where: isVisible) { return .empty }
        if value.unicodeScalars.count > max { return .tooLong }
        if value.unicodeScalars.contains(where: isControl) || !bidiIsolatesBalance(value) { return .control }
        return .none
    }

    private static func isVisible(_ scalar: Unicode.Scalar) -> Bool {
        // Hangul fillers are letters that draw nothing; the Braille blank is a symbol that draws nothing.
        if scalar.properties.isDefaultIgnorableCodePoint || scalar.value == 0x2800 { return false }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .decimalNumber, .letterNumber, .otherNumber,
            .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation,
            .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            return true
        default: return false
        }
    }

    /// Characters that draw nothing in the middle of text: Unicode's default-ignorable code
    /// points (zero-width spaces, the byte-order mark, soft hyphens, tag characters, Hangul
    /// fillers…), except those that change what is drawn next to them: the zero-width joiner
    /// and non-joiner (emoji sequences such as 👨‍👩‍👧, and Arabic, Persian and Indic spelling)
    /// and the variation selectors (text or emoji style of the character before; Mongolian
    /// letter forms). Tag characters stay refused, so the subdivision flags they spell (🏴 with
    /// tags, England, Scotland, Wales) cannot be in a reference.
    static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x200C, 0x200D, 0xFE00...0xFE0F, 0xE0100...0xE01EF, 0x180B...0x180D, 0x180F: return false
        default: return scalar.properties.isDefaultIgnorableCodePoint
        }
    }

    /// Controls, line and paragraph separators, and the bidirectional embeddings and overrides
    /// (U+202A–202E), which reorder everything after them.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator: return true
        default: return (0x202A...0x202E).contains(scalar.value)
        }
    }

    /// Bidirectional isolates (U+2066–2068 … U+2069) are how tools wrap right-to-left names in
    /// left-to-right text, and are harmless when each one is closed; an unclosed or stray one
    /// would reorder what follows on screen.
    private static func bidiIsolatesBalance(_ value: String) -> Bool {
        var open = 0
        for scalar in value.unicodeScalars {
            switch scalar.value {
            case 0x2066...0x2068: open += 1
            case 0x2069:
                guard open > 0 else { return false }
                open -= 1
            default: continue
            }
        }
        return open == 0
    }

    /// The checks of `problem` in one pass over the bytes, for printable ASCII text (nil for
    /// anything else, which `problem` then judges): there a character is a byte and the only
    /// blank is a space. Walking `Character`s and Unicode properties cost ≈ 2.5 % of a create.
    static func asciiProblem(_ value: String, max: Int) -> TextProblem? {
        var blank = true
        for byte in value.utf8 {
            // Control characters (tab, CR LF, which is one `Character`) and non-ASCII: the slow path.
            guard byte >= 0x20 && byte < 0x7F else { return nil }
            if byte != 0x20 { blank = false }
        }
        if blank { return .empty }
        return value.utf8.count > max ? .tooLong : TextProblem.none
    }

    private static func metadata(_ reader: JSONObjectReader) throws(APIError) -> [String: String] {
        guard let object = try reader.object("metadata") else { return [:] }
        guard object.object.count <= metadataMaxPairs else {
            throw APIError.invalid("metadata", code: "metadata_invalid", "metadata may have at most \(metadataMaxPairs) keys.")
        }
        var result: [String: String] = [:]
        for key in object.object.keys.sorted() {
            let param = object.param(key)
            guard textProblem(key, max: metadataKeyMaxLength) == .none else {
                throw APIError.invalid(
                    param, code: "metadata_invalid",
                    "metadata keys must be 1 to \(metadataKeyMaxLength) characters, not blank, without control characters.")
            }
            guard let value = try object.string(key) else {
                throw APIError.invalid(param, code: "metadata_invalid", "metadata values must be strings.")
            }
            guard value.unicodeScalars.count <= metadataValueMaxLength else {
                throw APIError.invalid(param, code: "metadata_invalid", "metadata values must be at most \(metadataValueMaxLength) characters.")
            }
            try refuseCardNumber(key, param: "metadata")
            try refuseCardNumber(value, param: param)
            result[key] = value
        }
        return result
    }

    /// ITU-T E.164: a plus, a non-zero country code digit, at most 15 digits in all.
    static func isE164(_ phone: String) -> Bool {
        let digits = phone.utf8.dropFirst()
        return phone.hasPrefix("+") && (2...15).contains(digits.count) && digits.first != UInt8(ascii: "0")
            && digits.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    /// Deliberately loose; the mail server is the real judge. RFC 5321 lengths (254 bytes in
    /// all, 64 before the @), 63 characters per domain label (an internationalised label's limit
    /// is 63 octets of its punycode form, which this approximates without computing it), one @,
    /// a dotted domain, no spaces, nothing invisible (the `customer_email` filter matches
    /// exactly), and none of RFC 5322's specials outside `@` and `.`: `<a@example.com>` or
    /// `"a b"@example.com` are display or quoted forms, not the address to send to.
    static func isPlausibleEmail(_ email: String) -> Bool {
        guard email.utf8.count <= 254,
            !email.unicodeScalars.contains(where: { $0.properties.isWhitespace || isControl($0) || $0.properties.isDefaultIgnorableCodePoint }),
            !email.utf8.contains(where: { #"()<>[]:;,\""#.utf8.contains($0) })
        else { return false }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...64).contains(parts[0].utf8.count) else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty && $0.count <= 63 && !$0.hasPrefix("-") && !$0.hasSuffix("-") }
    }
}
