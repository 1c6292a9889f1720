import Foundation

/// The API's Event object: `{id, object, seq, type, link_id, created_at, data}` (SPEC §4).
struct EventResource: Encodable {
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

    /// One Server-Sent Events message: `id`, `event`, one `data` line (JSON has no raw newlines).
    static func sseMessage(_ event: Event, id: String) throws -> String {
        let json = String(decoding: try APIJSON.encoder.encode(EventResource(event: event)), as: UTF8.self)
        return "id: \(id)\nevent: \(event.type.rawValue)\ndata: \(json)\n\n"
    }
}
