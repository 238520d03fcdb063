/// One node's core: Raft among the voters, the replicated state, the controller (on the
/// leader), standing and activation (docs/PROTOCOL.md rules 1–6). Pure: it performs no
/// I/O, reads no clock and draws randomness only from the seed it is given. Every input
/// comes through `step(_:now:)`, which returns what the runtime must do, in order.

/// It guarantees, given a runtime that honours the directive contract: at most one node has a
/// group active at any instant (rules 1–4), epochs only increase and each is activated at
/// most once (rules 3 and 6), committed entries are never lost (Raft).
public struct TandemNode: Sendable {
    /// The node's part in consensus now.
    public enum Role: String, Sendable {
        case follower, preCandidate = "pre-candidate", candidate, leader, learner
    }

    /// Timing in nanoseconds of this node's clock, derived once from the configuration.
    struct Clocking: Sendable {
        var heartbeat: Int64
        var electionTimeout: Int64
        var lease: Int64
        var margin: Int64
        var echoWait: Int64  // W1
        var officeWait: Int64  // W2
        var rho: Double
        /// A peer not heard from for this long is not echoed any more (its standing may lapse).
        var echoSilence: Int64
        /// A planned move (switchover, failback, drain) is abandoned after this long.
        var switchoverTimeout: Int64
        init(_ t: Timing) {
            heartbeat = t.heartbeat.nanoseconds
            electionTimeout = t.electionTimeout.nanoseconds
            lease = t.lease.nanoseconds
            margin = t.margin.nanoseconds
            echoWait = t.echoWait.nanoseconds
            officeWait = t.officeWait.nanoseconds
            rho = t.rho
            echoSilence = heartbeat * 5 / 2
            switchoverTimeout = max(10 * electionTimeout + echoWait, 2_000_000_000)
        }
    }

    struct Peer: Sendable {
        var next: LogIndex
        var match: LogIndex = 0
        var inflight = 0
        var ackedRound: UInt64 = 0
        var lastAck: Instant
        /// Whether the peer acknowledged anything in this term.
        var acked = false
        /// The round in which the peer last got an immediate (out-of-round) append.
        var immediateRound: UInt64 = 0
        /// When replication to the peer last made progress (or was started from idle).
        var lastProgress: Instant = .zero
        /// The last append to this owner carried no echo because it had been silent.
        var echoWithheld = false
        /// When the newest stamp arrived, and when the stamp last echoed had arrived.
        var stampReceivedAt: Instant?
        var echoedStampReceivedAt: Instant?
        var stamp: Stamp?
        var applied: LogIndex = 0
        var lastSnapshotSent: Instant?
    }

    enum Phase: Sendable { case starting, running, stopping }

    /// A group this node has activated (resources started or starting) and not yet stopped.
    struct Local: Sendable {
        var epoch: Epoch
        var term: Term
        var until: Instant
        var phase: Phase
    }

    // MARK: Identity and configuration
    public let id: NodeID
    public internal(set) var config: ClusterConfig
    var timing: Clocking
    var isVoter: Bool
    var members: Members

    /// The configuration's membership, looked up on every message: computed once.
    struct Members: Sendable {
        var voters: [NodeID]
        var others: [NodeID]
        var quorum: Int
        var node: [NodeID: NodeConfig]
        init(_ config: ClusterConfig, selfID: NodeID) {
            voters = config.voters
            others = config.nodes.map(\.id).filter { $0 != selfID }
            quorum = config.quorum
            node = Dictionary(config.nodes.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    // MARK: Persistent state (restored by the runtime)
    public internal(set) var term: Term
    public internal(set) var votedFor: NodeID?
    var log: RaftLog
    public internal(set) var activationRecords: [GroupID: Epoch]
    /// Epochs whose activation record is already durable although this node has not yet
    /// activated or refused them (written with the log entry that assigns the group to this
    /// node, so that activating costs no fsync of its own). In memory only: after a restart
    /// the loaded record includes them, so a prepared epoch then counts as used.
    var preparedRecords: [GroupID: Epoch] = [:]
    public internal(set) var incarnation: Incarnation

    // MARK: Volatile state
    public internal(set) var role: Role
    public internal(set) var leader: NodeID?
    public internal(set) var commitIndex: LogIndex
    /// The applied replicated state (membership, groups, nodes, KV).
    public internal(set) var state: ReplicatedState
    var rng: SplitMix64
    var started = false
    /// Rule 5: when this node last heard from a leader (or led, voted, or started).
    var lastHeard: Instant = .zero
    var electionDeadline: Instant = .zero
    var scheduled: [TimerID: Instant] = [:]
    var votes: Set<NodeID> = []
    var campaignStart: Instant = .zero
    var campaignIsTransfer = false
    var transferFrom: (node: NodeID, until: Instant)?

    // Leader state.
    var peers: [NodeID: Peer] = [:]
    var round: UInt64 = 0
    var roundTimes: [Instant] = []
    var firstRound: UInt64 = 1
    /// Rule 1: send time of the newest round acknowledged by a quorum. Kept after stepping
    /// down (standing is never extended, only no longer renewed).
    var quorumRound: Instant?
    var tookOffice: Instant = .zero
    var noopIndex: LogIndex = 0
    var lastEchoSent: [NodeID: [GroupID: (epoch: Epoch, at: Instant)]] = [:]
    var releasedTo: [GroupID: Epoch] = [:]
    var activatedAt: [GroupID: Epoch] = [:]
    var proposedAt: [GroupID: LogIndex] = [:]
    var proposedReports: [NodeID: NodeReport] = [:]
    var pendingSeen: [GroupID: Instant] = [:]
    var eligibleSince: [GroupID: [NodeID: Instant]] = [:]
    var releaseAsked: [GroupID: Instant] = [:]
    var controllerWake: Instant?
    var unpersistedFrom: LogIndex?
    var leaderReads: [(origin: RequestOrigin, after: LogIndex)] = []
    var downReported: Set<GroupID> = []
    /// Leader: fence hooks started against unreachable owners (rule 4(f)).
    var fences: [NodeID: FenceRun] = [:]
    /// Whether the runtime runs a fence hook (`.fence` directives); set at construction.
    public let fencing: Bool
    /// Leader: the latest assignment of every group in its whole log, committed or not.
    /// Heartbeats name a node owner of (G, e) only while this says so (C6): no echo may
    /// follow a reassignment decision that this leader may still commit, whoever made it,
    /// or W1 would not bound the old owner's standing.
    var logOwners: [GroupID: (owner: NodeID, epoch: Epoch)] = [:]
    /// Leader: groups whose latest assignment was inherited from an earlier leader's log,
    /// held until the instant given (C11).
    var inheritedHold: [GroupID: Instant] = [:]
    /// Forwarded requests already taken (links deliver duplicates).
    var takenOrigins: Set<RequestOrigin> = []
    var takenOrder: [RequestOrigin] = []
    /// A transfer this node handed over: resent until the target leads or `until`.
    var transferOut: (target: NodeID, message: TimeoutNow, until: Instant)?

    // Follower standing (rule 2): per group, the epoch and the end of the standing.
    var echoStanding: [GroupID: (epoch: Epoch, until: Instant)] = [:]
    var local: [GroupID: Local] = [:]
    var health: [GroupID: Bool] = [:]
    var upstream = true
    /// What the runtime said it runs (`.running`), reported with the checks.
    var software = ""
    var runningRevision: UInt64 = 0
    var lastReportSent: Instant?
    var stalledUntil: Instant = .zero

    // Requests taken by this node and not yet answered.
    var pendingRequests: Set<UInt64> = []
    /// Requests forwarded to the leader and not yet answered: resent every two heartbeat
    /// intervals (the leader takes each origin once), failed when the leader changes.
    /// Requests forwarded to the leader and not answered yet: when last sent, and how often.
    var forwarded: [UInt64: (request: Request, sentAt: Instant, sends: Int)] = [:]
    var waitingReads: [(id: UInt64, index: LogIndex)] = []

    var lastSnapshot: Snapshot?
    var commitAdvanced = false
    /// Deliberately broken variants, for showing that the simulator's checks bite. Reachable
    /// only through `@_spi(Mutants) import TandemCore` (the simulator and its tests).
    @_spi(Mutants) public var mutants = Mutants()
    var out: [Directive] = []

    /// Builds a node from its configuration and what it persisted; `seed` feeds the only
    /// randomness (election jitter). Hand it `.start` before anything else.
    /// `fencing`: the runtime has a fence hook and carries out `.fence` directives.
    public init(id: NodeID, config: ClusterConfig, persisted: PersistentState, seed: UInt64, fencing: Bool = false) {
        self.fencing = fencing
        self.id = id
        self.term = persisted.term
        self.votedFor = persisted.vote
        self.log = RaftLog(snapshot: persisted.snapshot, entries: persisted.entries)
        self.activationRecords = persisted.activationRecords
        self.incarnation = persisted.incarnation
        let applied = persisted.snapshot?.state ?? ReplicatedState(config: config)
        self.state = applied
        self.config = applied.config.revision >= config.revision ? applied.config : config
        self.commitIndex = persisted.snapshot?.index ?? 0
        self.lastSnapshot = persisted.snapshot
        self.timing = Clocking(self.config.timing)
        self.members = Members(self.config, selfID: id)
        let kind = self.members.node[id]?.kind ?? .learner
        self.isVoter = kind != .learner
        self.role = isVoter ? .follower : .learner
        self.rng = SplitMix64(seed: seed)
        for group in self.config.groups { health[group.id] = true }
    }

    @_spi(Mutants) public struct Mutants: Sendable {
        /// Removes rule 4's wait: the controller reassigns as soon as it decides to.
        public var skipStandingWait = false
        public init() {}
    }

    // MARK: - Read-only views

    public var lastLogIndex: LogIndex { log.lastIndex }
    public var appliedIndex: LogIndex { state.applied }
    /// The log entry at `index`, if it is still in the log (not compacted).
    public func entry(at index: LogIndex) -> Entry? { log.entry(at: index) }
    public func logTerm(at index: LogIndex) -> Term? { log.term(at: index) }
    public var snapshotIndex: LogIndex { log.snapshotIndex }
    /// The groups this node has active (starting, running or stopping), with epochs.
    public var activeGroups: [GroupID: Epoch] { local.mapValues(\.epoch) }
    /// The end of this node's standing for `group` at `epoch` (rules 1 and 2), if any.
    public func standingEnd(_ group: GroupID, epoch: Epoch) -> Instant? { standing(for: group, epoch: epoch) }

    // MARK: - The one entry point

    /// Feeds one input at `now` (this node's monotonic clock) and returns the directives to
    /// carry out, in order (see `PersistOp` for the ordering contract).
    public mutating func step(_ input: Input, now: Instant) -> [Directive] {
        out.removeAll(keepingCapacity: true)
        if !started, input != .start { return [] }
        switch input {
        case .start:
            guard !started else { break }
            start(now)
        case .message(let from, let message):
            receive(message, from: from, now: now)
        case .timer(let timer):
            fire(timer, now: now)
        case .checks(let group, let passing):
            guard health[group] != nil, health[group] != passing else { break }
            health[group] = passing
            sendReport(now)
        case .upstream(let reachable):
            guard upstream != reachable else { break }
            upstream = reachable
            sendReport(now)
        case .running(let software, let configRevision):
            guard self.software != software || runningRevision != configRevision else { break }
            self.software = software
            runningRevision = configRevision
            sendReport(now)
        case .groupStarted(let group, let epoch, let ok):
            groupStarted(group, epoch: epoch, ok: ok, now: now)
        case .groupStopped(let group, let epoch):
            groupStopped(group, epoch: epoch, now: now)
        case .request(let requestID, let request):
            take(request, id: requestID, now: now)
        case .stalled(let duration):
            noticeStall(duration, now: now)
        case .fenced(let node, let ok, let detail):
            fenceEnded(node, ok: ok, detail: detail, now: now)
        }
        afterStep(now)
        return out
    }

    mutating func start(_ now: Instant) {
        started = true
        incarnation += 1
        emit(.persist(.incarnation(incarnation)))
        // Rule 5 (C2): a restarted voter cannot know whom it heard from before; it waits ET.
        lastHeard = now
        event(.started, reason: "started with term \(term), log through \(log.lastIndex), incarnation \(incarnation)", now: now)
        resetElectionTimer(now)
    }

    /// Everything that follows any input: apply what is committed, keep rule 1, carry out
    /// rule 3 for every group, run the controller, flush proposals, set the deadline timer.
    mutating func afterStep(_ now: Instant) {
        if role == .leader, !leaderStands(now) {
            stepDown(now, reason: "lost leader standing (rule 1)",
                     evidence: "no round acknowledged by a quorum since \(quorumRound.map(\.description) ?? "-"), lease \(formatMilliseconds(timing.lease))")
        }
        applyCommitted(now)
        evaluateGroups(now)
        if role == .leader, commitAdvanced {
            // Tell every follower at once: a new owner learns of its epoch a round earlier.
            for node in others { sendAppend(to: node, now: now, heartbeat: true) }
        }
        commitAdvanced = false
        if role == .leader { runController(now) }
        flushProposals(now)
        answerReads()
        resendForwarded(now)
        resendReport(now)
        if commitIndex > state.applied {
            // Committed by this step's own proposals (a single voter): apply now.
            applyCommitted(now)
            evaluateGroups(now)
        }
        scheduleDeadline(now)
    }

    // MARK: - Helpers shared by the parts

    mutating func emit(_ directive: Directive) { out.append(directive) }

    mutating func send(_ message: Message, to node: NodeID) {
        guard node != id else { return }
        out.append(.send(to: node, message))
    }

    mutating func event(
        _ kind: Event.Kind, group: GroupID? = nil, epoch: Epoch? = nil, reason: String, evidence: String = "",
        now: Instant
    ) {
        out.append(.event(Event(kind: kind, node: id, term: term, group: group, epoch: epoch, reason: reason, evidence: evidence)))
    }

    mutating func schedule(_ timer: TimerID, at instant: Instant) {
        guard scheduled[timer] != instant else { return }
        scheduled[timer] = instant
        out.append(.schedule(timer, at: instant))
    }

    mutating func cancel(_ timer: TimerID) {
        guard scheduled.removeValue(forKey: timer) != nil else { return }
        out.append(.cancel(timer))
    }

    mutating func fire(_ timer: TimerID, now: Instant) {
        guard let due = scheduled[timer], now >= due else { return }
        scheduled[timer] = nil
        // A timer far later than asked means this node was stalled (DESIGN §4): it does not
        // accuse anyone for one timeout.
        if (now - due).nanoseconds > timing.lease / 2 { noticeStall(now - due, now: now) }
        switch timer {
        case .election: electionTimeout(now)
        case .heartbeat: heartbeatTimer(now)
        case .deadline: break  // afterStep re-evaluates every deadline
        }
    }

    mutating func noticeStall(_ duration: Duration, now: Instant) {
        // The runtime's tick and a late timer of the core's both see one stall: one event.
        let alreadyExempt = stalledUntil > now
        if !alreadyExempt {
            event(.stalled, reason: "this node was stalled for \(formatMilliseconds(duration.nanoseconds)); it accuses no one for one election timeout",
                  evidence: "timers late by more than lease/2 = \(formatMilliseconds(timing.lease / 2))", now: now)
        }
        stalledUntil = now + .nanoseconds(timing.electionTimeout)
        lastHeard = max(lastHeard, now)
        if role != .leader { resetElectionTimer(now) }
        for peerID in peers.keys { peers[peerID]!.lastAck = max(peers[peerID]!.lastAck, now) }
    }

    var quorum: Int { members.quorum }

    func isVoterNode(_ node: NodeID) -> Bool {
        guard let kind = members.node[node]?.kind else { return false }
        return kind != .learner
    }

    /// Replication targets: every other node (voters and learners).
    var others: [NodeID] { members.others }
}
