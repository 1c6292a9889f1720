/// Event types of the customer's page and the payment (SPEC §4).
extension EventType {
    public static let linkOpened = EventType(rawValue: "link.opened")
    public static let cardEntryStarted = EventType(rawValue: "payment.card_entry_started")
    public static let cardFieldCompleted = EventType(rawValue: "payment.card_field_completed")
    public static let cardEntryCompleted = EventType(rawValue: "payment.card_entry_completed")
    public static let customerNeedsHelp = EventType(rawValue: "link.customer_needs_help")
    public static let linkStalled = EventType(rawValue: "link.stalled")
    public static let linkLocked = EventType(rawValue: "link.locked")
    public static let paymentSubmitted = EventType(rawValue: "payment.submitted")
    public static let paymentFraudCheck = EventType(rawValue: "payment.fraud_check")
    public static let paymentAuthenticationRequired = EventType(rawValue: "payment.authentication_required")
    public static let paymentSucceeded = EventType(rawValue: "payment.succeeded")
    public static let paymentDeclined = EventType(rawValue: "payment.declined")
    public static let paymentFailed = EventType(rawValue: "payment.failed")
}
