import Foundation

/// The API's Event object: `{id, object, seq, type, link_id, created_at, data}` (SPEC §4),
/// written by hand in sorted key order (the bytes `APIJSON.encoder` would write; tested).
struct EventResource {
    let event: Event

    func write(to writer: inout JSONWriter) throws {
        try writer.object { writer in
            writer.key("created_at")
            writer.string(RFC3339.string(event.createdAt))
            writer.key("data")
            try writer.object(event.data)
            writer.key("id")
            writer.string(event.id.rawValue)
            writer.key("link_id")
            writer.string(event.linkID.rawValue)
            writer.key("object")
            writer.string("event")
            writer.key("seq")
            writer.integer(Int64(event.seq))
            writer.key("type")
            writer.string(event.type.rawValue)
        }
    }

    /// `{"data": [...], "has_more": bool, "object": "list"}` of events.
    static func list(_ events: some Sequence<Event>, hasMore: Bool) throws -> Data {
        var writer = JSONWriter()
        try writer.list(events, hasMore: hasMore) { writer, event in try EventResource(event: event).write(to: &writer) }
        return writer.data
    }

    /// One Server-Sent Events message: `id`, `event`, one `data` line (JSON has no raw newlines).
    static func sseMessage(_ event: Event, id: String) throws -> String {
        var writer = JSONWriter(capacity: 512)
        try EventResource(event: event).write(to: &writer)
        return "id: \(id)\nevent: \(event.type.rawValue)\ndata: \(String(decoding: writer.bytes, as: UTF8.self))\n\n"
    }
}
