import TandemConfig
import TandemStore
import TandemWire
import TandemCore

extension NodeRuntime {
    /// The status page's data, from this node's point of view.
    public func status() -> AgentStatus {
        let now = AgentClock.now()
        let state = node.state
        let links = transport?.report(now: now) ?? []
        var nodes: [AgentStatus.NodeRow] = []
        for config in state.config.nodes {
            let n = state.nodes[config.id]
            let up = links.filter { $0.peer == config.id && $0.up }.map(\.link)
            nodes.append(AgentStatus.NodeRow(
                id: config.id.name, kind: config.kind.rawValue,
                role: config.id == id ? node.role.rawValue : (config.id == node.leader ? "leader" : nil),
                maintenance: n?.maintenance ?? false, upstream: n?.upstream ?? true,
                health: Dictionary(uniqueKeysWithValues: (n?.health ?? [:]).map { ($0.key.name, $0.value) }),
                linksUp: config.id == id ? nil : up,
                match: node.matchIndex(of: config.id),
                lagEntries: node.matchIndex(of: config.id).map { node.lastLogIndex > $0 ? node.lastLogIndex - $0 : 0 },
                software: n.flatMap { $0.software.isEmpty ? nil : $0.software },
                configRevision: n.flatMap { $0.configRevision == 0 ? nil : $0.configRevision }))
        }
        var groups: [AgentStatus.GroupRow] = []
        for config in state.config.groups {
            let g = state.groups[config.id]
            var ready: [String] = []
            var notReady: [String: String] = [:]
            var mismatched: [String: String] = [:]
            for candidate in state.config.candidates(for: config) where candidate != g?.owner {
                switch node.readiness(of: candidate, for: config.id, now: now) {
                case .ready:
                    ready.append(candidate.name)
                    if let mismatch = mismatch(of: candidate, owner: g?.owner, in: state) { mismatched[candidate.name] = mismatch }
                case .notReady(let why): notReady[candidate.name] = why
                case .unknown: notReady[candidate.name] = "only the leader knows (ask \(node.leader?.name ?? "the leader"))"
                }
            }
            var pending: String?
            if let p = g?.pending { pending = "\(p.kind)" + (p.from.map { " from \($0)" } ?? "") }
            groups.append(AgentStatus.GroupRow(
                id: config.id.name, owner: g?.owner?.name, epoch: g?.epoch ?? 0, reason: g?.reason ?? "",
                activeHere: node.activeGroups[config.id] != nil, phase: node.localPhase(config.id),
                readyStandbys: ready, notReady: notReady, mismatched: mismatched, pending: pending,
                ownerSinceWallMilliseconds: ownerSince[config.id].flatMap { $0.epoch == g?.epoch ? $0.wall : nil },
                ownerSinceIndex: g?.since ?? 0,
                lastProvenDrill: provenBy(config.id)?.id, lastProvenWallMilliseconds: provenBy(config.id)?.wallMs))
        }
        let rejected = transport.map { t in
            Dictionary(uniqueKeysWithValues: t.opener.rejections.map { ("\($0.key)", $0.value) })
        } ?? [:]
        let events = recentEvents.suffix(50).map(AgentStatus.EventRow.init)
        let timing = file.cluster.timing
        return AgentStatus(
            cluster: file.cluster.name, node: id.name, version: TandemVersion.current, role: node.role.rawValue, term: node.term,
            // The leader knows (rule 1: a quorum acknowledged a round within the lease);
            // elsewhere, hearing from a leader is the sign of one.
            leader: node.leader?.name, quorum: node.role == .leader ? node.hasLeaderStanding(now) : node.leader != nil,
            configRevision: state.config.revision, commitIndex: node.commitIndex, appliedIndex: node.appliedIndex,
            lastLogIndex: node.lastLogIndex, incarnation: node.incarnation,
            timing: timing.profile ?? "heartbeat \(timing.heartbeat), election timeout \(timing.electionTimeout), lease \(timing.lease)",
            frozen: state.frozen, kvRevision: state.kv.revision,
            kvDigest: String(state.kv.digest, radix: 16),
            nodes: nodes, groups: groups,
            links: links.map {
                AgentStatus.LinkRow(
                    peer: $0.peer.name, link: $0.link, up: $0.up, rttMilliseconds: $0.rtt.map(\.milliseconds),
                    loss: $0.loss, lastSeenMillisecondsAgo: $0.lastSeen.map(\.milliseconds), stream: $0.stream)
            },
            rejected: rejected, stalls: stalls, longestStallMilliseconds: longestStall.milliseconds,
            events: events, uptimeSeconds: (now - started).milliseconds / 1000,
            ownerChanges: ownerChanges.sorted { ($0.key.group, $0.key.reason) < ($1.key.group, $1.key.reason) }.map {
                AgentStatus.OwnerChangeCount(group: $0.key.group, reason: $0.key.reason, count: $0.value)
            },
            alarms: openAlarms.values.sorted { ($0.sinceWallMilliseconds, $0.id) < ($1.sinceWallMilliseconds, $1.id) })
    }

    /// How `candidate` differs from `owner` in what it runs (software version) or from the
    /// cluster (configuration revision), by the nodes' own reports; nil when it does not.
    func mismatch(of candidate: NodeID, owner: NodeID?, in state: ReplicatedState) -> String? {
        guard let mine = state.nodes[candidate] else { return nil }
        var found: [String] = []
        if let owner, let theirs = state.nodes[owner], !mine.software.isEmpty, !theirs.software.isEmpty,
           mine.software != theirs.software {
            found.append("runs version \(mine.software), \(owner) runs \(theirs.software)")
        }
        if mine.configRevision != 0, mine.configRevision != state.config.revision {
            found.append("runs configuration revision \(mine.configRevision), the cluster's is \(state.config.revision)")
        }
        return found.isEmpty ? nil : found.joined(separator: "; ")
    }
}
