import TandemCore
import TandemStore

/// What `GET /v1/status` and `tandem status` show: enough to see roles, epochs, links and
/// readiness (issue 5 widens it). Plain Codable values; times are milliseconds.
public struct AgentStatus: Codable, Sendable, Equatable {
    public struct NodeRow: Codable, Sendable, Equatable {
        public var id: String
        public var kind: String
        /// "leader", "follower", … for this node; for others what this node knows of them.
        public var role: String?
        public var maintenance: Bool
        public var upstream: Bool
        /// Per group: the health the node last reported.
        public var health: [String: Bool]
        /// Links over which this node hears the peer now (1-based), for peers.
        public var linksUp: [Int]?
        /// Log index the node is known to have matched (on the leader), for readiness.
        public var match: UInt64?
        /// On the leader: how many log entries the node is behind (replication lag).
        public var lagEntries: UInt64?
        /// The software version and the configuration revision the node last reported
        /// running (nil before its first report).
        public var software: String?
        public var configRevision: UInt64?
    }

    public struct GroupRow: Codable, Sendable, Equatable {
        public var id: String
        public var owner: String?
        public var epoch: UInt64
        public var reason: String
        /// Whether this node has the group active (its resources running), and since when
        /// (milliseconds ago).
        public var activeHere: Bool
        public var phase: String?
        /// Nodes that could take the group over now, and why the others could not.
        public var readyStandbys: [String]
        public var notReady: [String: String]
        /// Ready standbys that do not match the owner: another software version, or another
        /// configuration revision than the cluster's (they can take over; look before they do).
        public var mismatched: [String: String]
        public var pending: String?
        /// When this node learned that the present owner took the group at the present epoch
        /// (wall clock, ms; nil: not since this agent started), and the log index of that move.
        public var ownerSinceWallMilliseconds: Int64?
        public var ownerSinceIndex: UInt64
        /// The newest drill that passed for this group: its id and when it ended (wall ms).
        public var lastProvenDrill: String?
        public var lastProvenWallMilliseconds: Int64?
    }

    public struct LinkRow: Codable, Sendable, Equatable {
        public var peer: String
        public var link: Int
        public var up: Bool
        public var rttMilliseconds: Double?
        public var loss: Double
        public var lastSeenMillisecondsAgo: Double?
        public var stream: Bool
    }

    public struct EventRow: Codable, Sendable, Equatable {
        public var id: Int64
        public var wallMilliseconds: Int64
        public var kind: String
        public var node: String
        public var term: UInt64
        public var group: String?
        public var epoch: UInt64?
        public var reason: String
        public var evidence: String

        public init(_ stored: StoredEvent) {
            id = stored.id
            wallMilliseconds = stored.wallTime
            kind = stored.event.kind.name
            node = stored.event.node.name
            term = stored.event.term
            group = stored.event.group?.name
            epoch = stored.event.epoch
            reason = stored.event.reason
            evidence = stored.event.evidence
        }
    }

    public var cluster: String
    public var node: String
    /// This node's software version.
    public var version: String
    public var role: String
    public var term: UInt64
    public var leader: String?
    /// On the leader: a quorum acknowledged a round within the lease. Elsewhere: a leader
    /// is known (this node hears one).
    public var quorum: Bool
    public var configRevision: UInt64
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    public var lastLogIndex: UInt64
    public var incarnation: UInt64
    public var timing: String
    public var frozen: Bool
    public var kvRevision: UInt64
    public var kvDigest: String
    public var nodes: [NodeRow]
    public var groups: [GroupRow]
    public var links: [LinkRow]
    /// Rejected packets by reason (forged, duplicate, foreign cluster, …).
    public var rejected: [String: Int]
    public var stalls: Int
    public var longestStallMilliseconds: Double
    public var events: [EventRow]
    public var uptimeSeconds: Double
    /// Changes of a group's owner this node decided as controller since the agent started,
    /// by group and kind of reason (failover, switchover, failback, released, initial,
    /// rollback, other).
    public var ownerChanges: [OwnerChangeCount]
    /// Alarms open on this node (the leader raises the cluster-wide ones: no ready standby,
    /// group down, replication lag).
    public var alarms: [Alarm]

    public struct OwnerChangeCount: Codable, Sendable, Equatable {
        public var group: String
        public var reason: String
        public var count: Int
    }
}
