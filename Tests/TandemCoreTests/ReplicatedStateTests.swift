@testable import TandemCore
import Testing

/// The replicated state machine applied directly (no Raft): determinism and request handling.
@Suite struct ReplicatedStateTests {
    static let config = ClusterConfig(
        name: "pair", timing: .fast,
        nodes: [NodeConfig("a", priority: 100), NodeConfig("b", priority: 90), NodeConfig("w", kind: .witness)],
        groups: [GroupConfig("pbx", prefer: ["a", "b"])])

    static func entry(_ index: LogIndex, _ command: Command) -> Entry { Entry(term: 1, index: index, command: command) }

    /// A request taken twice (a resend reaching a new leader) is applied and answered once.
    @Test func test_kvEntry_sameOriginTwice_appliedOnce() {
        var state = ReplicatedState(config: Self.config)
        let origin = RequestOrigin(node: "b", incarnation: 1, id: 7)
        let put = Command.kv(.put(key: "k", value: [1], ifRevision: nil), fence: nil, origin: origin)
        let first = state.apply(Self.entry(1, put))
        let second = state.apply(Self.entry(2, put))
        #expect(first == [.reply(origin, .written(revision: 1, index: 1))])
        #expect(second.isEmpty)
        #expect(state.kv.revision == 1)
    }

    /// The same request id from a new incarnation of the node is a new request.
    @Test func test_kvEntry_sameIdNewIncarnation_appliedAgain() {
        var state = ReplicatedState(config: Self.config)
        let put = { (incarnation: Incarnation) in
            Command.kv(.put(key: "k", value: [1], ifRevision: nil), fence: nil, origin: RequestOrigin(node: "b", incarnation: incarnation, id: 7))
        }
        _ = state.apply(Self.entry(1, put(1)))
        _ = state.apply(Self.entry(2, put(2)))
        #expect(state.kv.revision == 2)
    }

    /// Timing changes through the log are refused (nodes would apply them at different
    /// moments and disagree on leases and election timeouts, rule 5).
    @Test func test_configureEntry_timingChange_refusedWithReason() {
        var state = ReplicatedState(config: Self.config)
        var next = Self.config
        next.revision = 2
        next.timing = .balanced
        let origin = RequestOrigin(node: "a", incarnation: 1, id: 1)
        let effects = state.apply(Self.entry(1, .configure(next, source: nil, origin: origin)))
        guard case .reply(_, .refused(let refusal)) = effects.first else {
            Issue.record("expected a refusal, got \(effects)")
            return
        }
        #expect(refusal.code == .invalid)
        #expect(refusal.message.contains("timing"))
        #expect(state.config.revision == 1)
    }

    /// The first revision made through the log stores the file every node started from as
    /// the previous revision's record, then its own; a refused one stores nothing.
    @Test func test_configureEntry_withSource_historyKeepsBaselineAndNewRevision() {
        var state = ReplicatedState(config: Self.config)
        var next = Self.config
        next.revision = 2
        let source = ConfigSource(document: "revision: 2", author: "ops", time: "t2", baseline: "revision: 1")
        _ = state.apply(Self.entry(1, .configure(next, source: source, origin: nil)))
        #expect(state.configHistory.map(\.revision) == [1, 2])
        #expect(state.configHistory.map(\.source.document) == ["revision: 1", "revision: 2"])
        #expect(state.configHistory[1].index == 1)
        #expect(state.configHistory[1].source.baseline == nil)
        // Not newer: refused, history unchanged.
        let again = ConfigSource(document: "revision: 2 again", author: "ops", time: "t3", baseline: "x")
        let effects = state.apply(Self.entry(2, .configure(next, source: again, origin: RequestOrigin(node: "a", id: 1))))
        guard case .reply(_, .refused(let refusal)) = effects.first else {
            Issue.record("expected a refusal, got \(effects)")
            return
        }
        #expect(refusal.message.contains("not newer"))
        #expect(state.configHistory.count == 2)
    }

    /// The history keeps the newest `configHistoryLimit` revisions.
    @Test func test_configureEntry_manyRevisions_historyBounded() {
        var state = ReplicatedState(config: Self.config)
        let total = ReplicatedState.configHistoryLimit + 5
        for revision in 2...UInt64(total + 1) {
            var next = Self.config
            next.revision = revision
            let source = ConfigSource(document: "revision: \(revision)", author: "ops", time: "", baseline: "revision: 1")
            _ = state.apply(Self.entry(LogIndex(revision - 1), .configure(next, source: source, origin: nil)))
        }
        #expect(state.configHistory.count == ReplicatedState.configHistoryLimit)
        #expect(state.configHistory.last?.revision == UInt64(total + 1))
        #expect(state.configHistory.first?.revision == UInt64(total + 2 - ReplicatedState.configHistoryLimit))
        #expect(ReplicatedState(parts: state.parts) == state)
    }

    /// A report carries the node's software version and running configuration revision.
    @Test func test_reportEntry_versionAndRevision_recorded() {
        var state = ReplicatedState(config: Self.config)
        _ = state.apply(Self.entry(1, .report(node: "b", NodeReport(health: ["pbx": true], upstream: true, software: "1.2.3", configRevision: 1))))
        #expect(state.nodes["b"]?.software == "1.2.3")
        #expect(state.nodes["b"]?.configRevision == 1)
    }

    /// A fenced write with the current epoch is applied; one with an older epoch is refused.
    @Test func test_kvEntry_fenceAtCurrentEpoch_appliedAndStaleRefused() {
        var state = ReplicatedState(config: Self.config)
        _ = state.apply(Self.entry(1, .assign(group: "pbx", owner: "a", epoch: 1, reason: "test")))
        _ = state.apply(Self.entry(2, .assign(group: "pbx", owner: "b", epoch: 2, reason: "test")))
        let fresh = state.apply(Self.entry(3, .kv(.put(key: "k", value: [1], ifRevision: nil), fence: Fence(group: "pbx", epoch: 2), origin: RequestOrigin(node: "b", id: 1))))
        let stale = state.apply(Self.entry(4, .kv(.put(key: "k", value: [2], ifRevision: nil), fence: Fence(group: "pbx", epoch: 1), origin: RequestOrigin(node: "a", id: 1))))
        #expect(fresh == [.reply(RequestOrigin(node: "b", id: 1), .written(revision: 1, index: 3))])
        guard case .reply(_, .kvFailed(let error)) = stale.first else {
            Issue.record("expected kvFailed, got \(stale)")
            return
        }
        #expect(error.code == .staleEpoch)
        #expect(state.kv.get("k")?.value == [1])
    }

    /// An assignment with an epoch not above the current one is ignored (epochs increase).
    @Test func test_assignEntry_olderEpoch_ignored() {
        var state = ReplicatedState(config: Self.config)
        _ = state.apply(Self.entry(1, .assign(group: "pbx", owner: "a", epoch: 3, reason: "test")))
        let effects = state.apply(Self.entry(2, .assign(group: "pbx", owner: "b", epoch: 2, reason: "test")))
        #expect(effects.isEmpty)
        #expect(state.groups["pbx"]?.owner == "a")
        #expect(state.groups["pbx"]?.epoch == 3)
    }
}
