/// Everything that crosses the core's boundary: messages between nodes, log entries,
/// inputs, directives, requests and events. Plain values; `TandemWire` encodes them.

// MARK: - Log

/// One entry of the replicated log.
public struct Entry: Sendable, Equatable {
    public var term: Term
    public var index: LogIndex
    public var command: Command
    public init(term: Term, index: LogIndex, command: Command) {
        self.term = term
        self.index = index
        self.command = command
    }
}

/// Who asked for a logged request, so that the node that took the request answers it
/// once the entry is applied (on whichever node it was taken).
public struct RequestOrigin: Sendable, Hashable {
    public var node: NodeID
    /// The taking node's incarnation: request ids start again after a restart.
    public var incarnation: Incarnation
    public var id: UInt64
    public init(node: NodeID, incarnation: Incarnation = 0, id: UInt64) {
        self.node = node
        self.incarnation = incarnation
        self.id = id
    }
}

/// A fencing token carried by a KV write: the write is refused unless `epoch` is still the
/// group's current epoch (rule 6).
public struct Fence: Sendable, Hashable {
    public var group: GroupID
    public var epoch: Epoch
    public init(group: GroupID, epoch: Epoch) {
        self.group = group
        self.epoch = epoch
    }
}

/// What a node reports about itself to the controller (DESIGN §4, failure decision):
/// the result of its checks per group and whether it reaches its clients (upstream), and
/// what it runs: its software version and the configuration revision its runtime applied
/// (shown beside readiness, and alarmed on when they differ; placement ignores them, so a
/// rolling upgrade can still fail over).
public struct NodeReport: Sendable, Equatable {
    public var health: [GroupID: Bool]
    public var upstream: Bool
    /// The agent's software version ("" until the runtime says).
    public var software: String
    /// The configuration revision the node's runtime runs (0 until the runtime says).
    public var configRevision: UInt64
    public init(health: [GroupID: Bool], upstream: Bool, software: String = "", configRevision: UInt64 = 0) {
        self.health = health
        self.upstream = upstream
        self.software = software
        self.configRevision = configRevision
    }
}

/// The file a configuration revision was made from, who made it and when. Opaque to the
/// core (which replicates only `ClusterConfig`'s meaning): the runtime parses `document`
/// on every node and keeps the history for rollback.
public struct ConfigSource: Sendable, Equatable {
    /// The whole configuration file (YAML), whose `revision` is the new revision.
    public var document: String
    /// Who asked (an API token's name).
    public var author: String
    /// When, as the proposer's wall clock wrote it (ISO 8601); for people, never compared.
    public var time: String
    /// The file of the revision this one replaces, stored as that revision's record when
    /// the history has none (the first change after every node started from its own file).
    public var baseline: String?
    public init(document: String, author: String, time: String, baseline: String? = nil) {
        self.document = document
        self.author = author
        self.time = time
        self.baseline = baseline
    }
}

/// One revision in the replicated configuration history.
public struct ConfigRecord: Sendable, Equatable {
    public var revision: UInt64
    /// The log index that made it current (0 for a baseline stored later).
    public var index: LogIndex
    public var source: ConfigSource
    public init(revision: UInt64, index: LogIndex, source: ConfigSource) {
        self.revision = revision
        self.index = index
        self.source = source
    }
}

/// An operator action (DESIGN §4 "Operator actions"). Every one is a log entry, so it
/// survives failover of the controller.
public enum OperatorAction: Sendable, Equatable {
    /// Planned move of a group, to `to` or to the best ready node; zero data loss.
    case switchover(GroupID, to: NodeID?)
    /// Move a group back to its most preferred ready node.
    case failback(GroupID)
    /// Drain a node (it stays a voter) or return it to service.
    case maintenance(NodeID, on: Bool)
    /// Pause (or resume) all automatic moves.
    case freeze(on: Bool)
}

/// The commands of the replicated state machine.
public enum Command: Sendable, Equatable {
    /// The first entry of every term: names its leader (rule 4(b) reads it).
    case leader(NodeID)
    /// The controller's decision: `group` is owned by `owner` from `epoch` on (rule 4).
    case assign(group: GroupID, owner: NodeID, epoch: Epoch, reason: String)
    /// A node's report of its checks and upstream reachability.
    case report(node: NodeID, NodeReport)
    /// An operator action, answered to `origin` once applied (or once carried out).
    case action(OperatorAction, origin: RequestOrigin?)
    /// An application key-value write, refused if `fence` is stale.
    case kv(KVOperation, fence: Fence?, origin: RequestOrigin?)
    /// A pending switchover or failback ended (answered to its origin).
    case pendingEnded(group: GroupID, outcome: Outcome)
    /// A new configuration revision (validated by the proposer and by every node), with the
    /// file it was made from when it came through the API.
    case configure(ClusterConfig, source: ConfigSource?, origin: RequestOrigin?)
}

extension Command {
    /// The request this entry answers, if any.
    public var origin: RequestOrigin? {
        switch self {
        case .action(_, let origin), .kv(_, _, let origin), .configure(_, _, let origin): origin
        default: nil
        }
    }
}

/// How a pending operator request ended.
public enum Outcome: Sendable, Equatable {
    case completed(owner: NodeID, epoch: Epoch)
    case refused(Refusal)
}

// MARK: - Messages

/// A stamp: a reading of the follower's clock and its incarnation (rule 2).
public struct Stamp: Sendable, Equatable {
    public var at: Instant
    public var incarnation: Incarnation
    public init(at: Instant, incarnation: Incarnation) {
        self.at = at
        self.incarnation = incarnation
    }
}

/// A (pre-)vote request. Voters grant it only under rule 5 (not heard from a leader for ET),
/// unless `transfer` is set, and only to a candidate whose log is at least as up to date.
public struct VoteRequest: Sendable, Equatable {
    /// For a pre-vote, the term the candidate would campaign in.
    public var term: Term
    public var lastIndex: LogIndex
    public var lastTerm: Term
    /// Set only by a node told to campaign by a leadership transfer (`TimeoutNow`); voters
    /// then waive rule 5's wait, and the new leader treats the old one by rule 4(c).
    public var transfer: Bool
    /// Memberwise (public so that `TandemWire` can decode it).
    public init(term: Term, lastIndex: LogIndex, lastTerm: Term, transfer: Bool) {
        self.term = term
        self.lastIndex = lastIndex
        self.lastTerm = lastTerm
        self.transfer = transfer
    }
}

/// The answer to a (pre-)vote request; a refusal carries the voter's term.
public struct VoteReply: Sendable, Equatable {
    public var term: Term
    public var granted: Bool
    /// Memberwise (public so that `TandemWire` can decode it).
    public init(term: Term, granted: Bool) {
        self.term = term
        self.granted = granted
    }
}

/// Log replication and heartbeat in one message (Raft AppendEntries), carrying the
/// standing fields of rules 1 and 2.
public struct Append: Sendable, Equatable {
    public var term: Term
    public var prevIndex: LogIndex
    public var prevTerm: Term
    public var entries: [Entry]
    public var commit: LogIndex
    /// The leader's heartbeat round; the reply returns it (rule 1).
    public var round: UInt64
    /// The groups the leader's applied state names the recipient owner of, with epochs, and
    /// only while the latest assignment in the leader's whole log agrees (rule 2, C4, C6).
    public var owned: [GroupID: Epoch]
    /// The newest stamp received from the recipient, echoed (rule 2).
    public var echo: Stamp?
    /// Memberwise (public so that `TandemWire` can decode it).
    public init(
        term: Term, prevIndex: LogIndex, prevTerm: Term, entries: [Entry], commit: LogIndex, round: UInt64,
        owned: [GroupID: Epoch], echo: Stamp?
    ) {
        self.term = term
        self.prevIndex = prevIndex
        self.prevTerm = prevTerm
        self.entries = entries
        self.commit = commit
        self.round = round
        self.owned = owned
        self.echo = echo
    }
}

/// The answer to an `Append` or a snapshot. Any reply in the leader's term acknowledges its
/// round (rule 1), whether or not the log matched.
public struct AppendReply: Sendable, Equatable {
    public var term: Term
    public var success: Bool
    /// On success the index matched through; on failure a hint: the follower's last index
    /// or the index before a conflicting term.
    public var match: LogIndex
    public var round: UInt64
    /// Present only when the append named the follower owner of a group (rule 2).
    public var stamp: Stamp?
    public var applied: LogIndex
    /// Memberwise (public so that `TandemWire` can decode it).
    public init(term: Term, success: Bool, match: LogIndex, round: UInt64, stamp: Stamp?, applied: LogIndex) {
        self.term = term
        self.success = success
        self.match = match
        self.round = round
        self.stamp = stamp
        self.applied = applied
    }
}

/// A snapshot sent to a follower whose next entry was compacted away.
public struct SnapshotTransfer: Sendable, Equatable {
    public var term: Term
    public var snapshot: Snapshot
    public var round: UInt64
    /// Memberwise (public so that `TandemWire` can decode it).
    public init(term: Term, snapshot: Snapshot, round: UInt64) {
        self.term = term
        self.snapshot = snapshot
        self.round = round
    }
}

/// The hand-over of leadership: the target campaigns at once with `transfer` set. The old
/// leader's standing runs at most `standingLeft` more (by its clock) when it sends this.
public struct TimeoutNow: Sendable, Equatable {
    public var term: Term
    public var standingLeft: Duration
    /// Memberwise (public so that `TandemWire` can decode it).
    public init(term: Term, standingLeft: Duration) {
        self.term = term
        self.standingLeft = standingLeft
    }
}

/// Everything nodes say to each other. Messages may be lost, duplicated, delayed and
/// reordered; the core tolerates all of it. They are never forged (sealed on the wire).
public enum Message: Sendable, Equatable {
    case preVote(VoteRequest)
    case preVoteReply(VoteReply)
    case vote(VoteRequest)
    case voteReply(VoteReply)
    case append(Append)
    case appendReply(AppendReply)
    case snapshot(SnapshotTransfer)
    case timeoutNow(TimeoutNow)
    /// Owner → controller: the node deactivated `group` at `epoch` and raised its activation
    /// record, so it can never activate that epoch again (rule 4(a)).
    case released(term: Term, group: GroupID, epoch: Epoch)
    /// Owner → controller: the node activated `group` at `epoch` (ends a switchover).
    case activated(term: Term, group: GroupID, epoch: Epoch)
    /// Controller → owner: deactivate `group` at `epoch` for a planned move.
    case releaseRequest(term: Term, group: GroupID, epoch: Epoch)
    /// Node → controller: its checks and upstream reachability.
    case report(term: Term, NodeReport)
    /// Node → leader: a request taken by the node, to be logged by the leader.
    case forward(term: Term, origin: RequestOrigin, Request)
    /// Leader → node: a forwarded request that the leader could not take.
    case refused(origin: RequestOrigin, Refusal)
    /// Leader → node: the answer to a forwarded request that is not a log entry (a transfer).
    case answered(origin: RequestOrigin, Response)
    /// Node → leader: a linearizable read barrier; the leader answers with its commit index.
    case readIndex(term: Term, origin: RequestOrigin)
    case readIndexReply(term: Term, origin: RequestOrigin, index: LogIndex)

    /// The term a message carries.
    public var term: Term {
        switch self {
        case .preVote(let m), .vote(let m): m.term
        case .preVoteReply(let m), .voteReply(let m): m.term
        case .append(let m): m.term
        case .appendReply(let m): m.term
        case .snapshot(let m): m.term
        case .timeoutNow(let m): m.term
        case .released(let t, _, _), .activated(let t, _, _), .releaseRequest(let t, _, _),
            .report(let t, _), .forward(let t, _, _), .readIndex(let t, _),
            .readIndexReply(let t, _, _):
            t
        case .refused, .answered: 0
        }
    }
}

// MARK: - Requests

/// A request handed to a node by its operator or application (through the runtime).
public enum Request: Sendable, Equatable {
    case kv(KVOperation, fence: Fence?)
    case action(OperatorAction)
    case configure(ClusterConfig, source: ConfigSource?)
    /// Answer once this node has applied everything committed when the request was taken
    /// (a linearizable read can then read the local state).
    case readBarrier
    /// Hand leadership to `to` (it must be a caught-up voter).
    case transferLeadership(to: NodeID)
}

/// Why a request was not carried out. An extensible code, as in `PSQLError`.
public struct Refusal: Sendable, Equatable, CustomStringConvertible {
    /// An extensible code: compare with the `static let`s.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }
        public static let noLeader = Code("no_leader")
        public static let noQuorum = Code("no_quorum")
        public static let unknownGroup = Code("unknown_group")
        public static let unknownNode = Code("unknown_node")
        public static let targetNotReady = Code("target_not_ready")
        public static let wouldLeaveNoStandby = Code("would_leave_no_standby")
        public static let timedOut = Code("timed_out")
        public static let rolledBack = Code("rolled_back")
        public static let outcomeUnknown = Code("outcome_unknown")
        public static let invalid = Code("invalid")
        public static let busy = Code("busy")
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }
}

/// The answer to a request.
public enum Response: Sendable, Equatable {
    /// Committed (and applied on the answering node) at `index`.
    case done(index: LogIndex)
    /// A KV write committed at `index`, giving the store `revision`.
    case written(revision: UInt64, index: LogIndex)
    /// A KV write refused by the store (compare-and-set, stale epoch, bad key).
    case kvFailed(KVError)
    /// A switchover or failback carried out.
    case moved(group: GroupID, owner: NodeID, epoch: Epoch, index: LogIndex)
    /// The read barrier: this node has applied through `index`.
    case readable(index: LogIndex)
    case refused(Refusal)
}

// MARK: - Inputs and directives

/// A timer the core asks its runtime to run. At most one of each is scheduled at a time.
public enum TimerID: Sendable, Hashable {
    case election
    case heartbeat
    /// The earliest standing, lease or controller deadline.
    case deadline
}

/// One input to `TandemNode.step(_:now:)`.
public enum Input: Sendable, Equatable {
    /// The node (re)started with the persisted state it was built from.
    case start
    case message(from: NodeID, Message)
    case timer(TimerID)
    /// A group's checks changed (after rise/fall).
    case checks(group: GroupID, passing: Bool)
    /// Upstream reachability (gateway, carrier) changed.
    case upstream(reachable: Bool)
    /// The runtime finished starting a group's resources (`ok == false`: a resource failed).
    case groupStarted(group: GroupID, epoch: Epoch, ok: Bool)
    /// The runtime finished stopping a group (also when its standing guard stopped it).
    case groupStopped(group: GroupID, epoch: Epoch)
    case request(id: UInt64, Request)
    /// The runtime noticed it was stalled (event loop or timers late) for `duration`.
    case stalled(Duration)
    /// The fence hook a `.fence` directive started has ended: `ok` only when it exited 0
    /// within its timeout (the hook's promise: `node` is powered off or cut off).
    case fenced(node: NodeID, ok: Bool, detail: String)
    /// What this node runs: the agent's version and the configuration revision its runtime
    /// applied (reported to the controller with the checks).
    case running(software: String, configRevision: UInt64)
}

/// What must be made durable. The runtime MUST NOT carry out any directive that follows a
/// persist directive (in the same list, or a later one) before the persist is durable:
/// this is how "persist before acting" is expressed, and it lets the runtime batch all
/// persists of a step into one fsync (group commit).
public enum PersistOp: Sendable, Equatable {
    case hardState(term: Term, vote: NodeID?)
    /// Remove every entry at or after the first entry's index, then append these.
    case entries([Entry])
    /// Replace the log through `snapshot.index` by the snapshot; the entries after it are
    /// kept (compaction) or dropped (a snapshot installed from the leader).
    case snapshot(Snapshot, keepingLaterEntries: Bool)
    /// Rule 3's durable activation record of a group.
    case activationRecord(group: GroupID, epoch: Epoch)
    case incarnation(Incarnation)
}

/// What the runtime must do, in order (a `persist` must be durable before anything after it).
public enum Directive: Sendable, Equatable {
    case send(to: NodeID, Message)
    case persist(PersistOp)
    case schedule(TimerID, at: Instant)
    case cancel(TimerID)
    /// Start the group's resources (rule 3). The runtime MUST stop them by `until` (its own
    /// clock) unless a later `renew` extends it, even if the core is stalled.
    case activate(group: GroupID, term: Term, epoch: Epoch, until: Instant, reason: String)
    case renew(group: GroupID, epoch: Epoch, until: Instant)
    case deactivate(group: GroupID, epoch: Epoch, reason: String)
    case reply(id: UInt64, Response)
    case event(Event)
    /// Run the fence hook against `node`, the unreachable owner of `group` at `epoch` (only
    /// when the node was built with `fencing`), and report its end with `.fenced`, success or
    /// failure, within the hook's timeout.
    case fence(node: NodeID, group: GroupID, epoch: Epoch, reason: String)
}

/// Something worth telling a person: every role change with its reason and evidence.
public struct Event: Sendable, Equatable, CustomStringConvertible {
    /// An extensible kind: compare with the `static let`s.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }
        public static let campaign = Kind("campaign")
        public static let leader = Kind("leader")
        public static let steppedDown = Kind("stepped_down")
        public static let activated = Kind("activated")
        public static let deactivated = Kind("deactivated")
        public static let refused = Kind("refused")
        public static let assigned = Kind("assigned")
        public static let stalled = Kind("stalled")
        public static let transfer = Kind("leadership_transfer")
        public static let switchover = Kind("switchover")
        public static let snapshot = Kind("snapshot")
        public static let started = Kind("started")
        public static let fence = Kind("fence")
    }
    public var kind: Kind
    public var node: NodeID
    public var term: Term
    public var group: GroupID?
    public var epoch: Epoch?
    public var reason: String
    public var evidence: String
    /// Memberwise (public so that `TandemStore` can read events back).
    public init(
        kind: Kind, node: NodeID, term: Term, group: GroupID?, epoch: Epoch?, reason: String, evidence: String
    ) {
        self.kind = kind
        self.node = node
        self.term = term
        self.group = group
        self.epoch = epoch
        self.reason = reason
        self.evidence = evidence
    }
    public var description: String {
        var s = "\(node) \(kind) term=\(term)"
        if let group { s += " group=\(group)" }
        if let epoch { s += " epoch=\(epoch)" }
        s += ": \(reason)"
        if !evidence.isEmpty { s += " [\(evidence)]" }
        return s
    }
}
