/// The customer-facing words of the pages, per locale (SPEC §2: `en`, `zh-Hans`, `zh-Hant`).
/// One table per locale keyed by `Key`, so a test can prove every locale says everything; the
/// keys the page's script needs travel to it in its JSON configuration (`scriptKeys`).
struct PageStrings: Sendable {
    enum Key: String, Sendable, CaseIterable {
        // Page furniture
        case title, amountLabel, referenceLabel, descriptionLabel, expiresLabel, cardLabel, endingIn
        case numberLabel, expiryLabel, cvcLabel, nameLabel, payLabel, helpLabel, secureNote, noScript, continueLabel
        // State pages
        case invalidTitle, invalidBody, closedTitle, closedBody, unavailableTitle, unavailableBody
        case lockedTitle, lockedBody, confirmingTitle, confirmingBody, receiptTitle, receiptBody
        // Script messages: field errors, progress, outcomes
        case errNumber = "err_number", errExpiry = "err_expiry", errCVC = "err_cvc", errName = "err_name"
        case errSummary = "err_summary", timeLeft = "time_left", processing, slow, network, reenter
        case pspUnavailable = "psp_unavailable", helpSent = "help_sent", helpFailed = "help_failed"
        case declined, failed, authFailed = "auth_failed"
        case declineInsufficientFunds = "decline_insufficient_funds", declineExpiredCard = "decline_expired_card"
        case declineIncorrectCVC = "decline_incorrect_cvc", declineFraudulent = "decline_fraudulent"
        case declineFraudCheckBlocked = "decline_fraud_check_blocked"
    }

    /// What the script shows by itself; the rest is rendered on the server.
    static let scriptKeys: [Key] = [
        .errNumber, .errExpiry, .errCVC, .errName, .errSummary, .timeLeft, .processing, .slow, .network, .reenter,
        .pspUnavailable, .helpSent, .helpFailed, .declined, .failed, .authFailed, .declineInsufficientFunds,
        .declineExpiredCard, .declineIncorrectCVC, .declineFraudulent, .declineFraudCheckBlocked,
    ]

    let lang: String
    private let table: [Key: String]

    subscript(_ key: Key) -> String { table[key] ?? Self.english[key] ?? key.rawValue }

    /// Whether this locale says `key` itself rather than falling back to English.
    func has(_ key: Key) -> Bool { table[key] != nil }

    static func forLocale(_ locale: String) -> PageStrings {
        switch locale {
        case "zh-Hans": PageStrings(lang: "zh-Hans", table: simplified)
        case "zh-Hant": PageStrings(lang: "zh-Hant", table: traditional)
        default: PageStrings(lang: "en", table: english)
        }
    }

    /// The message for a declined or blocked attempt. Stripe's advice, followed here: a lost or
    /// stolen card is shown as a plain decline, so a card thief learns nothing.
    func declineMessage(_ code: String?) -> String {
        code.flatMap { Key(rawValue: "decline_" + $0) }.map { self[$0] } ?? self[.declined]
    }

    /// The message for an attempt that failed without a decline (processing error, 3-D Secure).
    func failureMessage(_ code: String?) -> String {
        code == "authentication_failed" ? self[.authFailed] : self[.failed]
    }

    private static let english: [Key: String] = [
        .title: "Payment", .amountLabel: "Amount", .referenceLabel: "Reference", .descriptionLabel: "For",
        .expiresLabel: "Valid until", .cardLabel: "Card", .endingIn: "ending in",
        .numberLabel: "Card number", .expiryLabel: "Expiry date (MM/YY)", .cvcLabel: "Security code (CVC)",
        .nameLabel: "Name on card", .payLabel: "Pay", .helpLabel: "I need help",
        .secureNote: "Your card details go straight to our payment provider. We never see or store them.",
        .noScript: "This page needs JavaScript to send your card details securely to the payment provider.",
        .continueLabel: "Continue verification with your bank",
        .invalidTitle: "Link not valid", .invalidBody: "This payment link is not valid. Please contact the agent who sent it for a new one.",
        .closedTitle: "Link no longer active",
        .closedBody: "This payment link has expired or was cancelled. Please contact the agent who sent it.",
        .unavailableTitle: "Temporarily unavailable",
        .unavailableBody: "The payment page is temporarily unavailable. Please try again in a moment.",
        .lockedTitle: "Too many attempts",
        .lockedBody: "This link is locked after too many unsuccessful payments. Please ask the agent for a new link.",
        .confirmingTitle: "Confirming your payment",
        .confirmingBody: "Confirming your payment… Please keep this page open; it updates by itself.",
        .receiptTitle: "Payment received", .receiptBody: "Thank you. You can close this page.",
        .errNumber: "Enter a valid card number.", .errExpiry: "Enter an expiry date in the future, as MM/YY.",
        .errCVC: "Enter the 3-digit security code (4 digits for American Express).", .errName: "Enter the name on the card.",
        .errSummary: "Please check the card details marked below.", .timeLeft: "Time left: %s",
        .processing: "Processing your payment…",
        .slow: "This is taking longer than usual. Please reload this page in a minute; you will not be charged twice.",
        .network: "We could not connect. Check your connection and try again. Nothing was charged.",
        .reenter: "Please enter your card details again.",
        .pspUnavailable: "The payment provider cannot be reached right now. Nothing was charged; please try again shortly.",
        .helpSent: "The agent has been told and will help you shortly.",
        .helpFailed: "We could not reach the agent. Please try again.",
        .declined: "Your card was declined. Try another card or contact your bank.",
        .failed: "The payment could not be completed. Nothing was charged; please try again.",
        .authFailed: "Your bank could not confirm the payment. Nothing was charged; please try again.",
        .declineInsufficientFunds: "Your card was declined: insufficient funds. Try another card.",
        .declineExpiredCard: "Your card has expired. Try another card.",
        .declineIncorrectCVC: "The security code was incorrect. Check it and try again.",
        .declineFraudulent: "This payment could not be accepted. Try another card, or press “I need help”.",
        .declineFraudCheckBlocked: "This payment could not be accepted. Try another card, or press “I need help”.",
    ]

    private static let simplified: [Key: String] = [
        .title: "付款", .amountLabel: "金额", .referenceLabel: "参考编号", .descriptionLabel: "用途",
        .expiresLabel: "有效期至", .cardLabel: "银行卡", .endingIn: "尾号",
        .numberLabel: "卡号", .expiryLabel: "有效期（MM/YY）", .cvcLabel: "安全码（CVC）",
        .nameLabel: "持卡人姓名", .payLabel: "支付", .helpLabel: "我需要帮助",
        .secureNote: "您的卡片信息直接发送给支付服务商，我们不会看到或保存。",
        .noScript: "此页面需要启用 JavaScript，才能将您的卡片信息安全地发送给支付服务商。",
        .continueLabel: "继续完成银行验证",
        .invalidTitle: "链接无效", .invalidBody: "此付款链接无效。请联系为您服务的客服人员获取新链接。",
        .closedTitle: "链接已失效", .closedBody: "此付款链接已过期或已取消。请联系为您服务的客服人员。",
        .unavailableTitle: "暂时无法使用", .unavailableBody: "付款页面暂时无法使用。请稍后重试。",
        .lockedTitle: "尝试次数过多", .lockedBody: "由于多次付款未成功，此链接已被锁定。请联系客服人员获取新链接。",
        .confirmingTitle: "正在确认您的付款", .confirmingBody: "正在确认您的付款…请勿关闭此页面，页面会自动更新。",
        .receiptTitle: "付款成功", .receiptBody: "谢谢。您可以关闭此页面。",
        .errNumber: "请输入有效的卡号。", .errExpiry: "请按 MM/YY 格式输入未过期的有效期。",
        .errCVC: "请输入 3 位安全码（American Express 为 4 位）。", .errName: "请输入持卡人姓名。",
        .errSummary: "请检查下方标出的卡片信息。", .timeLeft: "剩余时间：%s",
        .processing: "正在处理您的付款…", .slow: "处理时间比平时长。请稍后刷新此页面，您不会被重复扣款。",
        .network: "无法连接。请检查网络后重试。未产生任何扣款。", .reenter: "请重新输入您的卡片信息。",
        .pspUnavailable: "暂时无法连接支付服务商。未产生任何扣款，请稍后重试。",
        .helpSent: "已通知客服人员，他们会尽快为您提供帮助。", .helpFailed: "无法联系客服人员，请重试。",
        .declined: "您的银行卡被拒绝。请换一张卡或联系您的银行。", .failed: "付款未能完成，未产生任何扣款。请重试。",
        .authFailed: "您的银行未能确认此次付款，未产生任何扣款。请重试。",
        .declineInsufficientFunds: "您的银行卡余额不足。请换一张卡。", .declineExpiredCard: "您的银行卡已过期。请换一张卡。",
        .declineIncorrectCVC: "安全码不正确。请检查后重试。",
        .declineFraudulent: "此付款无法受理。请换一张卡，或点击“我需要帮助”。",
        .declineFraudCheckBlocked: "此付款无法受理。请换一张卡，或点击“我需要帮助”。",
    ]

    private static let traditional: [Key: String] = [
        .title: "付款", .amountLabel: "金額", .referenceLabel: "參考編號", .descriptionLabel: "用途",
        .expiresLabel: "有效期至", .cardLabel: "信用卡", .endingIn: "末四碼",
        .numberLabel: "卡號", .expiryLabel: "有效期（MM/YY）", .cvcLabel: "安全碼（CVC）",
        .nameLabel: "持卡人姓名", .payLabel: "支付", .helpLabel: "我需要協助",
        .secureNote: "您的卡片資料直接傳送給支付服務商，我們不會看到或保存。",
        .noScript: "此頁面需要啟用 JavaScript，才能將您的卡片資料安全地傳送給支付服務商。",
        .continueLabel: "繼續完成銀行驗證",
        .invalidTitle: "連結無效", .invalidBody: "此付款連結無效。請聯絡為您服務的客服人員取得新連結。",
        .closedTitle: "連結已失效", .closedBody: "此付款連結已過期或已取消。請聯絡為您服務的客服人員。",
        .unavailableTitle: "暫時無法使用", .unavailableBody: "付款頁面暫時無法使用。請稍後重試。",
        .lockedTitle: "嘗試次數過多", .lockedBody: "由於多次付款未成功，此連結已被鎖定。請聯絡客服人員取得新連結。",
        .confirmingTitle: "正在確認您的付款", .confirmingBody: "正在確認您的付款…請勿關閉此頁面，頁面會自動更新。",
        .receiptTitle: "付款成功", .receiptBody: "謝謝。您可以關閉此頁面。",
        .errNumber: "請輸入有效的卡號。", .errExpiry: "請按 MM/YY 格式輸入未過期的有效期。",
        .errCVC: "請輸入 3 位安全碼（American Express 為 4 位）。", .errName: "請輸入持卡人姓名。",
        .errSummary: "請檢查下方標示的卡片資料。", .timeLeft: "剩餘時間：%s",
        .processing: "正在處理您的付款…", .slow: "處理時間比平常長。請稍後重新整理此頁面，您不會被重複扣款。",
        .network: "無法連線。請檢查網路後重試。未產生任何扣款。", .reenter: "請重新輸入您的卡片資料。",
        .pspUnavailable: "暫時無法連線支付服務商。未產生任何扣款，請稍後重試。",
        .helpSent: "已通知客服人員，他們會盡快為您提供協助。", .helpFailed: "無法聯絡客服人員，請重試。",
        .declined: "您的卡片遭到拒絕。請改用其他卡片或聯絡您的銀行。", .failed: "付款未能完成，未產生任何扣款。請重試。",
        .authFailed: "您的銀行未能確認此次付款，未產生任何扣款。請重試。",
        .declineInsufficientFunds: "您的卡片餘額不足。請改用其他卡片。", .declineExpiredCard: "您的卡片已過期。請改用其他卡片。",
        .declineIncorrectCVC: "安全碼不正確。請檢查後重試。",
        .declineFraudulent: "此付款無法受理。請改用其他卡片，或點選「我需要協助」。",
        .declineFraudCheckBlocked: "此付款無法受理。請改用其他卡片，或點選「我需要協助」。",
    ]
}
