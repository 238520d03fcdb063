/// The replicated state machine (DESIGN §4 "Consensus"): what every voter agrees on through
/// the log. `apply` is deterministic: the same entries in the same order give the same state
/// and the same results on every replica.

/// The desired state of a group, set by the operator through the log.
public enum PendingKind: Sendable, Equatable {
    case switchover(to: NodeID?)
    case failback
}

/// A switchover or failback in progress: recorded in the log so it survives a change of
/// controller; ended by a `pendingEnded` entry.
public struct Pending: Sendable, Equatable {
    public var kind: PendingKind
    public var origin: RequestOrigin?
    /// Where the group was when the request was taken; a rollback returns it there.
    public var from: NodeID?
    /// Set once the controller moved the group: the epoch of the move.
    public var movedAt: Epoch?
    /// Memberwise (public so that `TandemWire` can decode it).
    public init(kind: PendingKind, origin: RequestOrigin?, from: NodeID?, movedAt: Epoch?) {
        self.kind = kind
        self.origin = origin
        self.from = from
        self.movedAt = movedAt
    }
}

/// Per group: `{owner, epoch, pending operator request}` (issue 3).
public struct GroupState: Sendable, Equatable {
    public var owner: NodeID?
    public var epoch: Epoch = 0
    /// Log index of the entry that made `owner` the owner.
    public var since: LogIndex = 0
    public var reason: String = ""
    public var pending: Pending?
    /// Memberwise with defaults (public so that `TandemWire` can decode it).
    public init(owner: NodeID? = nil, epoch: Epoch = 0, since: LogIndex = 0, reason: String = "", pending: Pending? = nil) {
        self.owner = owner
        self.epoch = epoch
        self.since = since
        self.reason = reason
        self.pending = pending
    }
}

/// Per node: `{maintenance, reported health per group, upstream reachability}`.
public struct NodeState: Sendable, Equatable {
    public var maintenance = false
    /// Groups are absent until the node reports them.
    public var health: [GroupID: Bool] = [:]
    public var upstream = true
    /// The software version and running configuration revision the node last reported
    /// ("" and 0 until it does).
    public var software = ""
    public var configRevision: UInt64 = 0
    /// Memberwise with defaults (public so that `TandemWire` can decode it).
    public init(
        maintenance: Bool = false, health: [GroupID: Bool] = [:], upstream: Bool = true, software: String = "",
        configRevision: UInt64 = 0
    ) {
        self.maintenance = maintenance
        self.health = health
        self.upstream = upstream
        self.software = software
        self.configRevision = configRevision
    }
}

/// The state every voter agrees on: configuration, groups, nodes, freeze, recent term
/// leaders, the key-value store. Changed only by `apply` of committed entries, in order.
public struct ReplicatedState: Sendable, Equatable {
    public private(set) var config: ClusterConfig
    public internal(set) var groups: [GroupID: GroupState]
    public internal(set) var nodes: [NodeID: NodeState]
    public internal(set) var frozen = false
    public internal(set) var kv: KVStore
    /// The configuration revisions made through the log (with their files), oldest first,
    /// at most `configHistoryLimit` of them.
    public internal(set) var configHistory: [ConfigRecord] = []
    /// How many revisions the history keeps.
    public static let configHistoryLimit = 20
    /// The leader named by the first entry of recent terms (rule 4(b)). Only the last few
    /// terms are kept; the rule needs the one before the controller's own.
    public internal(set) var leaderOfTerm: [Term: NodeID] = [:]
    /// Index of the last entry applied.
    public internal(set) var applied: LogIndex = 0
    /// Requests already applied (bounded): a request forwarded twice (a resend, or a new
    /// leader taking it again) is applied once and answered once.
    var appliedOrigins: Set<RequestOrigin> = []
    var appliedOriginOrder: [RequestOrigin] = []
    var appliedOriginNext = 0
    static let rememberedOrigins = 10_000

    public init(config: ClusterConfig) {
        self.config = config
        self.kv = KVStore()
        self.groups = [:]
        self.nodes = [:]
        for group in config.groups { groups[group.id] = GroupState() }
        for node in config.nodes { nodes[node.id] = NodeState() }
    }

    /// What applying an entry did, for the node that applies it.
    public enum Effect: Sendable, Equatable {
        case reply(RequestOrigin, Response)
        case ownerChanged(GroupID)
        case configChanged
    }

    /// Applies one committed entry. Entries MUST be applied in index order, each once.
    public mutating func apply(_ entry: Entry) -> [Effect] {
        precondition(entry.index == applied + 1, "entry \(entry.index) applied after \(applied)")
        applied = entry.index
        if let origin = entry.command.origin {
            guard appliedOrigins.insert(origin).inserted else { return [] }
            // A ring of the last `rememberedOrigins` origins: the oldest is forgotten.
            if appliedOriginOrder.count < Self.rememberedOrigins {
                appliedOriginOrder.append(origin)
            } else {
                appliedOrigins.remove(appliedOriginOrder[appliedOriginNext])
                appliedOriginOrder[appliedOriginNext] = origin
                appliedOriginNext = (appliedOriginNext + 1) % Self.rememberedOrigins
            }
        }
        switch entry.command {
        case .leader(let node):
            leaderOfTerm[entry.term] = node
            if leaderOfTerm.count > 8, let oldest = leaderOfTerm.keys.min() { leaderOfTerm[oldest] = nil }
            return []
        case .assign(let group, let owner, let epoch, let reason):
            guard var g = groups[group], epoch > g.epoch else { return [] }
            g.owner = owner
            g.epoch = epoch
            g.since = entry.index
            g.reason = reason
            if var pending = g.pending, pending.movedAt == nil, owner != pending.from {
                pending.movedAt = epoch
                g.pending = pending
            }
            groups[group] = g
            return [.ownerChanged(group)]
        case .report(let node, let report):
            guard var n = nodes[node] else { return [] }
            for (group, passing) in report.health where groups[group] != nil { n.health[group] = passing }
            n.upstream = report.upstream
            n.software = report.software
            n.configRevision = report.configRevision
            nodes[node] = n
            return []
        case .action(let action, let origin):
            return applyAction(action, origin: origin, index: entry.index)
        case .kv(let operation, let fence, let origin):
            let result: Result<UInt64, KVError>
            if let fence, let current = groups[fence.group]?.epoch, fence.epoch < current {
                result = .failure(
                    KVError(
                        code: .staleEpoch,
                        message: "write carries epoch \(fence.epoch) of group \(fence.group), which is at epoch \(current)",
                        currentRevision: nil))
            } else if let fence, groups[fence.group] == nil {
                result = .failure(
                    KVError(code: .staleEpoch, message: "write is fenced by unknown group \(fence.group)", currentRevision: nil))
            } else {
                result = kv.apply(operation)
            }
            guard let origin else { return [] }
            switch result {
            case .success(let revision): return [.reply(origin, .written(revision: revision, index: entry.index))]
            case .failure(let error): return [.reply(origin, .kvFailed(error))]
            }
        case .pendingEnded(let group, let outcome):
            guard var g = groups[group], let pending = g.pending else { return [] }
            g.pending = nil
            groups[group] = g
            guard let origin = pending.origin else { return [] }
            switch outcome {
            case .completed(let owner, let epoch):
                return [.reply(origin, .moved(group: group, owner: owner, epoch: epoch, index: entry.index))]
            case .refused(let refusal):
                return [.reply(origin, .refused(refusal))]
            }
        case .configure(let newConfig, let source, let origin):
            if let problem = ReplicatedState.configChangeProblem(from: config, to: newConfig) {
                guard let origin else { return [] }
                return [.reply(origin, .refused(Refusal(.invalid, problem)))]
            }
            if let source {
                if configHistory.isEmpty, let baseline = source.baseline {
                    let first = ConfigSource(document: baseline, author: "the nodes' files", time: "")
                    configHistory.append(ConfigRecord(revision: config.revision, index: 0, source: first))
                }
                var stored = source
                stored.baseline = nil
                configHistory.append(ConfigRecord(revision: newConfig.revision, index: entry.index, source: stored))
                if configHistory.count > Self.configHistoryLimit {
                    configHistory.removeFirst(configHistory.count - Self.configHistoryLimit)
                }
            }
            config = newConfig
            for group in newConfig.groups where groups[group.id] == nil { groups[group.id] = GroupState() }
            for node in newConfig.nodes where nodes[node.id] == nil { nodes[node.id] = NodeState() }
            var effects: [Effect] = [.configChanged]
            if let origin { effects.append(.reply(origin, .done(index: entry.index))) }
            return effects
        }
    }

    private mutating func applyAction(_ action: OperatorAction, origin: RequestOrigin?, index: LogIndex) -> [Effect] {
        func refuse(_ refusal: Refusal) -> [Effect] {
            guard let origin else { return [] }
            return [.reply(origin, .refused(refusal))]
        }
        switch action {
        case .maintenance(let node, let on):
            guard nodes[node] != nil else { return refuse(Refusal(.unknownNode, "no node \(node) in the configuration")) }
            nodes[node]!.maintenance = on
        case .freeze(let on):
            frozen = on
        case .switchover(let group, let to):
            return startPending(group, kind: .switchover(to: to), target: to, origin: origin)
        case .failback(let group):
            return startPending(group, kind: .failback, target: nil, origin: origin)
        }
        guard let origin else { return [] }
        return [.reply(origin, .done(index: index))]
    }

    /// Records a switchover or failback; it is answered by its `pendingEnded` entry.
    private mutating func startPending(
        _ group: GroupID, kind: PendingKind, target: NodeID?, origin: RequestOrigin?
    ) -> [Effect] {
        func refuse(_ refusal: Refusal) -> [Effect] {
            guard let origin else { return [] }
            return [.reply(origin, .refused(refusal))]
        }
        guard var g = groups[group] else { return refuse(Refusal(.unknownGroup, "no group \(group) in the configuration")) }
        if let target {
            guard let node = config.node(target) else { return refuse(Refusal(.unknownNode, "no node \(target) in the configuration")) }
            if node.kind == .witness { return refuse(Refusal(.invalid, "\(target) is a witness; a witness never owns a group")) }
        }
        if g.pending != nil { return refuse(Refusal(.busy, "group \(group) already has a switchover or failback in progress")) }
        g.pending = Pending(kind: kind, origin: origin, from: g.owner, movedAt: nil)
        groups[group] = g
        return []
    }

    /// A new configuration may change timing, groups, priorities and learners, but not the
    /// set of voters (one-at-a-time membership change is not implemented yet).
    /// Why the log would refuse `new` as the revision after `old` (invalid, not newer, another
    /// name, another timing, other voters), or nil.
    public static func changeProblem(from old: ClusterConfig, to new: ClusterConfig) -> String? {
        configChangeProblem(from: old, to: new)
    }

    static func configChangeProblem(from old: ClusterConfig, to new: ClusterConfig) -> String? {
        do { try new.validate() } catch { return "configuration revision \(new.revision) is invalid: \(error)" }
        if new.revision <= old.revision {
            return "configuration revision \(new.revision) is not newer than the current \(old.revision)"
        }
        if new.name != old.name { return "the cluster name cannot change (\(old.name) → \(new.name))" }
        if new.timing != old.timing {
            return "changing the timing (\(old.timing.profile ?? "custom") → \(new.timing.profile ?? "custom")) through the log is not supported: nodes apply it at different moments, so for a while leases and election timeouts would disagree (rule 5); change it with a coordinated restart of every node"
        }
        if Set(new.voters) != Set(old.voters) {
            return "changing the set of voters is not supported yet (voters \(old.voters) → \(new.voters))"
        }
        return nil
    }

    /// A digest of everything replicated (for comparing replicas).
    public var digest: UInt64 {
        var d = Digest()
        d.add(applied)
        d.add(config.revision)
        d.add(frozen ? 1 : 0)
        for id in groups.keys.sorted() {
            let g = groups[id]!
            d.add(id.name)
            d.add(g.owner?.name ?? "-")
            d.add(g.epoch)
            d.add(g.pending == nil ? 0 : 1)
        }
        for id in nodes.keys.sorted() {
            let n = nodes[id]!
            d.add(id.name)
            d.add(n.maintenance ? 1 : 0)
            d.add(n.upstream ? 1 : 0)
            d.add(n.software)
            d.add(n.configRevision)
            for g in n.health.keys.sorted() { d.add(g.name); d.add(n.health[g]! ? 1 : 0) }
        }
        for record in configHistory {
            d.add(record.revision)
            d.add(record.index)
            d.add(record.source.document)
        }
        d.add(kv.digest)
        return d.value
    }
}

/// A snapshot of the applied state at `index` (log compaction, and catching up a follower).
public struct Snapshot: Sendable, Equatable {
    public var index: LogIndex
    public var term: Term
    public var state: ReplicatedState
    public init(index: LogIndex, term: Term, state: ReplicatedState) {
        self.index = index
        self.term = term
        self.state = state
    }
}

// MARK: - Exact serialisation (TandemWire)

extension ReplicatedState {
    /// Every stored field of a `ReplicatedState`, hidden ones included, so that a codec can
    /// write a state and rebuild one that is `==` to it (a snapshot installed on a follower
    /// must make its state equal to the leader's). Only `TandemWire` should need this.
    public struct Parts: Sendable, Equatable {
        public var config: ClusterConfig
        public var groups: [GroupID: GroupState]
        public var nodes: [NodeID: NodeState]
        public var frozen: Bool
        public var kv: KVStore
        public var leaderOfTerm: [Term: NodeID]
        public var applied: LogIndex
        /// The dedupe memory of applied requests, in ring order: distinct, at most
        /// `ReplicatedState.appliedOriginsLimit` of them.
        public var appliedOrigins: [RequestOrigin]
        /// The ring slot the next new origin overwrites: 0 until the ring is full, then in
        /// `0..<appliedOriginsLimit`.
        public var appliedOriginNext: Int
        /// The configuration history, oldest first (at most `configHistoryLimit`).
        public var configHistory: [ConfigRecord]

        public init(
            config: ClusterConfig, groups: [GroupID: GroupState], nodes: [NodeID: NodeState], frozen: Bool,
            kv: KVStore, leaderOfTerm: [Term: NodeID], applied: LogIndex, appliedOrigins: [RequestOrigin],
            appliedOriginNext: Int, configHistory: [ConfigRecord] = []
        ) {
            self.config = config
            self.groups = groups
            self.nodes = nodes
            self.frozen = frozen
            self.kv = kv
            self.leaderOfTerm = leaderOfTerm
            self.applied = applied
            self.appliedOrigins = appliedOrigins
            self.appliedOriginNext = appliedOriginNext
            self.configHistory = configHistory
        }

        /// Why these parts cannot form a state (the dedupe ring is inconsistent), or nil.
        /// `init(parts:)` requires nil.
        public var problem: String? {
            let limit = ReplicatedState.appliedOriginsLimit
            if appliedOrigins.count > limit {
                return "\(appliedOrigins.count) remembered request origins, over the limit of \(limit)"
            }
            if Set(appliedOrigins).count != appliedOrigins.count { return "a request origin is remembered twice" }
            if appliedOrigins.count < limit ? appliedOriginNext != 0 : !(0..<limit).contains(appliedOriginNext) {
                return "ring position \(appliedOriginNext) is impossible with \(appliedOrigins.count) remembered origins"
            }
            if configHistory.count > ReplicatedState.configHistoryLimit {
                return "\(configHistory.count) configuration revisions, over the limit of \(ReplicatedState.configHistoryLimit)"
            }
            if zip(configHistory, configHistory.dropFirst()).contains(where: { $0.revision >= $1.revision }) {
                return "the configuration history is not in increasing revision order"
            }
            return nil
        }
    }

    /// How many applied request origins a state remembers (the dedupe memory's ring size).
    public static var appliedOriginsLimit: Int { rememberedOrigins }

    /// The state made of exactly these parts. Precondition: `parts.problem == nil`.
    public init(parts: Parts) {
        if let problem = parts.problem { preconditionFailure("inconsistent replicated state: \(problem)") }
        self.init(config: parts.config)
        groups = parts.groups
        nodes = parts.nodes
        frozen = parts.frozen
        kv = parts.kv
        leaderOfTerm = parts.leaderOfTerm
        applied = parts.applied
        appliedOrigins = Set(parts.appliedOrigins)
        appliedOriginOrder = parts.appliedOrigins
        appliedOriginNext = parts.appliedOriginNext
        configHistory = parts.configHistory
    }

    /// Every stored field of this state (see `Parts`); `ReplicatedState(parts: s.parts) == s`.
    public var parts: Parts {
        Parts(
            config: config, groups: groups, nodes: nodes, frozen: frozen, kv: kv, leaderOfTerm: leaderOfTerm,
            applied: applied, appliedOrigins: appliedOriginOrder, appliedOriginNext: appliedOriginNext,
            configHistory: configHistory)
    }
}
