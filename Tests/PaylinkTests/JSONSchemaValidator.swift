import Foundation

@testable import Paylink

/// Checks JSON against the subset of JSON Schema 2020-12 that `openapi.json` uses, so the
/// conformance tests can prove every response matches the document without a dependency.
///
/// Supported: `$ref` (JSON pointers into the enclosing document, e.g. `#/components/schemas/Link`),
/// `type` (one or an array), `enum`, `const`, `properties`, `required`, `additionalProperties`,
/// `propertyNames`, `minProperties`/`maxProperties`, `items`, `minItems`/`maxItems`,
/// `minimum`/`maximum` and their exclusive forms, `minLength`/`maxLength`, `pattern`, `allOf`,
/// `anyOf`, `oneOf`, `not` and `if`/`then`/`else`. Annotations (`format`, `description`, …) are
/// ignored, as 2020-12 does by default. Any other keyword is reported as a violation rather than
/// skipped, so the document cannot come to rely on a rule this validator silently does not check.
struct JSONSchemaValidator {
    /// One way an instance fails its schema.
    struct Violation: CustomStringConvertible, Equatable {
        /// Where in the instance, e.g. `$.data[0].customer.phone`.
        let path: String
        let message: String
        var description: String { "\(path): \(message)" }
    }

    /// The document `$ref`s resolve against (the whole OpenAPI document).
    let document: JSONValue

    static let annotations: Set<String> = [
        "description", "title", "format", "examples", "example", "default", "deprecated", "readOnly", "writeOnly",
        "$comment", "contentMediaType", "contentEncoding", "externalDocs", "discriminator", "xml",
    ]

    static let assertions: Set<String> = [
        "$ref", "type", "enum", "const", "properties", "required", "additionalProperties", "propertyNames", "minProperties",
        "maxProperties", "items", "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "minLength", "maxLength", "pattern", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
    ]

    /// Validates `instance` against the component schema `#/components/schemas/<name>`.
    func validate(_ instance: JSONValue, schemaNamed name: String) -> [Violation] {
        validate(instance, against: .object(["$ref": .string("#/components/schemas/\(name)")]))
    }

    /// Every violation of `schema` by `instance`, or none.
    func validate(_ instance: JSONValue, against schema: JSONValue, at path: String = "$") -> [Violation] {
        var violations: [Violation] = []
        check(instance, schema, path, depth: 0, into: &violations)
        return violations
    }

    /// Follows a local JSON pointer (`#/a/b~1c`) into the document.
    func resolve(_ reference: String) -> JSONValue? {
        guard reference.hasPrefix("#") else { return nil }
        let pointer = reference.dropFirst()
        guard !pointer.isEmpty else { return document }
        guard pointer.hasPrefix("/") else { return nil }
        var node = document
        for token in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let key = (token.removingPercentEncoding ?? String(token))
                .replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch node {
            case .object(let object):
                guard let next = object[key] else { return nil }
                node = next
            case .array(let array):
                guard let index = Int(key), array.indices.contains(index) else { return nil }
                node = array[index]
            default:
                return nil
            }
        }
        return node
    }

    // MARK: Keywords

    private func check(_ instance: JSONValue, _ schema: JSONValue, _ path: String, depth: Int, into violations: inout [Violation]) {
        // A cycle of `$ref`s without progress would otherwise never end.
        guard depth < 64 else {
            violations.append(.init(path: path, message: "schema nesting deeper than 64 levels (a $ref cycle?)"))
            return
        }
        let keywords: [String: JSONValue]
        switch schema {
        case .bool(true): return
        case .bool(false):
            violations.append(.init(path: path, message: "no value is allowed here"))
            return
        case .object(let object): keywords = object
        default:
            violations.append(.init(path: path, message: "schema is neither an object nor a boolean: \(schema)"))
            return
        }
        for keyword in keywords.keys.sorted() where !Self.assertions.contains(keyword) && !Self.annotations.contains(keyword) {
            violations.append(.init(path: path, message: "schema uses keyword '\(keyword)', which this validator does not support"))
        }

        if case .string(let reference)? = keywords["$ref"] {
            if let target = resolve(reference) {
                check(instance, target, path, depth: depth + 1, into: &violations)
            } else {
                violations.append(.init(path: path, message: "unresolvable $ref '\(reference)'"))
            }
        }

        if let type = keywords["type"] {
            let allowed: [String]
            switch type {
            case .string(let one): allowed = [one]
            case .array(let many): allowed = many.compactMap { if case .string(let name) = $0 { name } else { nil } }
            default: allowed = []
            }
            if !allowed.contains(where: { Self.matches(instance, type: $0) }) {
                violations.append(.init(path: path, message: "expected \(allowed.joined(separator: " or ")), got \(Self.describe(instance))"))
                // The remaining keywords would only restate the type mismatch.
                return
            }
        }

        if case .array(let options)? = keywords["enum"], !options.contains(where: { Self.equal($0, instance) }) {
            violations.append(
                .init(path: path, message: "\(Self.describe(instance)) is not one of \(options.map(Self.describe).joined(separator: ", "))"))
        }
        if let constant = keywords["const"], !Self.equal(constant, instance) {
            violations.append(.init(path: path, message: "expected \(Self.describe(constant)), got \(Self.describe(instance))"))
        }

        switch instance {
        case .object(let object): checkObject(object, keywords, path, depth: depth, into: &violations)
        case .array(let array): checkArray(array, keywords, path, depth: depth, into: &violations)
        case .string(let string): checkString(string, keywords, path, into: &violations)
        case .integer, .number: checkNumber(instance, keywords, path, into: &violations)
        case .bool, .null: break
        }

        checkCombinators(instance, keywords, path, depth: depth, into: &violations)
    }

    private func checkObject(
        _ object: [String: JSONValue], _ keywords: [String: JSONValue], _ path: String, depth: Int, into violations: inout [Violation]
    ) {
        if case .array(let required)? = keywords["required"] {
            for case .string(let name) in required where object[name] == nil {
                violations.append(.init(path: path, message: "missing required property '\(name)'"))
            }
        }
        var properties: [String: JSONValue] = [:]
        if case .object(let declared)? = keywords["properties"] { properties = declared }
        for key in object.keys.sorted() {
            let childPath = Self.path(path, key: key)
            if let propertySchema = properties[key] {
                check(object[key]!, propertySchema, childPath, depth: depth + 1, into: &violations)
            } else if let additional = keywords["additionalProperties"] {
                if case .bool(false) = additional {
                    violations.append(.init(path: path, message: "unexpected property '\(key)' (additionalProperties is false)"))
                } else {
                    check(object[key]!, additional, childPath, depth: depth + 1, into: &violations)
                }
            }
            if let names = keywords["propertyNames"] {
                for violation in validate(.string(key), against: names, at: childPath) {
                    violations.append(.init(path: violation.path, message: "property name: \(violation.message)"))
                }
            }
        }
        if let minimum = keywords["minProperties"].flatMap(Self.number), Double(object.count) < minimum {
            violations.append(.init(path: path, message: "has \(object.count) properties, fewer than \(Int(minimum))"))
        }
        if let maximum = keywords["maxProperties"].flatMap(Self.number), Double(object.count) > maximum {
            violations.append(.init(path: path, message: "has \(object.count) properties, more than \(Int(maximum))"))
        }
    }

    private func checkArray(
        _ array: [JSONValue], _ keywords: [String: JSONValue], _ path: String, depth: Int, into violations: inout [Violation]
    ) {
        if let items = keywords["items"] {
            for (index, element) in array.enumerated() {
                check(element, items, "\(path)[\(index)]", depth: depth + 1, into: &violations)
            }
        }
        if let minimum = keywords["minItems"].flatMap(Self.number), Double(array.count) < minimum {
            violations.append(.init(path: path, message: "has \(array.count) items, fewer than \(Int(minimum))"))
        }
        if let maximum = keywords["maxItems"].flatMap(Self.number), Double(array.count) > maximum {
            violations.append(.init(path: path, message: "has \(array.count) items, more than \(Int(maximum))"))
        }
    }

    private func checkString(_ string: String, _ keywords: [String: JSONValue], _ path: String, into violations: inout [Violation]) {
        // JSON Schema counts code points, not grapheme clusters or UTF-16 units.
        let length = string.unicodeScalars.count
        if let minimum = keywords["minLength"].flatMap(Self.number), Double(length) < minimum {
            violations.append(.init(path: path, message: "\(Self.describe(.string(string))) is shorter than \(Int(minimum)) characters"))
        }
        if let maximum = keywords["maxLength"].flatMap(Self.number), Double(length) > maximum {
            violations.append(.init(path: path, message: "string of \(length) characters is longer than \(Int(maximum))"))
        }
        if case .string(let pattern)? = keywords["pattern"] {
            do {
                // ECMA-262 semantics: the pattern is searched for, not implicitly anchored.
                let expression = try NSRegularExpression(pattern: pattern)
                let range = NSRange(string.startIndex..., in: string)
                if expression.firstMatch(in: string, range: range) == nil {
                    violations.append(.init(path: path, message: "\(Self.describe(.string(string))) does not match /\(pattern)/"))
                }
            } catch {
                violations.append(.init(path: path, message: "schema pattern /\(pattern)/ is not a valid regular expression"))
            }
        }
    }

    private func checkNumber(_ instance: JSONValue, _ keywords: [String: JSONValue], _ path: String, into violations: inout [Violation]) {
        guard let value = Self.number(instance) else { return }
        if let minimum = keywords["minimum"].flatMap(Self.number), value < minimum {
            violations.append(.init(path: path, message: "\(Self.describe(instance)) is less than the minimum \(Self.format(minimum))"))
        }
        if let maximum = keywords["maximum"].flatMap(Self.number), value > maximum {
            violations.append(.init(path: path, message: "\(Self.describe(instance)) is greater than the maximum \(Self.format(maximum))"))
        }
        if let bound = keywords["exclusiveMinimum"].flatMap(Self.number), value <= bound {
            violations.append(.init(path: path, message: "\(Self.describe(instance)) is not greater than \(Self.format(bound))"))
        }
        if let bound = keywords["exclusiveMaximum"].flatMap(Self.number), value >= bound {
            violations.append(.init(path: path, message: "\(Self.describe(instance)) is not less than \(Self.format(bound))"))
        }
    }

    private func checkCombinators(
        _ instance: JSONValue, _ keywords: [String: JSONValue], _ path: String, depth: Int, into violations: inout [Violation]
    ) {
        func failures(_ subschema: JSONValue) -> [Violation] {
            var nested: [Violation] = []
            check(instance, subschema, path, depth: depth + 1, into: &nested)
            return nested
        }
        if case .array(let all)? = keywords["allOf"] {
            for subschema in all { violations += failures(subschema) }
        }
        if case .array(let any)? = keywords["anyOf"] {
            let results = any.map(failures)
            if !results.contains(where: \.isEmpty) {
                violations.append(.init(path: path, message: "matches none of anyOf: \(Self.summary(results))"))
            }
        }
        if case .array(let one)? = keywords["oneOf"] {
            let results = one.map(failures)
            let matching = results.filter(\.isEmpty).count
            if matching == 0 {
                violations.append(.init(path: path, message: "matches none of oneOf: \(Self.summary(results))"))
            } else if matching > 1 {
                violations.append(.init(path: path, message: "matches \(matching) of oneOf's alternatives, not exactly one"))
            }
        }
        if let not = keywords["not"], failures(not).isEmpty {
            violations.append(.init(path: path, message: "matches a schema it must not (not)"))
        }
        if let condition = keywords["if"] {
            if failures(condition).isEmpty {
                if let then = keywords["then"] { violations += failures(then) }
            } else if let otherwise = keywords["else"] {
                violations += failures(otherwise)
            }
        }
    }

    // MARK: Values

    static func matches(_ instance: JSONValue, type: String) -> Bool {
        switch (type, instance) {
        case ("null", .null), ("boolean", .bool), ("object", .object), ("array", .array), ("string", .string): true
        case ("integer", .integer), ("number", .integer), ("number", .number): true
        // 2020-12: a number with a zero fractional part is an integer.
        case ("integer", .number(let value)): value.rounded() == value
        default: false
        }
    }

    /// JSON equality: `1` equals `1.0`, object key order does not matter.
    static func equal(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.integer, .number), (.number, .integer), (.number, .number): number(lhs) == number(rhs)
        case (.array(let left), .array(let right)): left.count == right.count && zip(left, right).allSatisfy(equal)
        case (.object(let left), .object(let right)):
            left.count == right.count && left.allSatisfy { key, value in right[key].map { equal(value, $0) } ?? false }
        default: lhs == rhs
        }
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .integer(let int): Double(int)
        case .number(let double): double
        default: nil
        }
    }

    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let bool): "\(bool)"
        case .integer(let int): "\(int)"
        case .number(let double): format(double)
        case .string(let string): "\"\(string.count > 60 ? String(string.prefix(57)) + "..." : string)\""
        case .array(let array): "an array of \(array.count)"
        case .object(let object): "an object with keys [\(object.keys.sorted().joined(separator: ", "))]"
        }
    }

    static func format(_ double: Double) -> String {
        double.rounded() == double && abs(double) < 1e15 ? String(Int64(double)) : String(double)
    }

    static func path(_ parent: String, key: String) -> String {
        let plain = !key.isEmpty && key.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || CharacterSet.alphanumerics.contains($0)) }
        return plain ? "\(parent).\(key)" : "\(parent)[\"\(key)\"]"
    }

    /// The first failure of each alternative, so "matches none" says why each one did not fit.
    private static func summary(_ results: [[Violation]]) -> String {
        results.enumerated().map { index, failures in "#\(index): \(failures.first?.description ?? "ok")" }.joined(separator: "; ")
    }
}

extension JSONValue {
    /// Parses any JSON text (not only objects, unlike request bodies) for schema checks.
    static func parse(_ data: Data) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data)
    }
}
