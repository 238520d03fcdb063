import Testing
@testable import TandemCore

// A tiny hand-wired harness for the core's unit tests: a few `TandemNode`s, one shared
// manual clock, a FIFO of messages delivered instantly (or dropped by a filter), the timers
// each node asked for, and each node's disk (`PersistentState`). It never runs the runtime's
// side of activation (`groupStarted`, `groupStopped`): tests feed those by hand when needed.

/// The instant every test starts from (1 s on the clocks, so that `.zero` stays special).
let T0 = Instant(nanoseconds: 1_000_000_000)

/// `Timing.fast` in nanoseconds, for the arithmetic of the tests.
enum Fast {
    static let heartbeat = Duration.milliseconds(10)
    static let et = Duration.milliseconds(60)
    static let lease = Duration.milliseconds(45)
    static let margin = Duration.milliseconds(5)
    static let echoWait = Timing.fast.echoWait  // W1, 51.0 ms
    static let officeWait = Timing.fast.officeWait  // W2, 36.9 ms
}

/// Nodes a, b (kind `.node`) and witness w; group "g" preferring `prefer`.
func pairConfig(
    prefer: [NodeID] = ["a", "b"], groups extra: [GroupConfig] = [], learner: Bool = false,
    snapshotThreshold: Int = 1000
) -> ClusterConfig {
    var nodes = [NodeConfig("a"), NodeConfig("b"), NodeConfig("w", kind: .witness)]
    if learner { nodes.append(NodeConfig("l", kind: .learner)) }
    return ClusterConfig(
        name: "unit", timing: .fast, nodes: nodes,
        groups: [GroupConfig("g", prefer: prefer)] + extra, snapshotThreshold: snapshotThreshold)
}

/// One voter, a, owning group "g".
func singleConfig(failback: GroupConfig.Failback = .manual, revision: UInt64 = 1) -> ClusterConfig {
    ClusterConfig(
        name: "solo", revision: revision, timing: .fast, nodes: [NodeConfig("a")],
        groups: [GroupConfig("g", prefer: ["a"], failback: failback)])
}

struct Link: Hashable {
    var from: NodeID
    var to: NodeID
}

/// One step of one node: what went in and what came out.
struct Record {
    var node: NodeID
    var at: Instant
    var input: Input
    var directives: [Directive]
}

final class Cluster {
    var nodes: [NodeID: TandemNode] = [:]
    var disks: [NodeID: PersistentState] = [:]
    var timers: [NodeID: [TimerID: Instant]] = [:]
    var queue: [(from: NodeID, to: NodeID, message: Message)] = []
    /// Messages for which this returns true are dropped (at send and at delivery).
    var drop: (NodeID, NodeID, Message) -> Bool = { _, _, _ in false }
    var now: Instant
    var records: [Record] = []

    init(
        _ config: ClusterConfig, ids: [NodeID]? = nil, persisted: [NodeID: PersistentState] = [:], now: Instant = T0,
        fencing: Set<NodeID> = []
    ) {
        self.now = now
        for (offset, id) in (ids ?? config.nodes.map(\.id)).enumerated() {
            let disk = persisted[id] ?? PersistentState()
            disks[id] = disk
            nodes[id] = TandemNode(id: id, config: config, persisted: disk, seed: UInt64(offset + 1) * 7919, fencing: fencing.contains(id))
            timers[id] = [:]
        }
    }

    subscript(id: NodeID) -> TandemNode { nodes[id]! }

    /// Feeds one input to one node at `now`; records timers, disk writes and sends.
    @discardableResult
    func step(_ id: NodeID, _ input: Input) -> [Directive] {
        var node = nodes[id]!
        let out = node.step(input, now: now)
        nodes[id] = node
        for directive in out {
            switch directive {
            case .persist(let op): disks[id]!.apply(op)
            case .schedule(let timer, let at): timers[id]![timer] = at
            case .cancel(let timer): timers[id]![timer] = nil
            case .send(let to, let message):
                if nodes[to] != nil, !drop(id, to, message) { queue.append((id, to, message)) }
            default: break
            }
        }
        records.append(Record(node: id, at: now, input: input, directives: out))
        return out
    }

    func startAll() {
        for id in nodes.keys.sorted() { step(id, .start) }
    }

    /// Delivers queued messages, in order, until none is left (all at `now`).
    func deliverAll(sourceLocation: SourceLocation = #_sourceLocation) {
        var budget = 100_000
        while !queue.isEmpty {
            budget -= 1
            if budget == 0 {
                Issue.record("messages keep flowing at \(now)", sourceLocation: sourceLocation)
                return
            }
            let m = queue.removeFirst()
            if drop(m.from, m.to, m.message) { continue }
            step(m.to, .message(from: m.from, m.message))
        }
    }

    /// Delivers queued messages one at a time while `condition` holds.
    func deliver(while condition: () -> Bool) {
        while condition(), !queue.isEmpty {
            let m = queue.removeFirst()
            if drop(m.from, m.to, m.message) { continue }
            step(m.to, .message(from: m.from, m.message))
        }
    }

    /// Fires one node's timer at its due time (or now, if later), then delivers everything.
    func fire(_ id: NodeID, _ timer: TimerID) {
        guard let due = timers[id]![timer] else {
            Issue.record("\(id) has no \(timer) timer")
            return
        }
        now = max(now, due)
        timers[id]![timer] = nil
        step(id, .timer(timer))
        deliverAll()
    }

    /// Runs every timer due up to and including `target`, earliest first, delivering all
    /// messages after each; stops early when `stop` says so. Leaves `now` at `target`
    /// (or at the instant it stopped).
    func advance(to target: Instant, stop: () -> Bool = { false }) {
        var budget = 1_000_000
        deliverAll()
        while budget > 0 {
            budget -= 1
            var next: (at: Instant, node: NodeID, timer: TimerID)?
            for id in nodes.keys.sorted() {
                for timer in [TimerID.election, .heartbeat, .deadline] {
                    guard let at = timers[id]![timer], at <= target else { continue }
                    if next == nil || at < next!.at { next = (at, id, timer) }
                }
            }
            guard let next else { break }
            now = max(now, next.at)
            timers[next.node]![next.timer] = nil
            step(next.node, .timer(next.timer))
            deliverAll()
            if stop() { return }
        }
        if budget == 0 { Issue.record("timers keep firing before \(target)") }
        now = max(now, target)
    }

    func advance(by duration: Duration) { advance(to: now + duration) }

    /// Cuts `id` off from every other node (both directions).
    func isolate(_ id: NodeID) {
        drop = { from, to, _ in from == id || to == id }
    }

    func heal() { drop = { _, _, _ in false } }

    /// Starts every node and elects `a` (its election timer is the earliest: rank 0).
    /// Returns the instant of the election (every message is delivered at once).
    @discardableResult
    func electA(sourceLocation: SourceLocation = #_sourceLocation) -> Instant {
        startAll()
        fire("a", .election)
        #expect(self["a"].role == .leader, sourceLocation: sourceLocation)
        return now
    }

    /// Every directive a node emitted, with the instant.
    func emitted(by id: NodeID) -> [(at: Instant, directive: Directive)] {
        records.filter { $0.node == id }.flatMap { record in record.directives.map { (record.at, $0) } }
    }

    /// Every message a node sent (whether or not it was delivered), with the instant.
    func sent(by id: NodeID) -> [(at: Instant, to: NodeID, message: Message)] {
        emitted(by: id).compactMap { item in
            if case .send(let to, let message) = item.directive { return (item.at, to, message) }
            return nil
        }
    }

    /// The replies a node gave to requests, by request id.
    func replies(of id: NodeID) -> [(at: Instant, id: UInt64, response: Response)] {
        emitted(by: id).compactMap { item in
            if case .reply(let requestID, let response) = item.directive { return (item.at, requestID, response) }
            return nil
        }
    }

    /// The assignments a node persisted as log entries (proposed by it or received).
    func persistedAssignments(by id: NodeID) -> [(at: Instant, group: GroupID, owner: NodeID, epoch: Epoch)] {
        emitted(by: id).flatMap { item -> [(at: Instant, group: GroupID, owner: NodeID, epoch: Epoch)] in
            guard case .persist(.entries(let entries)) = item.directive else { return [] }
            return entries.compactMap { entry in
                if case .assign(let group, let owner, let epoch, _) = entry.command { return (item.at, group, owner, epoch) }
                return nil
            }
        }
    }
}

// MARK: - Pattern helpers

extension Message {
    var voteRequest: VoteRequest? { if case .vote(let r) = self { r } else { nil } }
    var preVoteRequest: VoteRequest? { if case .preVote(let r) = self { r } else { nil } }
    var voteReply: VoteReply? { if case .voteReply(let r) = self { r } else { nil } }
    var preVoteReply: VoteReply? { if case .preVoteReply(let r) = self { r } else { nil } }
    var append: Append? { if case .append(let a) = self { a } else { nil } }
    var appendReply: AppendReply? { if case .appendReply(let r) = self { r } else { nil } }
    var snapshotTransfer: SnapshotTransfer? { if case .snapshot(let s) = self { s } else { nil } }
    var timeoutNow: TimeoutNow? { if case .timeoutNow(let t) = self { t } else { nil } }
}

extension Directive {
    var sent: (to: NodeID, message: Message)? { if case .send(let to, let m) = self { (to, m) } else { nil } }
    var persisted: PersistOp? { if case .persist(let op) = self { op } else { nil } }
    var isTimer: Bool {
        switch self {
        case .schedule, .cancel: true
        default: false
        }
    }
    var eventKind: Event.Kind? { if case .event(let e) = self { e.kind } else { nil } }
    var isDeactivate: Bool { if case .deactivate = self { true } else { false } }
}

extension Array where Element == Directive {
    /// The messages sent in these directives.
    var messages: [(to: NodeID, message: Message)] { compactMap(\.sent) }
    /// The index of the first directive that satisfies `predicate`.
    func index(_ predicate: (Directive) -> Bool) -> Int? { firstIndex(where: predicate) }
}

/// A vote (or pre-vote) request that is as up to date as `node`'s log, for term `term`.
func voteRequest(term: Term, upToDateWith node: TandemNode, transfer: Bool = false) -> VoteRequest {
    VoteRequest(
        term: term, lastIndex: node.lastLogIndex, lastTerm: node.logTerm(at: node.lastLogIndex) ?? 0,
        transfer: transfer)
}

/// An append from the leader of `term` with no entries, naming the recipient owner of `owned`.
func heartbeat(
    term: Term = 1, prevIndex: LogIndex = 0, prevTerm: Term = 0, entries: [Entry] = [], commit: LogIndex = 0,
    round: UInt64 = 1, owned: [GroupID: Epoch] = [:], echo: Stamp? = nil
) -> Message {
    .append(Append(
        term: term, prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: commit, round: round,
        owned: owned, echo: echo))
}

/// A single node built from `persisted` and started at `at`.
func startedNode(
    _ id: NodeID, config: ClusterConfig = pairConfig(), persisted: PersistentState = PersistentState(), at: Instant = T0
) -> TandemNode {
    var node = TandemNode(id: id, config: config, persisted: persisted, seed: 1)
    _ = node.step(.start, now: at)
    return node
}
