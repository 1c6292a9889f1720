import Foundation
import Synchronization

/// A fixed one-minute window per link for the page's progress reports, so a script in a loop
/// cannot flood the event log. In memory, per instance: with N instances a link can report up
/// to N times the limit, which still bounds the flood.
final class ProgressRateLimiter: Sendable {
    private struct Window { var start: Int64; var count: Int }
    private let limit: Int
    private let windows = Mutex<[LinkID: Window]>([:])
    /// Entries are dropped once their minute is over; this caps memory between sweeps.
    private static let maxTracked = 100_000

    init(perMinute limit: Int) { self.limit = limit }

    /// Nil when the report may go ahead, else the seconds to wait.
    func admit(_ link: LinkID, now: Date) -> Int? {
        let second = Int64(now.timeIntervalSince1970)
        let minute = second / 60
        return windows.withLock { windows in
            if windows.count >= Self.maxTracked { windows = windows.filter { $0.value.start == minute } }
            var window = windows[link] ?? Window(start: minute, count: 0)
            if window.start != minute { window = Window(start: minute, count: 0) }
            guard window.count < limit else { return Int(60 - second % 60) }
            window.count += 1
            windows[link] = window
            return nil
        }
    }
}
