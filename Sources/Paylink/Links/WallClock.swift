import Foundation

/// Where "now" comes from. Injected so tests can move time (expiry across a restart) without sleeping.
public protocol WallClock: Sendable {
    func now() -> Date
}

/// The machine's clock, truncated to whole seconds: every stored time and every RFC 3339 string
/// Paylink gives out has second precision, so what a client reads is exactly what is compared.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Date { Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down)) }
}
