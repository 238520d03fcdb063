/// The cluster configuration: what every node reads from the same file, and the rules that
/// make a configuration acceptable. `ClusterConfig.validate()` checks every rule, including
/// the timing inequality of rule 5 (docs/PROTOCOL.md), and reports all problems at once.

// MARK: - Cluster

/// The whole cluster's configuration (one identical file on every node).
///
/// A value that passes `validate()` guarantees: a well-formed cluster name, revision ≥ 1,
/// a timing that satisfies rule 5 (docs/PROTOCOL.md), unique well-formed node and group ids,
/// at least one voter and at least one node of kind `.node`, prefer lists that name only
/// existing non-witness nodes (each once), anti-affinity lists that name only other existing
/// groups, and enough capacity to place every group whose candidates all have a capacity.
/// The core relies on these guarantees and does not check them again.
public struct ClusterConfig: Sendable, Equatable {
    /// The cluster's name: non-empty, only `[a-z0-9._-]`.
    public var name: String
    /// The configuration revision, at least 1; a node refuses a configuration older than its own.
    public var revision: UInt64
    /// The timing of leases, heartbeats and elections; it must satisfy rule 5 (docs/PROTOCOL.md).
    public var timing: Timing
    /// The nodes, in configuration order (the order breaks ties everywhere).
    public var nodes: [NodeConfig]
    /// The service groups, in configuration order.
    public var groups: [GroupConfig]
    /// How many applied entries beyond the last snapshot trigger compaction; at least 1.
    public var snapshotThreshold: Int

    public init(
        name: String, revision: UInt64 = 1, timing: Timing = .balanced,
        nodes: [NodeConfig], groups: [GroupConfig], snapshotThreshold: Int = 1000
    ) {
        self.name = name
        self.revision = revision
        self.timing = timing
        self.nodes = nodes
        self.groups = groups
        self.snapshotThreshold = snapshotThreshold
    }

    /// The node with this id (the first one, should the configuration repeat it).
    public func node(_ id: NodeID) -> NodeConfig? {
        nodes.first { $0.id == id }
    }

    /// The nodes that may own `group`, in placement order: its prefer list, or when that is
    /// empty every node of kind `.node` by priority (highest first), then by name.
    public func candidates(for group: GroupConfig) -> [NodeID] {
        if !group.prefer.isEmpty { return group.prefer }
        return nodes.filter { $0.kind == .node }
            .sorted { $0.priority != $1.priority ? $0.priority > $1.priority : $0.id < $1.id }
            .map(\.id)
    }

    /// The group with this id (the first one, should the configuration repeat it).
    public func group(_ id: GroupID) -> GroupConfig? {
        groups.first { $0.id == id }
    }

    /// The voters (nodes of kind `.node` or `.witness`), in configuration order.
    public var voters: [NodeID] {
        nodes.filter { $0.kind != .learner }.map(\.id)
    }

    /// The learners (nodes of kind `.learner`), in configuration order. They replicate the
    /// log but never vote.
    public var learners: [NodeID] {
        nodes.filter { $0.kind == .learner }.map(\.id)
    }

    /// The size of a voter majority: `voters.count / 2 + 1`.
    public var quorum: Int {
        voters.count / 2 + 1
    }

    /// Checks every rule, collects all problems, and throws them together as one
    /// `ConfigError`; returns normally when there are none.
    public func validate() throws(ConfigError) {
        let found = problems()
        if !found.isEmpty {
            throw ConfigError(problems: found)
        }
    }

    /// Every problem of this configuration, in a stable order: cluster, timing, nodes, groups.
    func problems() -> [ConfigProblem] {
        var out: [ConfigProblem] = []
        if name.isEmpty {
            out.append(ConfigProblem(
                key: "cluster", message: "the cluster name is empty; give the cluster a name made of [a-z0-9._-]"))
        } else if !isValidIdentifier(name) {
            out.append(ConfigProblem(
                key: "cluster",
                message: "the cluster name \"\(name)\" may contain only a-z, 0-9, '.', '_' and '-'; rename it"))
        }
        if revision < 1 {
            out.append(ConfigProblem(
                key: "revision", message: "revision must be at least 1, got 0; start at 1 and raise it with every change"))
        }
        if snapshotThreshold < 1 {
            out.append(ConfigProblem(
                key: "snapshot_threshold",
                message: "snapshot threshold must be at least 1, got \(snapshotThreshold); use the default 1000 or another positive count"))
        }
        out += timing.problems(keyPrefix: "timing")
        out += nodeProblems()
        out += groupProblems()
        return out
    }

    private func nodeKey(_ node: NodeConfig, at index: Int) -> String {
        node.id.name.isEmpty ? "nodes[\(index)]" : "nodes.\(node.id.name)"
    }

    private func groupKey(_ group: GroupConfig, at index: Int) -> String {
        group.id.name.isEmpty ? "groups[\(index)]" : "groups.\(group.id.name)"
    }

    private func nodeProblems() -> [ConfigProblem] {
        var out: [ConfigProblem] = []
        if nodes.isEmpty {
            out.append(ConfigProblem(
                key: "nodes", message: "no nodes are configured; add at least one node of kind node"))
            return out
        }
        var seen: Set<String> = []
        var reportedDuplicates: Set<String> = []
        for (index, node) in nodes.enumerated() {
            let key = nodeKey(node, at: index)
            out += idProblems("node", node.id.name, key: key, seen: &seen, reported: &reportedDuplicates)
            if !(0...1000).contains(node.priority) {
                out.append(ConfigProblem(
                    key: "\(key).priority",
                    message: "priority must be in 0...1000, got \(node.priority); higher means preferred, use a value in that range"))
            }
            if !(1...8).contains(node.links) {
                out.append(ConfigProblem(
                    key: "\(key).links",
                    message: "links must be in 1...8, got \(node.links); give the number of network links between the nodes"))
            }
            if let capacity = node.capacity {
                if node.kind == .witness {
                    out.append(ConfigProblem(
                        key: "\(key).capacity",
                        message: "a witness never owns a group, so it cannot have a capacity; remove capacity from this node"))
                } else if capacity < 1 {
                    out.append(ConfigProblem(
                        key: "\(key).capacity",
                        message: "capacity must be at least 1, got \(capacity); raise it, or remove it for no limit"))
                }
            }
        }
        if voters.isEmpty {
            out.append(ConfigProblem(
                key: "nodes",
                message: "no voters: every node is a learner, so no voter majority is possible; make at least one node of kind node or witness"))
        }
        if !nodes.contains(where: { $0.kind == .node }) {
            out.append(ConfigProblem(
                key: "nodes",
                message: "no node of kind node: witnesses and learners never own groups automatically; make at least one node of kind node"))
        }
        return out
    }

    /// The longest node or group id: node ids travel in the clear header of every sealed packet.
    public static let maxIdentifierBytes = 64

    /// The problems of one node or group id: empty, characters outside [a-z0-9._-], or a
    /// repeat of an earlier id (reported once, at its second appearance).
    private func idProblems(
        _ kind: String, _ name: String, key: String, seen: inout Set<String>, reported: inout Set<String>
    ) -> [ConfigProblem] {
        var out: [ConfigProblem] = []
        if name.isEmpty {
            out.append(ConfigProblem(key: key, message: "\(kind) id is empty; give the \(kind) a name made of [a-z0-9._-]"))
        } else if !isValidIdentifier(name) {
            out.append(ConfigProblem(
                key: key, message: "\(kind) id \"\(name)\" may contain only a-z, 0-9, '.', '_' and '-'; rename it"))
        } else if name.utf8.count > Self.maxIdentifierBytes {
            out.append(ConfigProblem(
                key: key, message: "\(kind) id \"\(name)\" is \(name.utf8.count) characters long; use at most \(Self.maxIdentifierBytes) (ids travel in every sealed packet)"))
        }
        if !seen.insert(name).inserted, reported.insert(name).inserted {
            out.append(ConfigProblem(key: key, message: "duplicate \(kind) id; every \(kind) needs its own id, rename or remove the repeated one"))
        }
        return out
    }

    private func groupProblems() -> [ConfigProblem] {
        var out: [ConfigProblem] = []
        let groupIDs = Set(groups.map(\.id))
        var seen: Set<String> = []
        var reportedDuplicates: Set<String> = []
        for (index, group) in groups.enumerated() {
            let key = groupKey(group, at: index)
            out += idProblems("group", group.id.name, key: key, seen: &seen, reported: &reportedDuplicates)
            var preferred: Set<NodeID> = []
            for (position, id) in group.prefer.enumerated() {
                let entryKey = "\(key).prefer[\(position)]"
                guard let target = node(id) else {
                    out.append(ConfigProblem(
                        key: entryKey, message: "unknown node \"\(id.name)\"; list only nodes defined under nodes"))
                    continue
                }
                if !preferred.insert(id).inserted {
                    out.append(ConfigProblem(
                        key: entryKey, message: "node \"\(id.name)\" is listed twice; list each node once"))
                }
                if target.kind == .witness {
                    out.append(ConfigProblem(
                        key: entryKey,
                        message: "\"\(id.name)\" is a witness and a witness never owns a group; remove it from prefer"))
                }
            }
            if case .auto(let holdDown) = group.failback, holdDown <= .zero {
                out.append(ConfigProblem(
                    key: "\(key).failback",
                    message: "automatic failback needs a hold-down longer than zero, got \(ConfigFormat.compactMilliseconds(holdDown)); give a positive hold-down or use manual failback"))
            }
            var avoided: Set<GroupID> = []
            for (position, other) in group.antiAffinity.enumerated() {
                let entryKey = "\(key).anti_affinity[\(position)]"
                if other == group.id {
                    out.append(ConfigProblem(
                        key: entryKey, message: "a group cannot be anti-affine to itself; remove \"\(other.name)\""))
                } else if !groupIDs.contains(other) {
                    out.append(ConfigProblem(
                        key: entryKey, message: "unknown group \"\(other.name)\"; list only groups defined under groups"))
                } else if !avoided.insert(other).inserted {
                    out.append(ConfigProblem(
                        key: entryKey, message: "group \"\(other.name)\" is listed twice; list each group once"))
                }
            }
        }
        if let problem = capacityProblem() {
            out.append(problem)
        }
        return out
    }

    /// The groups whose prefer lists name only nodes with a capacity can be placed only within
    /// those capacities; counting only nodes of kind `.node` (learners are placed by an
    /// operator, witnesses never), their sum must cover the number of such groups.
    private func capacityProblem() -> ConfigProblem? {
        var bounded: [GroupID] = []
        var used: Set<NodeID> = []
        for group in groups where !group.prefer.isEmpty {
            let targets = group.prefer.map { node($0) }
            guard targets.allSatisfy({ $0?.capacity != nil }) else { continue }
            bounded.append(group.id)
            for case let target? in targets where target.kind == .node {
                used.insert(target.id)
            }
        }
        guard !bounded.isEmpty else { return nil }
        let total = nodes
            .filter { $0.kind == .node && used.contains($0.id) }
            .reduce(0) { sum, node in sum + max(0, node.capacity ?? 0) }
        guard total < bounded.count else { return nil }
        let names = bounded.map(\.name).joined(separator: ", ")
        return ConfigProblem(
            key: "groups",
            message: "not every group can be placed: \(bounded.count) groups (\(names)) prefer only nodes with a capacity, but those nodes' capacities add up to \(total); raise a capacity or add a node without capacity to a prefer list")
    }
}

// MARK: - Timing

/// The timing of one cluster: heartbeat, election timeout (ET), lease (L), margin and the
/// clock-rate bound ρ.
///
/// A timing accepted by `problems(keyPrefix:)` satisfies the inequality of rule 5
/// (docs/PROTOCOL.md), `L/(1−ρ) + margin ≤ ET/(1+ρ)`: a leader's standing has ended, on every
/// clock, before any voter may grant a vote for its successor. The controller's waits W1 and W2
/// (rule 4) are always derived from it, never configured.
public struct Timing: Sendable, Equatable {
    /// "fast", "balanced" or "wan" for a named profile; nil when the values were given explicitly.
    public var profile: String?
    /// How often the leader sends heartbeats.
    public var heartbeat: Duration
    /// How long a voter must not have heard from a leader before it votes or campaigns (rule 5).
    public var electionTimeout: Duration
    /// How long a standing lasts after the event it rests on, by the holder's clock (rules 1, 2).
    public var lease: Duration
    /// Real time reserved for processing and for stopping resources before a deadline.
    public var margin: Duration
    /// The clock-rate bound ρ: every monotonic clock runs within [1−ρ, 1+ρ] of real time.
    public var rho: Double

    public init(
        heartbeat: Duration, electionTimeout: Duration, lease: Duration, margin: Duration,
        rho: Double = 0.01, profile: String? = nil
    ) {
        self.profile = profile
        self.heartbeat = heartbeat
        self.electionTimeout = electionTimeout
        self.lease = lease
        self.margin = margin
        self.rho = rho
    }

    /// 10 ms heartbeat, 60 ms election timeout, 45 ms lease, 5 ms margin: one LAN, quick failover.
    public static let fast = Timing(
        heartbeat: .milliseconds(10), electionTimeout: .milliseconds(60), lease: .milliseconds(45),
        margin: .milliseconds(5), profile: "fast")
    /// 50 ms heartbeat, 300 ms election timeout, 240 ms lease, 20 ms margin: the default.
    public static let balanced = Timing(
        heartbeat: .milliseconds(50), electionTimeout: .milliseconds(300), lease: .milliseconds(240),
        margin: .milliseconds(20), profile: "balanced")
    /// 250 ms heartbeat, 2500 ms election timeout, 2000 ms lease, 100 ms margin: across sites.
    public static let wan = Timing(
        heartbeat: .milliseconds(250), electionTimeout: .milliseconds(2500), lease: .milliseconds(2000),
        margin: .milliseconds(100), profile: "wan")

    /// The names of the profiles, in the order of `named(_:)`.
    public static let profileNames = ["fast", "balanced", "wan"]

    /// The profile with this name, or nil for an unknown name.
    public static func named(_ profile: String) -> Timing? {
        switch profile {
        case "fast": return .fast
        case "balanced": return .balanced
        case "wan": return .wan
        default: return nil
        }
    }

    /// W1 = (1+ρ)·(L/(1−ρ) + margin), rounded up to the nanosecond: how long the controller
    /// waits after its last echo to an owner before it may move the group away (rule 4).
    public var echoWait: Duration {
        let l = nanosecondsAsDouble(lease), m = nanosecondsAsDouble(margin)
        return durationFromNanoseconds((1 + rho) * (l / (1 - rho) + m), roundingUp: true)
    }

    /// W2 = max(0, 2·L·(1+ρ)/(1−ρ) − ET + margin·(1+ρ)), rounded up to the nanosecond: how long
    /// the controller waits after taking office (rule 4).
    public var officeWait: Duration {
        let l = nanosecondsAsDouble(lease), m = nanosecondsAsDouble(margin)
        let et = nanosecondsAsDouble(electionTimeout)
        let w2 = 2 * l * (1 + rho) / (1 - rho) - et + m * (1 + rho)
        return durationFromNanoseconds(w2 > 0 ? w2 : 0, roundingUp: true)
    }

    /// ET/(1+ρ) − L/(1−ρ) − margin, rounded down to the nanosecond: the slack in the rule 5
    /// inequality (docs/PROTOCOL.md); negative when rule 5 is violated.
    public var rule5Slack: Duration {
        durationFromNanoseconds(rule5SlackNanoseconds, roundingUp: false)
    }

    private var rule5SlackNanoseconds: Double {
        let l = nanosecondsAsDouble(lease), m = nanosecondsAsDouble(margin)
        let et = nanosecondsAsDouble(electionTimeout)
        return et / (1 + rho) - l / (1 - rho) - m
    }

    /// Every problem of this timing; keys are `"\(keyPrefix).heartbeat"` and so on.
    func problems(keyPrefix: String) -> [ConfigProblem] {
        var out: [ConfigProblem] = []
        func add(_ field: String, _ message: String) {
            out.append(ConfigProblem(key: "\(keyPrefix).\(field)", message: message))
        }
        let hb = ConfigFormat.compactMilliseconds(heartbeat)
        let et = ConfigFormat.compactMilliseconds(electionTimeout)
        let l = ConfigFormat.compactMilliseconds(lease)
        let m = ConfigFormat.compactMilliseconds(margin)

        if let profile, Timing.named(profile) == nil {
            add("profile", "unknown timing profile \"\(profile)\"; use fast, balanced or wan, or give the values explicitly")
        }
        let positive = electionTimeout > .zero && lease > .zero && margin > .zero
        if heartbeat <= .zero {
            add("heartbeat", "heartbeat must be longer than zero, got \(hb); use a profile (fast, balanced, wan) or a positive heartbeat")
        }
        if electionTimeout <= .zero {
            add("election_timeout", "election timeout must be longer than zero, got \(et); use several heartbeats")
        }
        if lease <= .zero {
            add("lease", "lease must be longer than zero, got \(l); use at least two heartbeats")
        }
        if margin <= .zero {
            add("margin", "margin must be longer than zero, got \(m); reserve time to stop resources before a deadline")
        }
        if heartbeat > .zero, electionTimeout > .zero, heartbeat >= electionTimeout {
            add("election_timeout", "election timeout \(et) must be longer than heartbeat \(hb); raise the election timeout to several heartbeats")
        }
        if heartbeat > .zero, lease > .zero, lease < heartbeat * 2 {
            add("lease", "lease \(l) is shorter than two heartbeats (\(ConfigFormat.compactMilliseconds(heartbeat * 2))), so one lost heartbeat would cost standing; lengthen the lease or shorten the heartbeat")
        }
        if margin > .zero, lease > .zero, margin >= lease {
            add("margin", "margin \(m) must be shorter than lease \(l); shorten the margin")
        }
        let rhoValid = rho >= 0 && rho < 0.1  // false for NaN too
        if !rhoValid {
            add("rho", "clock-rate bound ρ must be in [0, 0.1), got \(rho); use the default 0.01 unless the clocks are known to be better")
        }
        if positive && rhoValid && rule5SlackNanoseconds < 0 {
            let etN = nanosecondsAsDouble(electionTimeout), lN = nanosecondsAsDouble(lease)
            let mN = nanosecondsAsDouble(margin)
            let leaseFactor = lN / (1 - rho)
            let etFactor = etN / (1 + rho)
            var message = "lease \(l) is too long for election timeout \(et): rule 5 needs lease/(1−ρ) + margin ≤ election_timeout/(1+ρ), that is \(ConfigFormat.tenthMilliseconds(leaseFactor)) + \(m) ≤ \(ConfigFormat.tenthMilliseconds(etFactor))"
            let maxLease = (etFactor - mN) * (1 - rho)
            let minET = (leaseFactor + mN) * (1 + rho)
            if maxLease > 0 {
                message += "; shorten the lease to at most \(ConfigFormat.tenthMilliseconds(maxLease, rounding: .down)) or lengthen the election timeout to at least \(ConfigFormat.tenthMilliseconds(minET, rounding: .up))"
            } else {
                message += "; lengthen the election timeout to at least \(ConfigFormat.tenthMilliseconds(minET, rounding: .up)) or shorten the margin"
            }
            add("lease", message)
        }
        return out
    }
}

// MARK: - Nodes and groups

/// One node of the cluster. A valid node has a unique `[a-z0-9._-]` id, priority in 0...1000,
/// 1...8 links, and a capacity of at least 1 when it has one; a witness has no capacity and is
/// never in a prefer list, since a witness never owns a group.
public struct NodeConfig: Sendable, Equatable {
    /// What a node does in the cluster.
    public enum Kind: String, Sendable, Equatable {
        /// A voter that may own groups.
        case node
        /// A voter that never owns a group (the tie-breaker of a pair).
        case witness
        /// A non-voting replica; it owns a group only when an operator places one there.
        case learner
    }

    /// The node's id, unique in the cluster.
    public var id: NodeID
    /// What the node does; default `.node`.
    public var kind: Kind
    /// Higher is preferred (for elections and placement ties); 0...1000, default 0.
    public var priority: Int
    /// The site the node is in, if given.
    public var site: String?
    /// The most groups it may own at once; nil means unbounded; at least 1; never on a witness.
    public var capacity: Int?
    /// The number of network links to the other nodes, 1...8; default 1.
    public var links: Int

    public init(
        _ id: NodeID, kind: Kind = .node, priority: Int = 0, site: String? = nil,
        capacity: Int? = nil, links: Int = 1
    ) {
        self.id = id
        self.kind = kind
        self.priority = priority
        self.site = site
        self.capacity = capacity
        self.links = links
    }
}

/// One service group: the unit that fails over. A valid group has a unique `[a-z0-9._-]` id,
/// a prefer list of distinct existing non-witness nodes (empty: every node by priority), a positive hold-down when
/// failback is automatic, and anti-affinity only with other existing groups.
public struct GroupConfig: Sendable, Equatable {
    /// What happens when the preferred owner returns after a failover.
    public enum Failback: Sendable, Equatable {
        /// The group stays where it is until an operator moves it.
        case manual
        /// The group moves back once the preferred node has been healthy for `holdDown` (> 0).
        case auto(holdDown: Duration)
    }

    /// The group's id, unique in the cluster.
    public var id: GroupID
    /// The nodes that may own the group, in preference order; the first is the preferred owner.
    /// Empty means every node of kind `.node`, by priority (highest first), then by name.
    public var prefer: [NodeID]
    /// What happens when a more preferred node returns; default `.manual`.
    public var failback: Failback
    /// Groups that must not share an owner with this one; default none.
    public var antiAffinity: [GroupID]

    public init(_ id: GroupID, prefer: [NodeID], failback: Failback = .manual, antiAffinity: [GroupID] = []) {
        self.id = id
        self.prefer = prefer
        self.failback = failback
        self.antiAffinity = antiAffinity
    }
}

// MARK: - Errors

/// One thing wrong with a configuration: the key path of the offending setting (such as
/// `timing.lease`, `nodes.b.priority`, `groups.pbx.prefer[1]`) and a message that says what is
/// wrong and what to do about it.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    /// The key path in the configuration file.
    public var key: String
    /// What is wrong and what to do.
    public var message: String

    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }

    /// `"key: message"`.
    public var description: String { "\(key): \(message)" }
}

/// A configuration that was refused: every problem `ClusterConfig.validate()` found, never
/// empty, in a stable order.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The problems, at least one.
    public var problems: [ConfigProblem]

    public init(problems: [ConfigProblem]) {
        self.problems = problems
    }

    /// The problems' keys, for quick checks.
    public var keys: [String] { problems.map(\.key) }

    /// One problem per line.
    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}

// MARK: - Helpers

/// Whether `text` is non-empty and made only of `[a-z0-9._-]`.
fileprivate func isValidIdentifier(_ text: String) -> Bool {
    !text.isEmpty && text.utf8.allSatisfy { byte in
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }
}

/// A duration in nanoseconds, as a Double, without the wrapping of `Duration.nanoseconds`.
fileprivate func nanosecondsAsDouble(_ duration: Duration) -> Double {
    Double(duration.attoseconds) / 1e9
}

/// A nanosecond count, rounded up or down to a whole nanosecond and clamped to Int64.
fileprivate func durationFromNanoseconds(_ value: Double, roundingUp: Bool) -> Duration {
    if value.isNaN { return .zero }
    let rounded = roundingUp ? value.rounded(.up) : value.rounded(.down)
    if rounded >= 9.2e18 { return .nanoseconds(Int64.max) }
    if rounded <= -9.2e18 { return .nanoseconds(Int64.min) }
    return .nanoseconds(Int64(rounded))
}

/// Millisecond formatting for configuration messages (no Foundation).
enum ConfigFormat {
    /// "280ms", "1.5ms", "0.25ms": a duration in milliseconds without trailing zeros
    /// (truncated to the nanosecond).
    static func compactMilliseconds(_ duration: Duration) -> String {
        let nanoseconds = duration.attoseconds / 1_000_000_000
        let magnitude = nanoseconds.magnitude
        let whole = magnitude / 1_000_000
        var fraction = String(magnitude % 1_000_000)
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        let sign = nanoseconds < 0 ? "-" : ""
        return fraction.isEmpty ? "\(sign)\(whole)ms" : "\(sign)\(whole).\(fraction)ms"
    }

    /// "282.8ms": a nanosecond count in milliseconds with one decimal, rounded as asked
    /// (to the nearest by default).
    static func tenthMilliseconds(
        _ nanoseconds: Double, rounding: FloatingPointRoundingRule = .toNearestOrAwayFromZero
    ) -> String {
        guard nanoseconds.isFinite else { return "\(nanoseconds)ms" }
        let tenths = (nanoseconds / 100_000).rounded(rounding)
        guard tenths.magnitude < 9e18 else { return "\(nanoseconds / 1e6)ms" }
        let count = Int64(tenths)
        let sign = count < 0 ? "-" : ""
        let magnitude = count.magnitude
        return "\(sign)\(magnitude / 10).\(magnitude % 10)ms"
    }
}
