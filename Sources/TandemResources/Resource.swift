import Logging
import TandemConfig
import TandemCore

/// Who is acting, for what and why: handed to every resource action, check and hook, and
/// exported to every command they run (DESIGN §7, rule 6: the epoch is the fencing token).
public struct ResourceContext: Sendable, Equatable {
    public var group: GroupID
    /// "active" (starting or running), "standby" (stopped here, may run elsewhere) or
    /// "stopping" (being released).
    public var role: String
    public var epoch: Epoch
    /// This node.
    public var node: NodeID
    /// Why the action happens, in words ("switchover to b", "checks failed", "start-up sweep").
    public var reason: String

    public init(group: GroupID, role: String, epoch: Epoch, node: NodeID, reason: String) {
        self.group = group
        self.role = role
        self.epoch = epoch
        self.node = node
        self.reason = reason
    }

    /// TANDEM_GROUP, TANDEM_ROLE, TANDEM_EPOCH, TANDEM_NODE, TANDEM_REASON: added to the inherited
    /// environment of every command run for this context.
    public var environment: [String: String] {
        [
            "TANDEM_GROUP": group.name, "TANDEM_ROLE": role, "TANDEM_EPOCH": String(epoch),
            "TANDEM_NODE": node.name, "TANDEM_REASON": reason,
        ]
    }
}

/// A resource action that failed: which resource, what went wrong, and what to look at.
public struct ResourceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure; extensible.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
        /// A resource did not start (its start command failed, the address could not be added).
        public static let startFailed = Code("start failed")
        /// A resource did not stop cleanly.
        public static let stopFailed = Code("stop failed")
        /// A group's start failed and the resources already started were stopped again.
        public static let groupStartFailed = Code("group start failed")
        /// Stopping a group, one or more resources failed to stop (all were attempted).
        public static let groupStopFailed = Code("group stop failed")
    }

    public var code: Code
    /// The resource's name (``Resource/name``), or the group's for group errors.
    public var resource: String
    /// What happened, with the command's status and last output where there is one.
    public var message: String

    public init(_ code: Code, resource: String, message: String) {
        self.code = code
        self.resource = resource
        self.message = message
    }

    public var description: String { "\(resource): \(code): \(message)" }
}

/// What a resource's monitor saw.
public enum MonitorResult: Sendable, Equatable {
    case running
    /// Cleanly not running (OCF exit 7, address absent, unit inactive).
    case notRunning
    /// Broken: the reason names what failed.
    case failed(String)
}

/// One thing a group needs while it is active here: an address, a service, a process.
///
/// `start` and `stop` MUST be idempotent: starting what runs already and stopping what is not
/// running both succeed, because after a crash the agent cannot know what was left behind
/// (``GroupResources/sweep(_:)``). Implementations bound every action by a timeout.
public protocol Resource: Sendable {
    /// Says what it is, for logs and errors: "vip 10.0.0.100/24 dev eth0".
    var name: String { get }
    func start(_ context: ResourceContext) async throws(ResourceError)
    func stop(_ context: ResourceContext) async throws(ResourceError)
    func monitor(_ context: ResourceContext) async -> MonitorResult
}

/// Builds the resource a spec describes; `pidFile` is where an `exec run` records its process
/// group (see ``RunResource``).
public func makeResource(_ spec: ResourceSpec, pidFile: String? = nil, logger: Logger) -> any Resource {
    switch spec {
    case .vip(let vip):
        VIPResource(vip, logger: logger)
    case .systemd(let unit, let timeout):
        SystemdResource(unit: unit, timeout: timeout, logger: logger)
    case .exec(let exec):
        if let run = exec.run {
            RunResource(command: run, timeout: exec.timeout, pidFile: pidFile, logger: logger)
        } else {
            ScriptResource(exec, logger: logger)
        }
    }
}

/// Shortens a command line for a resource name.
func shortened(_ text: String, to length: Int = 48) -> String {
    text.count > length ? String(text.prefix(length - 3)) + "..." : text
}
