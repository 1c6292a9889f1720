import Foundation

/// A person or system acting for the merchant. Agents see their own links; supervisors and
/// admins see everyone's (SPEC §2: least privilege between agents).
public struct Agent: Sendable, Equatable, Codable {
    public enum Role: String, Sendable, Codable, CaseIterable {
        case agent, supervisor, admin

        /// Whether this role may read and act on links issued by other agents.
        public var seesAllLinks: Bool { self != .agent }
    }

    public let id: AgentID
    public var name: String
    public var role: Role
    public var disabled: Bool
    public let createdAt: Date

    public init(id: AgentID, name: String, role: Role, disabled: Bool = false, createdAt: Date) {
        self.id = id
        self.name = name
        self.role = role
        self.disabled = disabled
        self.createdAt = createdAt
    }

    /// The slice of data this agent may read: its own, or everything.
    public var scope: AgentScope { role.seesAllLinks ? .all : .own(id) }
}

/// Which links and events a caller may see; stores filter with it so no query forgets to.
public enum AgentScope: Sendable, Equatable {
    case all
    case own(AgentID)

    func permits(_ owner: AgentID) -> Bool {
        switch self {
        case .all: true
        case .own(let id): id == owner
        }
    }
}

extension Agent {
    static let nameMaxLength = 100

    /// Why `name` cannot name an agent (it is shown to supervisors and in logs), or nil: the
    /// text rules of the API's text fields, 1–100 code points.
    public static func nameProblem(_ name: String) -> String? {
        switch CreateLinkRequest.textProblem(name, max: nameMaxLength) {
        case .none: nil
        case .empty: "an agent's name must not be blank"
        case .tooLong: "an agent's name must be at most \(nameMaxLength) characters"
        case .control: "an agent's name must not contain control characters"
        }
    }
}
