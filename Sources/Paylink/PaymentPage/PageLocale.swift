import Foundation

/// Which of the page's locales to speak. A link's pages speak the link's locale, whatever the
/// browser asks (SPEC §3: "in the link's locale"): the agent chose it with the customer on the
/// line, and a phone set to English is no sign its owner wants to pay in English. Pages that
/// belong to no link (not valid, unavailable) have only the browser to go by: RFC 9110
/// §12.5.4 `Accept-Language`, with region tags mapped to script: zh-CN / zh-SG → zh-Hans,
/// zh-TW / zh-HK / zh-MO → zh-Hant; English when it asks for nothing we have.
enum PageLocale {
    static let supported = ["en", "zh-Hans", "zh-Hant"]

    /// The locale of `link`'s pages.
    static func of(_ link: Link) -> String {
        supported.contains(link.locale) ? link.locale : "en"
    }

    /// `linkLocale` nil for pages that belong to no link (not valid, unavailable).
    static func negotiate(acceptLanguage: String?, linkLocale: String?) -> String {
        let fallback = linkLocale.flatMap { supported.contains($0) ? $0 : nil } ?? "en"
        guard let acceptLanguage else { return fallback }
        var ranges: [(tag: String, q: Double, order: Int)] = []
        for (order, item) in acceptLanguage.split(separator: ",").prefix(32).enumerated() {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = parts.first, !tag.isEmpty else { continue }
            var q = 1.0
            for parameter in parts.dropFirst() where parameter.lowercased().hasPrefix("q=") {
                q = Double(parameter.dropFirst(2)) ?? 0
            }
            if q > 0 { ranges.append((tag.lowercased(), q, order)) }
        }
        ranges.sort { $0.q != $1.q ? $0.q > $1.q : $0.order < $1.order }
        for range in ranges {
            if let locale = match(range.tag, fallback: fallback) { return locale }
        }
        return fallback
    }

    /// The locale a single language range asks for, if we have it.
    static func match(_ tag: String, fallback: String) -> String? {
        let subtags = tag.split(separator: "-").map(String.init)
        switch subtags.first {
        case "en": return "en"
        case "zh":
            let rest = Set(subtags.dropFirst())
            if !rest.isDisjoint(with: ["hans", "cn", "sg", "my"]) { return "zh-Hans" }
            if !rest.isDisjoint(with: ["hant", "tw", "hk", "mo"]) { return "zh-Hant" }
            // Plain `zh` says Chinese, not which script: keep the link's if it is Chinese.
            return fallback.hasPrefix("zh-") ? fallback : "zh-Hans"
        default: return nil
        }
    }
}
