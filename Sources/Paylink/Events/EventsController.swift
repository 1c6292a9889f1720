import Foundation
import HTTPTypes
import Hummingbird

/// Event polling and live streams for one link and for everything the caller may see.
struct EventsController: Sendable {
    let store: any PaylinkStore
    let stream: EventStream

    func addRoutes(to group: RouterGroup<PaylinkRequestContext>) {
        group.get("links/:id/events", use: poll)
        group.get("links/:id/events/stream", use: linkStream)
        group.get("events/stream", use: allStream)
    }

    /// `GET /v1/links/{id}/events?after=SEQ&limit=N`, oldest first.
    @Sendable func poll(_ request: Request, context: PaylinkRequestContext) async throws -> Response {
        let link = try await visibleLink(context)
        let query = try ListQuery(request.uri, allowed: ["after", "limit"])
        let after = try Self.cursor(query.value("after"), param: "after")
        let limit = try query.limit()
        let events = try await store.events(link: link.id, afterSeq: Int(after), limit: limit + 1)
        let body = try EventResource.list(events.prefix(limit), hasMore: events.count > limit)
        return LinksController.json(body, status: .ok)
    }

    /// `GET /v1/links/{id}/events/stream`: SSE ids are the link's `seq`.
    @Sendable func linkStream(_ request: Request, context: PaylinkRequestContext) async throws -> Response {
        let link = try await visibleLink(context)
        let (start, param) = try Self.resumeCursor(request)
        // A client can only hold a seq the link has reached; a later one (another link's, a
        // typo) would wait in silence until this link caught up.
        guard start <= Int64(link.lastSeq) else { throw Self.beyondNewest(param) }
        let store = self.store
        return stream.response(after: start, authorized: Self.authorization(context, store: store)) { after, limit in
            try await store.events(link: link.id, afterSeq: Int(after), limit: limit).map { (Int64($0.seq), $0) }
        }
    }

    /// `GET /v1/events/stream`: every event the caller may see; SSE ids are the store-wide cursor.
    @Sendable func allStream(_ request: Request, context: PaylinkRequestContext) async throws -> Response {
        let agent = try context.requireAgent()
        let (start, param) = try Self.resumeCursor(request)
        if start > 0 {
            // Within the caller's scope: the store-wide newest would tell an agent how busy everyone else is.
            let newest = try await store.latestEventCursor(scope: agent.scope)
            guard start <= newest else { throw Self.beyondNewest(param) }
        }
        let store = self.store
        return stream.response(after: start, authorized: Self.authorization(context, store: store)) { after, limit in
            try await store.events(afterCursor: after, scope: agent.scope, limit: limit).map { ($0.cursor, $0) }
        }
    }

    private static func authorization(_ context: PaylinkRequestContext, store: any PaylinkStore) -> EventStream.Authorization {
        let lookupID = context.apiKeyLookupID
        return { try await store.credentialStillValid(lookupID: lookupID) }
    }

    private func visibleLink(_ context: PaylinkRequestContext) async throws -> Link {
        let agent = try context.requireAgent()
        let id = try LinksController.linkID(context)
        guard let link = try await store.link(id, scope: agent.scope) else { throw APIError.resourceMissing("link", id: id.rawValue) }
        return link
    }

    /// Where a stream starts: `Last-Event-ID` (a reconnect), else `?after=`, else the beginning;
    /// with the name of the parameter it came from, for errors. An empty `Last-Event-ID` is no
    /// id (as in the EventSource standard, where an empty last event id is not sent at all), so
    /// `?after=` still applies.
    static func resumeCursor(_ request: Request) throws -> (cursor: Int64, param: String) {
        let query = try ListQuery(request.uri, allowed: ["after"])
        if let header = request.headers[.lastEventID]?.trimmingCharacters(in: CharacterSet.whitespaces), !header.isEmpty {
            return (try cursor(header, param: "Last-Event-ID"), "Last-Event-ID")
        }
        return (try cursor(query.value("after"), param: "after"), "after")
    }

    static func beyondNewest(_ param: String) -> APIError {
        APIError.invalid(param, "\(param) is after the newest event of this stream; it cannot have come from it.")
    }

    static func cursor(_ text: String?, param: String) throws(APIError) -> Int64 {
        guard let text, !text.isEmpty else { return 0 }
        guard let value = ListQuery.plainInteger(text, as: Int64.self) else {
            throw APIError.invalid(param, "\(param) must be a non-negative integer event id.")
        }
        return value
    }
}
