import TandemCore

/// The cluster configuration, snapshots and the replicated state they carry (exactly: a
/// decoded state is `==` to the encoded one, the KV history and the dedupe memory included).

enum NodeKindTag: UInt8 {
    case node = 0, witness, learner
}

enum FailbackTag: UInt8 {
    case manual = 0, auto
}

enum PendingKindTag: UInt8 {
    case switchover = 0, failback
}

enum KVEventTag: UInt8 {
    case put = 0, deleted
}

// MARK: - Writing

extension WireWriter {
    mutating func config(_ config: ClusterConfig) {
        string(config.name)
        varint(config.revision)
        timing(config.timing)
        array(config.nodes) { $0.nodeConfig($1) }
        array(config.groups) { $0.groupConfig($1) }
        int(config.snapshotThreshold)
    }

    mutating func timing(_ timing: Timing) {
        optional(timing.profile) { $0.string($1) }
        duration(timing.heartbeat)
        duration(timing.electionTimeout)
        duration(timing.lease)
        duration(timing.margin)
        double(timing.rho)
    }

    mutating func nodeConfig(_ node: NodeConfig) {
        self.node(node.id)
        switch node.kind {
        case .node: u8(NodeKindTag.node.rawValue)
        case .witness: u8(NodeKindTag.witness.rawValue)
        case .learner: u8(NodeKindTag.learner.rawValue)
        }
        int(node.priority)
        optional(node.site) { $0.string($1) }
        optional(node.capacity) { $0.int($1) }
        int(node.links)
    }

    mutating func groupConfig(_ group: GroupConfig) {
        self.group(group.id)
        array(group.prefer) { $0.node($1) }
        switch group.failback {
        case .manual:
            u8(FailbackTag.manual.rawValue)
        case .auto(let holdDown):
            u8(FailbackTag.auto.rawValue)
            duration(holdDown)
        }
        array(group.antiAffinity) { $0.group($1) }
    }

    mutating func snapshot(_ snapshot: Snapshot) {
        varint(snapshot.index)
        varint(snapshot.term)
        replicatedState(snapshot.state)
    }

    mutating func replicatedState(_ state: ReplicatedState) {
        let parts = state.parts
        config(parts.config)
        dictionary(parts.groups, key: { $0.group($1) }, value: { $0.groupState($1) })
        dictionary(parts.nodes, key: { $0.node($1) }, value: { $0.nodeState($1) })
        bool(parts.frozen)
        kvStore(parts.kv)
        dictionary(parts.leaderOfTerm, key: { $0.varint($1) }, value: { $0.node($1) })
        varint(parts.applied)
        array(parts.appliedOrigins) { $0.requestOrigin($1) }
        int(parts.appliedOriginNext)
        array(parts.configHistory) { w, record in
            w.varint(record.revision)
            w.varint(record.index)
            w.configSource(record.source)
        }
    }

    mutating func groupState(_ state: GroupState) {
        optional(state.owner) { $0.node($1) }
        varint(state.epoch)
        varint(state.since)
        string(state.reason)
        optional(state.pending) { $0.pending($1) }
    }

    mutating func pending(_ pending: Pending) {
        switch pending.kind {
        case .switchover(let to):
            u8(PendingKindTag.switchover.rawValue)
            optional(to) { $0.node($1) }
        case .failback:
            u8(PendingKindTag.failback.rawValue)
        }
        optional(pending.origin) { $0.requestOrigin($1) }
        optional(pending.from) { $0.node($1) }
        optional(pending.movedAt) { $0.varint($1) }
    }

    mutating func nodeState(_ state: NodeState) {
        bool(state.maintenance)
        dictionary(state.health, key: { $0.group($1) }, value: { $0.bool($1) })
        bool(state.upstream)
        string(state.software)
        varint(state.configRevision)
    }

    mutating func kvStore(_ store: KVStore) {
        int(store.historyLimit)
        varint(store.revision)
        array(store.range(prefix: "")) { $0.kvEntry($1) }
        array(store.retainedHistory) { $0.kvEvent($1) }
    }

    mutating func kvEntry(_ entry: KVEntry) {
        string(entry.key)
        data(entry.value)
        varint(entry.createRevision)
        varint(entry.modRevision)
        varint(entry.version)
    }

    mutating func kvEvent(_ event: KVEvent) {
        switch event {
        case .put(let entry):
            u8(KVEventTag.put.rawValue)
            kvEntry(entry)
        case .deleted(let key, let revision):
            u8(KVEventTag.deleted.rawValue)
            string(key)
            varint(revision)
        }
    }
}

// MARK: - Reading

extension WireReader {
    mutating func config() throws -> ClusterConfig {
        let name = try field("name") { try $0.string() }
        let revision = try field("revision") { try $0.varint() }
        let timing = try field("timing") { try $0.timing() }
        let nodes = try field("nodes") { try $0.array(minimumElementBytes: 6) { try $0.nodeConfig() } }
        let groups = try field("groups") { try $0.array(minimumElementBytes: 4) { try $0.groupConfig() } }
        let threshold = try field("snapshotThreshold") { try $0.int() }
        return ClusterConfig(
            name: name, revision: revision, timing: timing, nodes: nodes, groups: groups, snapshotThreshold: threshold)
    }

    mutating func timing() throws -> Timing {
        let profile = try field("profile") { try $0.optional { try $0.string() } }
        let heartbeat = try field("heartbeat") { try $0.duration() }
        let electionTimeout = try field("electionTimeout") { try $0.duration() }
        let lease = try field("lease") { try $0.duration() }
        let margin = try field("margin") { try $0.duration() }
        let rho = try field("rho") { try $0.double() }
        return Timing(
            heartbeat: heartbeat, electionTimeout: electionTimeout, lease: lease, margin: margin, rho: rho,
            profile: profile)
    }

    mutating func nodeConfig() throws -> NodeConfig {
        let id = try field("id") { try $0.node() }
        let kind: NodeConfig.Kind =
            switch try field("kind", { try $0.tag(NodeKindTag.self, "NodeConfig.Kind") }) {
            case .node: .node
            case .witness: .witness
            case .learner: .learner
            }
        let priority = try field("priority") { try $0.int() }
        let site = try field("site") { try $0.optional { try $0.string() } }
        let capacity = try field("capacity") { try $0.optional { try $0.int() } }
        let links = try field("links") { try $0.int() }
        return NodeConfig(id, kind: kind, priority: priority, site: site, capacity: capacity, links: links)
    }

    mutating func groupConfig() throws -> GroupConfig {
        let id = try field("id") { try $0.group() }
        let prefer = try field("prefer") { try $0.array { try $0.node() } }
        let failback = try field("failback") { r -> GroupConfig.Failback in
            switch try r.tag(FailbackTag.self, "GroupConfig.Failback") {
            case .manual: return .manual
            case .auto: return .auto(holdDown: try r.field("holdDown") { try $0.duration() })
            }
        }
        let antiAffinity = try field("antiAffinity") { try $0.array { try $0.group() } }
        return GroupConfig(id, prefer: prefer, failback: failback, antiAffinity: antiAffinity)
    }

    mutating func snapshot() throws -> Snapshot {
        let index = try field("index") { try $0.counter() }
        let term = try field("term") { try $0.counter() }
        let state = try field("state") { try $0.replicatedState() }
        return Snapshot(index: index, term: term, state: state)
    }

    mutating func replicatedState() throws -> ReplicatedState {
        let config = try field("config") { try $0.config() }
        let groups = try field("groups") { try $0.dictionary(key: { try $0.group() }, value: { try $0.groupState() }) }
        let nodes = try field("nodes") { try $0.dictionary(key: { try $0.node() }, value: { try $0.nodeState() }) }
        let frozen = try field("frozen") { try $0.bool() }
        let kv = try field("kv") { try $0.kvStore() }
        let leaderOfTerm = try field("leaderOfTerm") { try $0.dictionary(key: { try $0.counter() }, value: { try $0.node() }) }
        let applied = try field("applied") { try $0.counter() }
        // A request origin is at least three bytes (node, incarnation, id).
        let origins = try field("appliedOrigins") { try $0.array(minimumElementBytes: 3) { try $0.requestOrigin() } }
        let next = try field("appliedOriginNext") { try $0.int() }
        // A record is at least six bytes (revision, index, three string lengths, optional marker).
        let history = try field("configHistory") { r in
            try r.array(minimumElementBytes: 6) { r in
                let revision = try r.field("revision") { try $0.counter() }
                let index = try r.field("index") { try $0.counter() }
                let source = try r.field("source") { try $0.configSource() }
                return ConfigRecord(revision: revision, index: index, source: source)
            }
        }
        let parts = ReplicatedState.Parts(
            config: config, groups: groups, nodes: nodes, frozen: frozen, kv: kv, leaderOfTerm: leaderOfTerm,
            applied: applied, appliedOrigins: origins, appliedOriginNext: next, configHistory: history)
        if let problem = parts.problem {
            throw field(problem.contains("configuration") ? "configHistory" : "appliedOrigins") { $0.invalid(problem) }
        }
        return ReplicatedState(parts: parts)
    }

    mutating func groupState() throws -> GroupState {
        let owner = try field("owner") { try $0.optional { try $0.node() } }
        let epoch = try field("epoch") { try $0.counter() }
        let since = try field("since") { try $0.counter() }
        let reason = try field("reason") { try $0.string() }
        let pending = try field("pending") { try $0.optional { try $0.pending() } }
        return GroupState(owner: owner, epoch: epoch, since: since, reason: reason, pending: pending)
    }

    mutating func pending() throws -> Pending {
        let kind = try field("kind") { r -> PendingKind in
            switch try r.tag(PendingKindTag.self, "PendingKind") {
            case .switchover: return .switchover(to: try r.field("to") { try $0.optional { try $0.node() } })
            case .failback: return .failback
            }
        }
        let origin = try field("origin") { try $0.optional { try $0.requestOrigin() } }
        let from = try field("from") { try $0.optional { try $0.node() } }
        let movedAt = try field("movedAt") { try $0.optional { try $0.counter() } }
        return Pending(kind: kind, origin: origin, from: from, movedAt: movedAt)
    }

    mutating func nodeState() throws -> NodeState {
        let maintenance = try field("maintenance") { try $0.bool() }
        let health = try field("health") { try $0.dictionary(key: { try $0.group() }, value: { try $0.bool() }) }
        let upstream = try field("upstream") { try $0.bool() }
        let software = try field("software") { try $0.string() }
        let configRevision = try field("configRevision") { try $0.counter() }
        return NodeState(
            maintenance: maintenance, health: health, upstream: upstream, software: software, configRevision: configRevision)
    }

    /// A store: checked against every precondition of `KVStore.init(entries:…:history:)`.
    mutating func kvStore() throws -> KVStore {
        let limit = try field("historyLimit") { r in
            let limit = try r.int()
            if limit < 0 { throw r.invalid("history limit \(limit) is negative") }
            return limit
        }
        let revision = try field("revision") { try $0.counter() }
        // An entry is at least five bytes (key length, value length, three revisions).
        let entries = try field("entries") { r in
            let count = try r.count(minimumElementBytes: 5)
            var entries: [KVEntry] = []
            entries.reserveCapacity(WireReader.initialCapacity(count))
            for offset in 0..<count {
                entries.append(try r.element(offset) { r in
                    let entry = try r.kvEntry()
                    if let previous = entries.last, !(previous.key < entry.key) {
                        throw r.invalid(previous.key == entry.key
                            ? "key \(entry.key.debugDescription) is repeated"
                            : "key \(entry.key.debugDescription) is out of order (after \(previous.key.debugDescription))")
                    }
                    if entry.modRevision > revision {
                        throw r.invalid("key \(entry.key.debugDescription) was modified at revision \(entry.modRevision), after the store's revision \(revision)")
                    }
                    if entry.createRevision > entry.modRevision {
                        throw r.invalid("key \(entry.key.debugDescription) was created at revision \(entry.createRevision), after its last modification \(entry.modRevision)")
                    }
                    return entry
                })
            }
            return entries
        }
        let history = try field("history") { r in
            let count = try r.count(minimumElementBytes: 3)
            if count > limit { throw r.invalid("\(count) history events, over the history limit \(limit)") }
            if UInt64(count) > revision { throw r.invalid("\(count) history events, more than the store's revision \(revision)") }
            let first = revision - UInt64(count) + 1
            var events: [KVEvent] = []
            events.reserveCapacity(WireReader.initialCapacity(count))
            for offset in 0..<count {
                events.append(try r.element(offset) { r in
                    let event = try r.kvEvent()
                    let expected = first + UInt64(offset)
                    if event.revision != expected {
                        throw r.invalid("event at revision \(event.revision), expected \(expected): the history must end at the store's revision \(revision) without gaps")
                    }
                    return event
                })
            }
            return events
        }
        return KVStore(entries: entries, revision: revision, historyLimit: limit, history: history)
    }

    mutating func kvEntry() throws -> KVEntry {
        let key = try field("key") { try $0.string() }
        let value = try field("value") { try $0.data() }
        let createRevision = try field("createRevision") { try $0.counter() }
        let modRevision = try field("modRevision") { try $0.counter() }
        let version = try field("version") { try $0.counter() }
        return KVEntry(key: key, value: value, createRevision: createRevision, modRevision: modRevision, version: version)
    }

    mutating func kvEvent() throws -> KVEvent {
        switch try tag(KVEventTag.self, "KVEvent") {
        case .put:
            return .put(try field("put") { try $0.kvEntry() })
        case .deleted:
            return try field("deleted") { r in
                let key = try r.field("key") { try $0.string() }
                let revision = try r.field("revision") { try $0.counter() }
                return .deleted(key: key, revision: revision)
            }
        }
    }
}
