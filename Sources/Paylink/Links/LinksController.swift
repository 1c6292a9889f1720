import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/links`: decode, call `LinkService`, encode. No rules live here.
struct LinksController: Sendable {
    let links: LinkService
    /// For a cancel: an attempt waiting for 3-D Secure is canceled at the PSP first.
    let payments: PaymentService
    let store: any PaylinkStore
    let idempotency: IdempotencyGate
    let clock: any WallClock

    func addRoutes(to group: RouterGroup<PaylinkRequestContext>) {
        group.post("links", use: create)
        group.get("links", use: list)
        group.get("links/:id", use: get)
        group.post("links/:id/cancel", use: cancel)
        group.post("links/:id/extend", use: extend)
    }

    @Sendable func create(_ request: Request, context: PaylinkRequestContext) async throws -> Response {
        let agent = try context.requireAgent()
        let (bytes, body) = try await RequestBody.jsonObject(request, context: context)
        let parsed = try CreateLinkRequest(body, maxAmount: links.maxAmount)
        return try await idempotency.run(request, agent: agent, body: bytes) { claim in
            let link = try await links.create(parsed, by: agent, idempotency: claim)
            return try await respond(link, status: .created)
        }
    }

    @Sendable func get(_ request: Request, context: PaylinkRequestContext) async throws -> Response {
        let agent = try context.requireAgent()
        _ = try ListQuery(request.uri, allowed: [])
        return try await respond(try await links.link(try Self.linkID(context), for: agent), status: .ok)
    }

    @Sendable func list(_ request: Request, context: PaylinkRequestContext) async throws -> Response {
        let agent = try context.requireAgent()
        let query = try ListQuery(request.uri, allowed: [
            "limit", "starting_after", "status", "reference", "customer_email", "customer_phone",
        ])
        var linkQuery = LinkQuery(scope: agent.scope, limit: try query.limit(), now: clock.now())
        if let after = query.value("starting_after") {
            // A cursor the caller cannot see is treated like one that does not exist: no existence oracle.
            guard let id = LinkID(after), try await store.link(id, scope: agent.scope) != nil else {
                throw APIError.invalid("starting_after", code: "resource_missing", "No such link: '\(after)'.")
            }
            linkQuery.startingAfter = id
        }
        if let status = query.value("status") {
            guard let parsed = Link.Status(rawValue: status) else {
                throw APIError.invalid("status", "status must be one of open, paid, expired, cancelled.")
            }
            linkQuery.status = parsed
        }
        linkQuery.reference = try query.text("reference")
        linkQuery.customerEmail = try query.spaceless("customer_email")
        linkQuery.customerPhone = try query.spaceless("customer_phone")
        let (page, hasMore) = try await store.links(linkQuery)
        let renderer = try await links.renderer(now: linkQuery.now)
        return Self.json(try renderer.renderList(page, hasMore: hasMore), status: .ok)
    }

    @Sendable func cancel(_ request: Request, context: PaylinkRequestContext) async throws -> Response {
        let agent = try context.requireAgent()
        let id = try Self.linkID(context)
        let (bytes, body) = try await RequestBody.jsonObject(request, context: context, allowEmpty: true)
        try JSONObjectReader(body).rejectUnknownKeys(allowed: [])
        return try await idempotency.run(request, agent: agent, body: bytes) { claim in
            do {
                return try await respond(try await links.cancel(id, by: agent, idempotency: claim), status: .ok)
            } catch PaymentRefusal.paymentInProgress {
                // Every other refusal (a replay, a reused key, a link no longer open) came first;
                // the one obstacle is an attempt in progress. One waiting for 3-D Secure is
                // canceled at the PSP, then the cancel is tried again (and meets a new attempt,
                // or a customer who finished first, like any other cancel would).
                try await payments.releaseForCancel(id)
                return try await respond(try await links.cancel(id, by: agent, idempotency: claim), status: .ok)
            }
        }
    }

    @Sendable func extend(_ request: Request, context: PaylinkRequestContext) async throws -> Response {
        let agent = try context.requireAgent()
        let id = try Self.linkID(context)
        let (bytes, body) = try await RequestBody.jsonObject(request, context: context, allowEmpty: true)
        let reader = JSONObjectReader(body)
        try reader.rejectUnknownKeys(allowed: ["expires_in"])
        let seconds = try reader.integer("expires_in") ?? CreateLinkRequest.defaultExpiresIn
        try CreateLinkRequest.checkExpiresIn(seconds)
        return try await idempotency.run(request, agent: agent, body: bytes) { claim in
            try await respond(try await links.extend(id, by: seconds, agent: agent, idempotency: claim), status: .ok)
        }
    }

    private func respond(_ link: Link, status: HTTPResponse.Status) async throws -> Response {
        // Same `now` the service used (whole seconds), so the body equals any stored replay.
        let renderer = try await links.renderer(now: clock.now())
        return Self.json(try renderer.render(link), status: status)
    }

    static func linkID(_ context: PaylinkRequestContext) throws -> LinkID {
        let raw = context.parameters.get("id") ?? ""
        guard let decoded = context.decodedParameter("id"), let id = LinkID(decoded) else {
            throw APIError.resourceMissing("link", id: raw)
        }
        return id
    }

    static func json(_ body: Data, status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
