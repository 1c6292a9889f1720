import Foundation
import Synchronization

/// A fixed one-minute window per link for the page's progress reports, so a script in a loop
/// cannot flood the event log. In memory, per instance: with N instances a link can report up
/// to N times the limit, which still bounds the flood.
///
/// "I need help" has a window of its own: a page that used up the progress budget (a
/// customer's browser retrying, or a script) must not silence the customer's call for help.
/// Its budget is small, since the service records at most one help request per half minute.
final class ProgressRateLimiter: Sendable {
    private struct Window { var start: Int64; var count: Int }
    private struct Key: Hashable { let link: LinkID; let help: Bool }
    private let limit: Int
    private let windows = Mutex<[Key: Window]>([:])
    /// Entries are dropped once their minute is over; this caps memory between sweeps.
    private static let maxTracked = 100_000
    static let helpPerMinute = 10

    init(perMinute limit: Int) { self.limit = limit }

    /// Nil when the report may go ahead, else the seconds to wait.
    func admit(_ link: LinkID, help: Bool = false, now: Date) -> Int? {
        let second = Int64(now.timeIntervalSince1970)
        let minute = second / 60
        let key = Key(link: link, help: help)
        let limit = help ? Self.helpPerMinute : limit
        return windows.withLock { windows in
            if windows.count >= Self.maxTracked { windows = windows.filter { $0.value.start == minute } }
            var window = windows[key] ?? Window(start: minute, count: 0)
            if window.start != minute { window = Window(start: minute, count: 0) }
            guard window.count < limit else { return Int(60 - second % 60) }
            window.count += 1
            windows[key] = window
            return nil
        }
    }
}
