import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

/// A minimal Server-Sent Events client over AsyncHTTPClient, for tests that need a stream the
/// way a browser or console holds one: live, cancellable (a forced disconnect), resumable.
final class SSEClient: Sendable {
    struct Message: Sendable, Equatable {
        var id: String?
        var event: String?
        var data: String
    }

    private struct State {
        var messages: [Message] = []
        var comments: [String] = []
        var status: Int?
        var finished = false
        var failure: String?
    }

    private let state = Mutex(State())
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    /// Starts reading `url` in the background.
    init(url: String, key: String, lastEventID: String? = nil, client: HTTPClient) {
        let started = Task { [self] in
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
            request.headers.add(name: "Accept", value: "text/event-stream")
            if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
            do {
                let response = try await client.execute(request, timeout: .seconds(60))
                state.withLock { $0.status = Int(response.status.code) }
                var pending = ""
                for try await buffer in response.body {
                    pending += String(buffer: buffer)
                    while let range = pending.range(of: "\n\n") {
                        let block = String(pending[..<range.lowerBound])
                        pending = String(pending[range.upperBound...])
                        parse(block)
                    }
                }
            } catch {
                state.withLock { $0.failure = "\(error)" }
            }
            state.withLock { $0.finished = true }
        }
        task.withLock { $0 = started }
    }

    private func parse(_ block: String) {
        var message = Message(data: "")
        var isMessage = false
        for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(":") {
                state.withLock { $0.comments.append(String(line.dropFirst()).trimmingCharacters(in: .whitespaces)) }
            } else if line.hasPrefix("id:") {
                message.id = line.dropFirst(3).trimmingCharacters(in: .whitespaces)
                isMessage = true
            } else if line.hasPrefix("event:") {
                message.event = line.dropFirst(6).trimmingCharacters(in: .whitespaces)
                isMessage = true
            } else if line.hasPrefix("data:") {
                message.data += line.dropFirst(5).trimmingCharacters(in: .whitespaces)
                isMessage = true
            }
        }
        if isMessage && message.event != nil { state.withLock { $0.messages.append(message) } }
    }

    var messages: [Message] { state.withLock { $0.messages } }
    var comments: [String] { state.withLock { $0.comments } }
    var isFinished: Bool { state.withLock { $0.finished } }
    var status: Int? { state.withLock { $0.status } }

    /// Ids of the messages received, as integers.
    var ids: [Int] { messages.compactMap { $0.id.flatMap(Int.init) } }

    /// Drops the connection, like a phone losing signal.
    func disconnect() {
        task.withLock { $0?.cancel() }
    }

    /// Waits (bounded) until `condition` holds; returns whether it did.
    @discardableResult
    func wait(timeout: Duration = .seconds(10), until condition: (SSEClient) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(self) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(self)
    }
}
