import Synchronization

/// Opens once `PaylinkRuntime.prepare()` has migrated the database. Background services that
/// read tables (the expiry sweeper, the payment watcher) start with the server's service group,
/// before `beforeServerStarts` has migrated: on a first start against an empty PostgreSQL the
/// sweeper ran before the tables existed and logged the missing table (42P01) as an outage.
/// They wait here instead.
public final class StartupGate: Sendable {
    private let opened = Atomic<Bool>(false)

    public init() {}

    func open() { opened.store(true, ordering: .releasing) }

    var isOpen: Bool { opened.load(ordering: .acquiring) }

    /// Returns once open; throws `CancellationError` if the service group stops first (a start
    /// whose migration failed never opens it).
    func wait() async throws {
        while !isOpen { try await Task.sleep(for: .milliseconds(20)) }
    }
}
