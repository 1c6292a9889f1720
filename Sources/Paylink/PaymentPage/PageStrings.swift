/// The customer-facing words of the pages, per locale (SPEC §2: `en`, `zh-Hans`, `zh-Hant`).
struct PageStrings: Sendable {
    let lang: String
    let title: String
    let amountLabel: String
    let referenceLabel: String
    let expiresLabel: String
    let comingSoon: String
    let invalidTitle: String
    let invalidBody: String
    let closedTitle: String
    let closedBody: String
    let unavailableTitle: String
    let unavailableBody: String

    static func forLocale(_ locale: String) -> PageStrings {
        switch locale {
        case "zh-Hans":
            PageStrings(
                lang: "zh-Hans", title: "付款", amountLabel: "金额", referenceLabel: "参考编号", expiresLabel: "有效期至",
                comingSoon: "付款表单即将推出。", invalidTitle: "链接无效", invalidBody: "此付款链接无效。请联系为您服务的客服人员获取新链接。",
                closedTitle: "链接已失效", closedBody: "此付款链接已过期或已取消。请联系为您服务的客服人员。",
                unavailableTitle: "暂时无法使用", unavailableBody: "付款页面暂时无法使用。请稍后重试。")
        case "zh-Hant":
            PageStrings(
                lang: "zh-Hant", title: "付款", amountLabel: "金額", referenceLabel: "參考編號", expiresLabel: "有效期至",
                comingSoon: "付款表單即將推出。", invalidTitle: "連結無效", invalidBody: "此付款連結無效。請聯絡為您服務的客服人員取得新連結。",
                closedTitle: "連結已失效", closedBody: "此付款連結已過期或已取消。請聯絡為您服務的客服人員。",
                unavailableTitle: "暫時無法使用", unavailableBody: "付款頁面暫時無法使用。請稍後重試。")
        default:
            PageStrings(
                lang: "en", title: "Payment", amountLabel: "Amount", referenceLabel: "Reference", expiresLabel: "Valid until",
                comingSoon: "The card form is coming soon.", invalidTitle: "Link not valid",
                invalidBody: "This payment link is not valid. Please contact the agent who sent it for a new one.",
                closedTitle: "Link no longer active",
                closedBody: "This payment link has expired or was cancelled. Please contact the agent who sent it.",
                unavailableTitle: "Temporarily unavailable",
                unavailableBody: "The payment page is temporarily unavailable. Please try again in a moment.")
        }
    }
}
