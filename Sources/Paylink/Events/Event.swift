import Foundation

/// One change to a link, stored in the same transaction as the change itself (SPEC §4).
///
/// `seq` counts 1, 2, 3… per link with no gaps; `cursor` is the store-wide order used by
/// `/v1/events/stream`, so a reconnecting console resumes across all links at once.
public struct Event: Sendable, Equatable {
    public let id: EventID
    public let linkID: LinkID
    public let agentID: AgentID
    public let seq: Int
    public let cursor: Int64
    public let type: EventType
    public let createdAt: Date
    /// The event's own facts; never card data beyond brand and last four.
    public let data: [String: JSONValue]
}

/// An event about to be appended; the store gives it its id, `seq` and cursor.
public struct EventDraft: Sendable, Equatable {
    public let type: EventType
    public let data: [String: JSONValue]
    public let createdAt: Date

    public init(_ type: EventType, at createdAt: Date, data: [String: JSONValue] = [:]) {
        self.type = type
        self.data = data
        self.createdAt = createdAt
    }
}

/// Event type names from SPEC §4. A struct rather than an enum so later areas (payments,
/// deliveries) add theirs beside their own code.
public struct EventType: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let linkCreated = EventType(rawValue: "link.created")
    public static let linkExtended = EventType(rawValue: "link.extended")
    public static let linkCancelled = EventType(rawValue: "link.cancelled")
    public static let linkExpired = EventType(rawValue: "link.expired")
}
