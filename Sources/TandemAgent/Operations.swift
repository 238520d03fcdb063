import Logging
import TandemCore
import TandemConfig
import TandemStore
import TandemWire

extension Event.Kind {
    /// An operator action, asked and answered (the reason names who asked).
    public static let operatorAction = Event.Kind("operator")
    /// A link to a peer came up or went down (seen by this node).
    public static let linkUp = Event.Kind("link_up")
    public static let linkDown = Event.Kind("link_down")
    /// A group's checks on this node started passing or failing (after rise/fall), or
    /// upstream reachability changed.
    public static let check = Event.Kind("check")
}

extension OperatorAction {
    /// What a person asked, in words: "switchover of pbx to b".
    public var summary: String {
        switch self {
        case .switchover(let group, let to): "switchover of \(group)" + (to.map { " to \($0)" } ?? " to the best ready node")
        case .failback(let group): "failback of \(group)"
        case .maintenance(let node, let on): "maintenance of \(node) \(on ? "on" : "off")"
        case .freeze(let on): on ? "freeze (no automatic moves)" : "unfreeze"
        }
    }

    var group: GroupID? {
        switch self {
        case .switchover(let group, _), .failback(let group): group
        case .maintenance, .freeze: nil
        }
    }

    /// The node a switchover names.
    var target: NodeID? {
        if case .switchover(_, let to) = self { return to }
        return nil
    }
}

/// A group and the kind of reason its owner changed, for `tandem_failovers_total`.
struct OwnerChangeKey: Hashable {
    var group: String
    var reason: String

    /// The kind of an assignment's reason, from the controller's wording (Controller.swift).
    static func kind(of reason: String) -> String {
        if reason.hasPrefix("failover") { return "failover" }
        if reason.hasPrefix("rollback") { return "rollback" }
        if reason.hasPrefix("initial placement") { return "initial" }
        if reason.contains("failback") { return "failback" }
        if reason.contains("switchover") { return "switchover" }
        if reason.contains(" released ") { return "released" }
        return "other"
    }
}

/// A change of the replicated KV store seen by a watch, or the end of the watch.
public enum KVWatchItem: Sendable, Equatable {
    case change(KVEvent)
    /// The watch cannot go on (its history was compacted, e.g. after a snapshot from the
    /// leader); the client must read the keys again and watch from the store's revision.
    case ended(KVError)
}

extension NodeRuntime {
    // MARK: - Operator actions

    /// Hands an operator action to the core, recording who asked and how it ended as events
    /// on this node.
    public func operate(_ action: OperatorAction, by who: String, timeout: Duration = .seconds(30)) async -> Response {
        recordLocal(.operatorAction, group: action.group, reason: "\(who) asks for \(action.summary)", evidence: "")
        let deadline = AgentClock.now() + timeout
        let before = action.group.flatMap { node.state.groups[$0] }
        var response = await requestRetryingWithoutLeader(.action(action), until: deadline)
        // A move is often followed by a leadership transfer to the new owner, and the old
        // leader's answer is then lost: read the committed state to learn how it ended.
        if case .refused(let refusal) = response, refusal.code == .outcomeUnknown || refusal.code == .timedOut,
           let group = action.group, let before {
            response = await resolveMove(of: group, before: before, target: action.target, until: deadline) ?? response
        }
        let outcome: String
        switch response {
        case .moved(let group, let owner, let epoch, let index):
            outcome = "done: \(owner) owns \(group) at epoch \(epoch) (log index \(index))"
        case .done(let index): outcome = "done (log index \(index))"
        case .refused(let refusal): outcome = "refused: \(refusal)"
        default: outcome = "\(response)"
        }
        recordLocal(.operatorAction, group: action.group, reason: "\(action.summary) asked by \(who): \(outcome)", evidence: "")
        return response
    }

    /// Hands `request` to the core; while no leader is known (an election, a leadership
    /// transfer) the core refuses it without taking it, so it is asked again every 20 ms
    /// until `deadline`.
    public func requestRetryingWithoutLeader(_ request: Request, until deadline: Instant) async -> Response {
        while true {
            let left = deadline - AgentClock.now()
            let response = await self.request(request, timeout: max(left, .milliseconds(1)))
            guard case .refused(let refusal) = response, refusal.code == .noLeader,
                  AgentClock.now() + .milliseconds(20) < deadline else { return response }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// After an unknown outcome: the committed state (read through a barrier) says whether
    /// the group moved away from `before`'s owner (to `target`, when one was named).
    func resolveMove(of group: GroupID, before: GroupState, target: NodeID?, until deadline: Instant) async -> Response? {
        guard case .readable(let index) = await requestRetryingWithoutLeader(.readBarrier, until: deadline),
              let now = node.state.groups[group], now.epoch > before.epoch, let owner = now.owner, owner != before.owner,
              target == nil || target == owner
        else { return nil }
        return .moved(group: group, owner: owner, epoch: now.epoch, index: index)
    }

    /// Records an event of this runtime (not of the core) in the store and for subscribers.
    func recordLocal(_ kind: Event.Kind, group: GroupID? = nil, epoch: Epoch? = nil, reason: String, evidence: String) {
        let event = Event(kind: kind, node: id, term: node.term, group: group, epoch: epoch, reason: reason, evidence: evidence)
        logger.notice("\(event.description)")
        hands.notify(event)
        record([StoredEvent(id: 0, wallTime: AgentClock.wallMilliseconds(), event: event)])
    }

    // MARK: - Event stream

    /// A stream of every event recorded on this node from now on (with their store ids), and
    /// the id of the last event recorded before it (read history through that id first, then
    /// the stream, for no gap and no repeat). It ends when the agent stops or
    /// `unsubscribeEvents` is called with the id.
    public func subscribeEvents() -> (id: UInt64, last: Int64, events: AsyncStream<StoredEvent>) {
        nextSubscriberID += 1
        let id = nextSubscriberID
        let (stream, continuation) = AsyncStream<StoredEvent>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        if stopping {
            continuation.finish()
        } else {
            eventSubscribers[id] = continuation
        }
        return (id, lastRecordedEventID, stream)
    }

    public func unsubscribeEvents(_ id: UInt64) {
        eventSubscribers.removeValue(forKey: id)?.finish()
        kvWatchers.removeValue(forKey: id)?.continuation.finish()
    }

    // MARK: - KV watches

    struct KVWatcher {
        var prefix: String
        /// The next revision this watcher wants.
        var next: UInt64
        var continuation: AsyncStream<KVWatchItem>.Continuation
    }

    /// Changes to keys under `prefix` from revision `from` (nil: from the next change on),
    /// as this node applies them. Fails at once with `.compacted` when `from` is older than
    /// the history kept. The stream ends with `.ended` when the history no longer has what
    /// the watch needs, and finishes when the agent stops or `unsubscribeEvents(id)`.
    public func watchKV(prefix: String, from: UInt64?) -> Result<(id: UInt64, items: AsyncStream<KVWatchItem>), KVError> {
        let kv = node.state.kv
        let start = from ?? (kv.revision + 1)
        if case .failure(let error) = kv.events(prefix: prefix, fromRevision: start) { return .failure(error) }
        nextSubscriberID += 1
        let id = nextSubscriberID
        let (stream, continuation) = AsyncStream<KVWatchItem>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        if stopping {
            continuation.finish()
            return .success((id, stream))
        }
        kvWatchers[id] = KVWatcher(prefix: prefix, next: max(start, 1), continuation: continuation)
        notifyWatchers()
        return .success((id, stream))
    }

    /// Sends every watcher the changes it has not seen yet (after each step that moved the
    /// store's revision, and once when a watch starts).
    func notifyWatchers() {
        let kv = node.state.kv
        for (id, watcher) in kvWatchers where watcher.next <= kv.revision {
            switch kv.events(prefix: watcher.prefix, fromRevision: watcher.next) {
            case .success(let events):
                for event in events { watcher.continuation.yield(.change(event)) }
                kvWatchers[id]!.next = kv.revision + 1
            case .failure(let error):
                watcher.continuation.yield(.ended(error))
                watcher.continuation.finish()
                kvWatchers[id] = nil
            }
        }
        watchedRevision = kv.revision
    }

    /// Ends every stream (the agent is stopping).
    func finishStreams() {
        for continuation in eventSubscribers.values { continuation.finish() }
        eventSubscribers.removeAll()
        for watcher in kvWatchers.values { watcher.continuation.finish() }
        kvWatchers.removeAll()
    }

    // MARK: - Event history

    /// Stored events after `id` (all when nil), oldest first, at most `limit`; read on a
    /// connection of its own, so that it never holds up the agent's loop.
    public nonisolated func storedEvents(after id: Int64?, limit: Int) throws(StoreError) -> [StoredEvent] {
        try historyReader.events(after: id, limit: limit)
    }

    /// The newest stored event's id (0: none).
    public nonisolated func lastStoredEventID() throws(StoreError) -> Int64 {
        try historyReader.lastEventID()
    }
}

/// Limits of the API's reads that the runtime enforces too.
public enum AgentAPILimits {
    /// The most events a cluster-wide timeline asks of each node.
    public static let clusterEvents = 1000
}

/// The cluster's events: every reachable node's newest, merged by time.
public struct ClusterEvents: Sendable {
    /// Oldest first.
    public var events: [StoredEvent]
    /// The nodes whose events are in (this one included), and those that did not answer.
    public var answered: [String]
    public var missing: [String]
}

extension NodeRuntime {
    /// This node's newest `limit` stored events, oldest first.
    nonisolated func newestEvents(_ limit: Int) throws(StoreError) -> [StoredEvent] {
        let last = try historyReader.lastEventID()
        return try historyReader.events(after: max(0, last - Int64(limit)), limit: limit)
    }

    /// The newest `limit` events of the whole cluster: this node's and those of every node a
    /// link reaches (asked over the links; 2 s), merged by wall-clock time (each node's own
    /// clock: nodes whose clocks disagree interleave by their clocks).
    public func clusterEvents(limit: Int) async throws(StoreError) -> ClusterEvents {
        let limit = min(max(1, limit), AgentAPILimits.clusterEvents)
        var events = try newestEvents(limit)
        let peers = file.cluster.nodes.map(\.id).filter { $0 != id && transport.isReachable($0) }
        let answers = await ask(peers, within: .seconds(2)) { .eventsQuery(id: $0, limit: UInt32(limit)) }
        for (_, answer) in answers {
            guard case .eventsAnswer(_, let theirs) = answer else { continue }
            events += theirs.map { StoredEvent(id: $0.id, wallTime: $0.wallTime, event: $0.event) }
        }
        events.sort { ($0.wallTime, $0.event.node.name, $0.id) < ($1.wallTime, $1.event.node.name, $1.id) }
        let answered = ([id] + answers.keys).map(\.name).sorted()
        let missing = file.cluster.nodes.map(\.id.name).filter { !answered.contains($0) }
        return ClusterEvents(events: Array(events.suffix(limit)), answered: answered, missing: missing)
    }
}
