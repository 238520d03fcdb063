/// Read-only views of a node's state for its runtime's status page (no effect on behaviour).

extension TandemNode {
    /// On the leader: the highest log index known to be replicated on `node`; nil elsewhere.
    public func matchIndex(of node: NodeID) -> LogIndex? {
        guard role == .leader else { return nil }
        if node == id { return log.lastIndex }
        return peers[node]?.match
    }

    /// Whether a node could take a group over now, as far as this node can tell.
    public enum Readiness: Sendable, Equatable {
        /// Only the leader knows (it runs the controller).
        case unknown
        case ready
        case notReady(String)
    }

    /// By the controller's own test (health, maintenance, reachability): whether `node`
    /// could take `group` over now. `.unknown` except on the leader.
    public func readiness(of node: NodeID, for group: GroupID, now: Instant) -> Readiness {
        guard role == .leader, let config = config.group(group) else { return .unknown }
        if let problem = ineligibility(of: node, for: config, now: now, planned: true) { return .notReady(problem) }
        return .ready
    }

    /// Rule 1: whether this node leads with a quorum round younger than the lease.
    public func hasLeaderStanding(_ now: Instant) -> Bool { role == .leader && leaderStands(now) }

    /// The phase of a group this node has active: "starting", "running" or "stopping".
    public func localPhase(_ group: GroupID) -> String? {
        guard let l = local[group] else { return nil }
        switch l.phase {
        case .starting: return "starting"
        case .running: return "running"
        case .stopping: return "stopping"
        }
    }
}
