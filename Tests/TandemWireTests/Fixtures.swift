import TandemCore
import TandemWire

/// Sample values covering every case and option of the core's types.
enum Fixtures {
    /// A configuration that uses every option: every node kind, priorities, sites,
    /// capacities, several links, explicit timing with a custom ρ, prefer lists, automatic
    /// failback and anti-affinity.
    static let fullConfig = ClusterConfig(
        name: "plant-7.north_b",
        revision: 42,
        timing: Timing(
            heartbeat: .milliseconds(20), electionTimeout: .milliseconds(200), lease: .milliseconds(150),
            margin: .microseconds(7_500), rho: 0.015, profile: nil),
        nodes: [
            NodeConfig("a", priority: 100, site: "north", capacity: 2, links: 3),
            NodeConfig("b", priority: 90, site: "north", capacity: nil, links: 2),
            NodeConfig("w", kind: .witness, priority: 0, site: "south"),
            NodeConfig("l", kind: .learner, priority: 5, site: nil, capacity: 1, links: 8),
        ],
        groups: [
            GroupConfig("pbx", prefer: ["a", "b"], failback: .auto(holdDown: .seconds(30)), antiAffinity: ["web"]),
            GroupConfig("web", prefer: [], failback: .manual, antiAffinity: ["pbx"]),
            GroupConfig("db", prefer: ["b"], failback: .auto(holdDown: .nanoseconds(1))),
        ],
        snapshotThreshold: 250)

    static let pairConfig = ClusterConfig(
        name: "pair", timing: .fast,
        nodes: [NodeConfig("a", priority: 100), NodeConfig("b", priority: 90), NodeConfig("w", kind: .witness)],
        groups: [GroupConfig("pbx", prefer: ["a", "b"]), GroupConfig("web", prefer: ["b", "a"])])

    static let origin = RequestOrigin(node: "b", incarnation: 3, id: 77)

    static let refusal = Refusal(.targetNotReady, "b is not caught up (matched 3 of 9)")

    static let kvError = KVError(code: .revisionMismatch, message: "key \"calls/7\" is at revision 12, not 9", currentRevision: 12)

    /// Every case of `Command`, with optional fields both present and absent.
    static let commands: [Command] = [
        .leader("a"),
        .assign(group: "pbx", owner: "b", epoch: 7, reason: "a lost standing (rule 4(c)) — ünïcödé ✓"),
        .report(node: "b", NodeReport(health: ["pbx": true, "web": false, "db": true], upstream: false)),
        .report(node: "a", NodeReport(health: [:], upstream: true)),
        .action(.switchover("pbx", to: "b"), origin: origin),
        .action(.switchover("pbx", to: nil), origin: nil),
        .action(.failback("web"), origin: origin),
        .action(.maintenance("a", on: true), origin: nil),
        .action(.freeze(on: false), origin: origin),
        .kv(.put(key: "calls/7", value: [0, 1, 2, 255], ifRevision: 0), fence: Fence(group: "pbx", epoch: 7), origin: origin),
        .kv(.put(key: "empty", value: [], ifRevision: nil), fence: nil, origin: nil),
        .kv(.delete(key: "calls/7", ifRevision: UInt64.max), fence: Fence(group: "web", epoch: UInt64.max), origin: nil),
        .kv(.delete(key: "x", ifRevision: nil), fence: nil, origin: RequestOrigin(node: "a", incarnation: 0, id: UInt64.max)),
        .pendingEnded(group: "pbx", outcome: .completed(owner: "b", epoch: 8)),
        .pendingEnded(group: "pbx", outcome: .refused(refusal)),
        .configure(fullConfig, source: ConfigSource(document: "cluster: x\nrevision: 3\n", author: "admin", time: "2026-11-28T15:00:00Z", baseline: "cluster: x\n"), origin: origin),
        .configure(pairConfig, source: nil, origin: nil),
    ]

    static let requests: [Request] = [
        .kv(.put(key: "k", value: [9], ifRevision: 3), fence: Fence(group: "pbx", epoch: 2)),
        .kv(.delete(key: "k", ifRevision: nil), fence: nil),
        .action(.switchover("pbx", to: "a")),
        .configure(fullConfig, source: nil),
        .configure(pairConfig, source: ConfigSource(document: "é", author: "", time: "")),
        .readBarrier,
        .transferLeadership(to: "b"),
    ]

    static let responses: [Response] = [
        .done(index: 12),
        .written(revision: 5, index: 13),
        .kvFailed(kvError),
        .kvFailed(KVError(code: KVError.Code("futureCode"), message: "", currentRevision: nil)),
        .moved(group: "pbx", owner: "b", epoch: 9, index: 14),
        .readable(index: 15),
        .refused(refusal),
        .refused(Refusal(Refusal.Code("some_new_code"), "from a newer version")),
    ]

    static func entries(from index: LogIndex, term: Term, commands: [Command]) -> [Entry] {
        commands.enumerated().map { Entry(term: term, index: index + LogIndex($0.offset), command: $0.element) }
    }

    /// A replicated state built through the public core API: leaders, assignments, reports,
    /// operator actions (a pending switchover), KV writes with and without origins (the
    /// dedupe memory), deletes, refused writes and a configuration change.
    static func richState(kvWrites: Int = 40) -> ReplicatedState {
        var state = ReplicatedState(config: pairConfig)
        var index: LogIndex = 0
        func apply(_ term: Term, _ command: Command) {
            index += 1
            _ = state.apply(Entry(term: term, index: index, command: command))
        }
        for term: Term in 1...10 { apply(term, .leader(term % 2 == 0 ? "a" : "b")) }
        apply(10, .assign(group: "pbx", owner: "a", epoch: 1, reason: "initial placement"))
        apply(10, .assign(group: "web", owner: "b", epoch: 1, reason: "initial placement"))
        apply(10, .report(node: "a", NodeReport(health: ["pbx": true, "web": false], upstream: true)))
        apply(10, .report(node: "b", NodeReport(health: ["pbx": true, "web": true], upstream: false)))
        apply(10, .action(.switchover("pbx", to: "b"), origin: RequestOrigin(node: "a", incarnation: 2, id: 1)))
        apply(10, .assign(group: "pbx", owner: "b", epoch: 2, reason: "switchover"))
        apply(10, .action(.maintenance("a", on: true), origin: RequestOrigin(node: "b", incarnation: 1, id: 1)))
        apply(10, .action(.freeze(on: true), origin: nil))
        for i in 0..<kvWrites {
            let origin = i % 3 == 0 ? nil : RequestOrigin(node: i % 2 == 0 ? "a" : "b", incarnation: 1, id: UInt64(100 + i))
            let fence = i % 4 == 0 ? Fence(group: "web", epoch: 1) : nil
            apply(10, .kv(.put(key: "calls/\(i % 17)", value: Array(repeating: UInt8(i & 0xFF), count: i % 9), ifRevision: nil), fence: fence, origin: origin))
            if i % 5 == 4 {
                apply(10, .kv(.delete(key: "calls/\((i + 3) % 17)", ifRevision: nil), fence: nil, origin: nil))
            }
        }
        // A refused (stale-epoch) write and a refused compare-and-set.
        apply(10, .kv(.put(key: "stale", value: [1], ifRevision: nil), fence: Fence(group: "pbx", epoch: 1), origin: RequestOrigin(node: "a", incarnation: 2, id: 9)))
        apply(10, .kv(.put(key: "calls/1", value: [1], ifRevision: 999), fence: nil, origin: nil))
        var next = pairConfig
        next.revision = 2
        next.groups.append(GroupConfig("db", prefer: ["a"], failback: .auto(holdDown: .seconds(5))))
        apply(11, .leader("a"))
        apply(11, .configure(next, source: ConfigSource(document: "revision: 2\n", author: "ops", time: "t", baseline: "revision: 1\n"), origin: RequestOrigin(node: "a", incarnation: 2, id: 2)))
        apply(11, .report(node: "b", NodeReport(health: ["db": false], upstream: true, software: "0.5.0", configRevision: 2)))
        return state
    }

    static func snapshot(_ state: ReplicatedState, term: Term = 11) -> Snapshot {
        Snapshot(index: state.applied, term: term, state: state)
    }

    /// Every case of `Message`, with optional fields both present and absent.
    static func messages() -> [Message] {
        let state = richState(kvWrites: 12)
        return [
            .preVote(VoteRequest(term: 5, lastIndex: 40, lastTerm: 4, transfer: false)),
            .preVoteReply(VoteReply(term: 5, granted: true)),
            .vote(VoteRequest(term: 6, lastIndex: 41, lastTerm: 5, transfer: true)),
            .voteReply(VoteReply(term: 6, granted: false)),
            .append(Append(
                term: 6, prevIndex: 41, prevTerm: 5, entries: entries(from: 42, term: 6, commands: commands),
                commit: 41, round: 1234, owned: ["pbx": 7, "web": 3], echo: Stamp(at: Instant(nanoseconds: -5), incarnation: 2))),
            .append(Append(term: 6, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, round: 0, owned: [:], echo: nil)),
            .appendReply(AppendReply(term: 6, success: true, match: 58, round: 1234, stamp: Stamp(at: Instant(nanoseconds: Int64.max), incarnation: 9), applied: 57)),
            .appendReply(AppendReply(term: 6, success: false, match: 0, round: UInt64.max, stamp: nil, applied: 0)),
            .snapshot(SnapshotTransfer(term: 11, snapshot: snapshot(state), round: 99)),
            .timeoutNow(TimeoutNow(term: 6, standingLeft: .milliseconds(31))),
            .timeoutNow(TimeoutNow(term: 6, standingLeft: .zero)),
            .released(term: 6, group: "pbx", epoch: 7),
            .activated(term: 6, group: "web", epoch: 3),
            .releaseRequest(term: 6, group: "pbx", epoch: 7),
            .report(term: 6, NodeReport(health: ["pbx": false], upstream: true)),
        ] + requests.map { .forward(term: 6, origin: origin, $0) } + [
            .refused(origin: origin, refusal),
        ] + responses.map { .answered(origin: origin, $0) } + [
            .readIndex(term: 6, origin: origin),
            .readIndexReply(term: 6, origin: origin, index: 58),
        ]
    }
}
