import Testing
@testable import TandemCore

/// Unit tests of the pure core (`TandemNode.step`), one rule of docs/PROTOCOL.md at a time.
/// Single nodes are fed hand-made messages; small clusters are wired by `Cluster`
/// (Harness.swift): one manual clock, instant delivery, drops under the test's control.
@Suite struct NodeTests {
    // MARK: - Fixtures

    static let g: GroupID = "g"
    static let nanosecond = Duration.nanoseconds(1)

    /// Node a of the pair, started at T0, with its election timer fired: a pre-candidate.
    /// Returns the node and the instant the timer fired.
    static func preCandidateA() -> (TandemNode, Instant, [Directive]) {
        var a = TandemNode(id: "a", config: pairConfig(), persisted: PersistentState(), seed: 1)
        let started = a.step(.start, now: T0)
        let due = started.compactMap { d -> Instant? in
            if case .schedule(.election, let at) = d { return at }
            return nil
        }.first ?? T0 + Fast.et
        let out = a.step(.timer(.election), now: due)
        return (a, due, out)
    }

    /// The reply `out` sends to `to`, if it is an append reply.
    static func appendReply(in out: [Directive], to: NodeID = "a") -> AppendReply? {
        out.messages.first { $0.to == to && $0.message.appendReply != nil }?.message.appendReply
    }

    /// `.activate` directives in `out`: (group, epoch, until).
    static func activations(in out: [Directive]) -> [(group: GroupID, epoch: Epoch, until: Instant)] {
        out.compactMap { d in
            if case .activate(let group, _, let epoch, let until, _) = d { return (group, epoch, until) }
            return nil
        }
    }

    static func deactivations(in out: [Directive]) -> [(group: GroupID, epoch: Epoch)] {
        out.compactMap { d in
            if case .deactivate(let group, let epoch, _) = d { return (group, epoch) }
            return nil
        }
    }

    /// The committed log a follower b receives naming it owner of g at epoch 1, term 1.
    static let ownerEntries = [
        Entry(term: 1, index: 1, command: .leader("a")),
        Entry(term: 1, index: 2, command: .assign(group: "g", owner: "b", epoch: 1, reason: "unit")),
    ]

    static func persisted(incarnation: Incarnation = 0, records: [GroupID: Epoch] = [:]) -> PersistentState {
        var p = PersistentState()
        p.incarnation = incarnation
        p.activationRecords = records
        return p
    }

    // MARK: - Election (rule 5, Raft)

    /// Rule 5: a voter quiet for ET campaigns, first by pre-vote, which changes neither its
    /// term nor its vote.
    @Test func test_electionTimer_quietSinceStart_sendsPreVoteWithoutNewTerm() {
        let (a, due, out) = Self.preCandidateA()
        #expect(due >= T0 + Fast.et)
        #expect(a.role == .preCandidate)
        #expect(a.term == 0)
        #expect(a.votedFor == nil)
        let preVotes = out.messages.compactMap { m in m.message.preVoteRequest.map { (to: m.to, request: $0) } }
        #expect(Set(preVotes.map(\.to)) == ["b", "w"])
        #expect(preVotes.allSatisfy { $0.request.term == 1 && !$0.request.transfer })
        #expect(!out.contains { $0.persisted != nil })
    }

    /// Persist before acting: a pre-vote quorum starts the campaign; the new term and the
    /// self-vote are persisted before any vote request is sent.
    @Test func test_preVoteQuorum_campaigns_persistsHardStateBeforeVoteRequests() {
        var (a, due, _) = Self.preCandidateA()
        let out = a.step(.message(from: "b", .preVoteReply(VoteReply(term: 1, granted: true))), now: due)
        #expect(a.role == .candidate)
        #expect(a.term == 1)
        #expect(a.votedFor == "a")
        let persist = out.index { $0 == .persist(.hardState(term: 1, vote: "a")) }
        let firstVote = out.index { $0.sent?.message.voteRequest != nil }
        #expect(persist != nil)
        #expect(firstVote != nil)
        if let persist, let firstVote { #expect(persist < firstVote) }
        let targets = out.messages.filter { $0.message.voteRequest?.term == 1 }.map(\.to)
        #expect(Set(targets) == ["b", "w"])
    }

    /// Raft / rule 4(b): a vote quorum makes the candidate leader; the first entry of its term
    /// names it, and is persisted before any append carrying it is sent.
    @Test func test_voteQuorum_candidate_becomesLeaderWithLeaderEntryFirst() {
        var (a, due, _) = Self.preCandidateA()
        _ = a.step(.message(from: "b", .preVoteReply(VoteReply(term: 1, granted: true))), now: due)
        let out = a.step(.message(from: "w", .voteReply(VoteReply(term: 1, granted: true))), now: due)
        #expect(a.role == .leader)
        #expect(a.leader == "a")
        #expect(a.entry(at: 1) == Entry(term: 1, index: 1, command: .leader("a")))
        let persist = out.index { d in
            if case .persist(.entries(let entries)) = d { return entries.first?.command == .leader("a") }
            return false
        }
        let firstAppend = out.index { $0.sent?.message.append?.entries.isEmpty == false }
        #expect(persist != nil)
        #expect(firstAppend != nil)
        if let persist, let firstAppend { #expect(persist < firstAppend) }
        #expect(out.contains { $0.eventKind == .leader })
    }

    // MARK: - Rule 5: stickiness

    /// Rule 5: a follower that heard from the leader less than ET ago refuses a pre-vote.
    @Test func test_preVote_followerHeardLeaderWithinET_refused() {
        let c = Cluster(pairConfig())
        c.electA()
        c.advance(by: .milliseconds(30))
        let heard = c["b"].lastHeard
        let term = c["b"].term
        c.now = heard + Fast.et - Self.nanosecond
        let out = c.step("b", .message(from: "w", .preVote(voteRequest(term: term + 1, upToDateWith: c["b"]))))
        let reply = out.messages.first { $0.to == "w" }?.message.preVoteReply
        #expect(reply?.granted == false)
        #expect(c["b"].term == term)
    }

    /// Rule 5: a follower that heard from the leader less than ET ago refuses a vote and
    /// keeps its term (it persists nothing).
    @Test func test_vote_followerHeardLeaderWithinET_refusedAndKeepsTerm() {
        let c = Cluster(pairConfig())
        c.electA()
        c.advance(by: .milliseconds(30))
        let heard = c["b"].lastHeard
        let term = c["b"].term
        c.now = heard + Fast.et - Self.nanosecond
        let out = c.step("b", .message(from: "w", .vote(voteRequest(term: term + 1, upToDateWith: c["b"]))))
        let reply = out.messages.first { $0.to == "w" }?.message.voteReply
        #expect(reply?.granted == false)
        #expect(c["b"].term == term)
        #expect(c["b"].votedFor == "a")
        #expect(!out.contains { $0.persisted != nil })
    }

    /// Rule 5: once ET has passed since it last heard from the leader, the follower grants
    /// a pre-vote (term unchanged) and then a vote (new term, persisted before the reply).
    @Test func test_voteAndPreVote_followerQuietForET_granted() {
        let c = Cluster(pairConfig())
        c.electA()
        c.advance(by: .milliseconds(30))
        let heard = c["b"].lastHeard
        let term = c["b"].term
        c.now = heard + Fast.et
        let pre = c.step("b", .message(from: "w", .preVote(voteRequest(term: term + 1, upToDateWith: c["b"]))))
        #expect(pre.messages.first { $0.to == "w" }?.message.preVoteReply?.granted == true)
        #expect(c["b"].term == term)
        let out = c.step("b", .message(from: "w", .vote(voteRequest(term: term + 1, upToDateWith: c["b"]))))
        #expect(out.messages.first { $0.to == "w" }?.message.voteReply?.granted == true)
        #expect(c["b"].term == term + 1)
        #expect(c["b"].votedFor == "w")
        let persist = out.index { $0 == .persist(.hardState(term: term + 1, vote: "w")) }
        let reply = out.index { $0.sent?.message.voteReply != nil }
        #expect(persist != nil)
        if let persist, let reply { #expect(persist < reply) }
    }

    // MARK: - C2

    /// C2: a voter that restarts (`.start` at t) cannot know whom it heard from before, so it
    /// refuses votes until t + ET, and grants at t + ET.
    @Test func test_vote_withinETOfRestart_refusedUntilET() {
        var p = Self.persisted(incarnation: 3)
        p.term = 1
        p.vote = "a"
        var b = startedNode("b", persisted: p)
        let request = VoteRequest(term: 2, lastIndex: 0, lastTerm: 0, transfer: false)
        let early = b.step(.message(from: "w", .vote(request)), now: T0 + Fast.et - Self.nanosecond)
        #expect(early.messages.first?.message.voteReply?.granted == false)
        #expect(b.term == 1)
        #expect(b.votedFor == "a")
        let late = b.step(.message(from: "w", .vote(request)), now: T0 + Fast.et)
        #expect(late.messages.first?.message.voteReply?.granted == true)
        #expect(b.term == 2)
        #expect(b.votedFor == "w")
    }

    /// C2: a leader that steps down counts its own office as hearing from a leader: it refuses
    /// votes for ET after stepping down, and grants afterwards.
    @Test func test_vote_leaderSteppedDown_refusedForET() {
        let c = Cluster(pairConfig())
        let elected = c.electA()
        c.isolate("a")
        c.advance(to: elected + .milliseconds(200)) { c["a"].role != .leader }
        #expect(c["a"].role == .follower)
        let steppedDown = c.now
        let term = c["a"].term
        let request = voteRequest(term: term + 1, upToDateWith: c["a"])
        c.now = steppedDown + Fast.et - Self.nanosecond
        let early = c.step("a", .message(from: "b", .vote(request)))
        #expect(early.messages.first { $0.to == "b" }?.message.voteReply?.granted == false)
        #expect(c["a"].term == term)
        c.now = steppedDown + Fast.et
        let late = c.step("a", .message(from: "b", .vote(request)))
        #expect(late.messages.first { $0.to == "b" }?.message.voteReply?.granted == true)
        #expect(c["a"].term == term + 1)
    }

    // MARK: - Rule 1: leader standing

    /// Elects a at t1 + 5 ms with its campaign (vote request) sent at t1, and drops every
    /// append reply to a from then on: Q stays the vote request's send time.
    static func leaderWithoutAcks() -> (Cluster, Instant) {
        let c = Cluster(pairConfig())
        c.startAll()
        let t1 = c.timers["a"]![.election]!
        c.now = t1
        c.timers["a"]![.election] = nil
        c.step("a", .timer(.election))
        c.deliver { c["a"].role != .candidate }
        c.now = t1 + .milliseconds(5)
        c.drop = { _, to, message in to == "a" && message.appendReply != nil }
        c.deliverAll()
        return (c, t1)
    }

    /// Rule 1: the election's vote request counts as the first round: a leader whose
    /// heartbeats are never acknowledged stands until Q + L (Q = campaign start), not longer.
    @Test func test_heartbeats_unacknowledged_leaderStepsDownAtQPlusLease() {
        let (c, q) = Self.leaderWithoutAcks()
        #expect(c["a"].role == .leader)
        #expect(c["a"].quorumRound == q)
        c.advance(to: q + Fast.lease - Self.nanosecond)
        #expect(c["a"].role == .leader)
        c.advance(to: q + Fast.lease)
        #expect(c["a"].role == .follower)
        let stepDowns = c.emitted(by: "a").filter { $0.directive.eventKind == .steppedDown }
        #expect(stepDowns.map(\.at) == [q + Fast.lease])
    }

    /// Rule 1: a leader sends no heartbeat once its standing has lapsed, even when its
    /// heartbeat timer fires at that instant, nor afterwards.
    @Test func test_heartbeatTimer_afterStandingLapsed_sendsNoAppend() {
        let (c, q) = Self.leaderWithoutAcks()
        c.advance(to: q + Fast.lease - Self.nanosecond)
        let due = c.timers["a"]![.heartbeat]
        #expect(due != nil && due! <= q + Fast.lease)
        c.now = q + Fast.lease
        c.timers["a"]![.heartbeat] = nil
        let out = c.step("a", .timer(.heartbeat))
        #expect(!out.messages.contains { $0.message.append != nil })
        #expect(c["a"].role == .follower)
        c.advance(by: .milliseconds(30))
        let late = c.sent(by: "a").filter { $0.at >= q + Fast.lease && $0.message.append != nil }
        #expect(late.isEmpty)
    }

    /// Rule 1 (C8): a leader whose standing has lapsed sends no append of any kind, not even
    /// the resend a late (failed) acknowledgement would trigger in the same step.
    @Test func test_lateAppendReply_afterStandingLapsed_sendsNoAppend() {
        let (c, q) = Self.leaderWithoutAcks()
        c.advance(to: q + Fast.lease - Self.nanosecond)
        c.now = q + Fast.lease
        let late = AppendReply(term: 1, success: false, match: 0, round: 1, stamp: nil, applied: 0)
        let out = c.step("a", .message(from: "b", .appendReply(late)))
        #expect(!out.messages.contains { $0.message.append != nil || $0.message.snapshotTransfer != nil })
        #expect(c["a"].role == .follower)
    }

    /// Rule 1 (control): with acknowledged heartbeats the leader keeps standing well past L.
    @Test func test_heartbeats_acknowledged_leaderKeepsStanding() {
        let c = Cluster(pairConfig())
        let elected = c.electA()
        c.advance(to: elected + .milliseconds(300))
        #expect(c["a"].role == .leader)
        #expect(c["a"].term == 1)
        #expect(!c.emitted(by: "a").contains { $0.directive.eventKind == .steppedDown })
    }

    // MARK: - Rule 2 / C4: follower standing

    /// Rule 2: an append naming the follower owner of a group gets a reply stamped with the
    /// follower's clock and its current incarnation.
    @Test func test_append_namingFollowerOwner_replyStamped() {
        var b = TandemNode(id: "b", config: pairConfig(), persisted: Self.persisted(incarnation: 4), seed: 1)
        let started = b.step(.start, now: T0)
        // The new incarnation is durable before anything else (stamps carry it).
        #expect(started.first == .persist(.incarnation(5)))
        let at = T0 + .milliseconds(3)
        let out = b.step(.message(from: "a", heartbeat(owned: [Self.g: 1])), now: at)
        let reply = Self.appendReply(in: out)
        #expect(reply?.success == true)
        #expect(reply?.stamp == Stamp(at: at, incarnation: 5))
    }

    /// Rule 2: an append that names no owned group gets no stamp.
    @Test func test_append_noOwnedGroups_replyUnstamped() {
        var b = startedNode("b")
        let out = b.step(.message(from: "a", heartbeat()), now: T0 + .milliseconds(3))
        let reply = Self.appendReply(in: out)
        #expect(reply?.success == true)
        #expect(reply != nil && reply!.stamp == nil)
    }

    /// Rule 2: the echo of a stamp of this incarnation, in an append naming the node owner of
    /// (g, e), gives standing for (g, e) until the stamp + L.
    @Test func test_append_echoOfCurrentIncarnation_standingUntilStampPlusLease() {
        var b = startedNode("b", persisted: Self.persisted(incarnation: 4))
        let stamp = Stamp(at: T0 + .milliseconds(3), incarnation: 5)
        _ = b.step(.message(from: "a", heartbeat(owned: [Self.g: 1], echo: stamp)), now: T0 + .milliseconds(7))
        #expect(b.standingEnd(Self.g, epoch: 1) == stamp.at + Fast.lease)
    }

    /// Rule 2: an echo of a stamp from a previous incarnation gives no standing (its clock
    /// readings mean nothing after the restart).
    @Test func test_append_echoOfPreviousIncarnation_noStanding() {
        var b = startedNode("b", persisted: Self.persisted(incarnation: 4))
        let old = Stamp(at: T0 + .milliseconds(3), incarnation: 4)
        let out = b.step(
            .message(from: "a", heartbeat(entries: Self.ownerEntries, commit: 2, owned: [Self.g: 1], echo: old)),
            now: T0 + .milliseconds(7))
        #expect(b.standingEnd(Self.g, epoch: 1) == nil)
        #expect(Self.activations(in: out).isEmpty)
        #expect(b.activeGroups.isEmpty)
    }

    /// C4: an echo gives standing only for the group and epoch the same append names.
    @Test func test_append_echo_standingOnlyForNamedGroupAndEpoch() {
        let config = pairConfig(groups: [GroupConfig("h", prefer: ["b", "a"])])
        var b = startedNode("b", config: config)
        let stamp = Stamp(at: T0 + .milliseconds(2), incarnation: 1)
        _ = b.step(.message(from: "a", heartbeat(owned: [Self.g: 2], echo: stamp)), now: T0 + .milliseconds(4))
        #expect(b.standingEnd(Self.g, epoch: 2) == stamp.at + Fast.lease)
        #expect(b.standingEnd(Self.g, epoch: 1) == nil)
        #expect(b.standingEnd(Self.g, epoch: 3) == nil)
        #expect(b.standingEnd("h", epoch: 2) == nil)
    }

    /// C4: an echo in an append that names the node owner of nothing gives no standing, and a
    /// later append naming it owner without an echo does not revive that echo.
    @Test func test_append_echoWithoutOwnedGroups_noStanding() {
        var b = startedNode("b")
        let stamp = Stamp(at: T0 + .milliseconds(2), incarnation: 1)
        _ = b.step(.message(from: "a", heartbeat(owned: [:], echo: stamp)), now: T0 + .milliseconds(4))
        #expect(b.standingEnd(Self.g, epoch: 1) == nil)
        _ = b.step(.message(from: "a", heartbeat(round: 2, owned: [Self.g: 1])), now: T0 + .milliseconds(5))
        #expect(b.standingEnd(Self.g, epoch: 1) == nil)
    }

    // MARK: - Rule 3 / C3: activation

    /// b, started at T0, receives the committed assignment of g to itself at epoch 1 with an
    /// echo of its current stamp at `at`.
    static func ownerFollower(records: [GroupID: Epoch] = [:], at: Instant = T0 + .milliseconds(5)) -> (TandemNode, [Directive]) {
        var b = startedNode("b", persisted: Self.persisted(records: records))
        let echo = Stamp(at: at, incarnation: 1)
        let out = b.step(
            .message(from: "a", heartbeat(entries: Self.ownerEntries, commit: 2, owned: [Self.g: 1], echo: echo)), now: at)
        return (b, out)
    }

    /// Rule 3 / C3: the activation record is persisted before the group is activated, and the
    /// runtime's guard deadline is the standing's end minus the margin.
    @Test func test_commitNamingOwnerWithEcho_persistsActivationRecordBeforeActivate() {
        let at = T0 + .milliseconds(5)
        let (b, out) = Self.ownerFollower(at: at)
        let record = out.index { $0 == .persist(.activationRecord(group: Self.g, epoch: 1)) }
        let activate = out.index { d in
            if case .activate(Self.g, 1, 1, _, _) = d { return true }
            return false
        }
        #expect(record != nil)
        #expect(activate != nil)
        if let record, let activate { #expect(record < activate) }
        #expect(Self.activations(in: out).first?.until == at + Fast.lease - Fast.margin)
        #expect(b.activationRecords[Self.g] == 1)
        #expect(b.activeGroups == [Self.g: 1])
    }

    /// Rule 3 / C3, prepared: the record of an epoch assigned to this node is written with the
    /// entry that assigns it (same step, so the same transaction), and the activation after
    /// the commit then needs no write of its own. The epoch is still activated exactly once,
    /// and a node restarted from what was persisted never activates it (the test above).
    @Test func test_assignmentAppended_recordPreparedWithEntry_activationWritesNothing() {
        var b = startedNode("b")
        let appendAt = T0 + .milliseconds(5)
        let first = b.step(.message(from: "a", heartbeat(entries: Self.ownerEntries, commit: 0, owned: [Self.g: 1])), now: appendAt)
        let entries = first.index { if case .persist(.entries) = $0 { return true }; return false }
        #expect(entries != nil)
        #expect(first.contains { $0 == .persist(.activationRecord(group: Self.g, epoch: 1)) })
        #expect(Self.activations(in: first).isEmpty)
        #expect(b.activationRecords[Self.g] == nil)  // in memory: not yet activated or refused

        let at = appendAt + .milliseconds(1)
        let second = b.step(
            .message(from: "a", heartbeat(prevIndex: 2, prevTerm: 1, commit: 2, round: 2, owned: [Self.g: 1],
                                          echo: Stamp(at: appendAt, incarnation: 1))), now: at)
        #expect(Self.activations(in: second).map(\.epoch) == [1])
        #expect(!second.contains { $0.persisted != nil })
        #expect(b.activationRecords[Self.g] == 1)
    }

    /// Rule 3 / C3: a node whose durable activation record is at or above the committed epoch
    /// never activates it (it tells the leader it released it instead).
    @Test(arguments: [Epoch(1), 3])
    func test_commitNamingOwner_activationRecordAtOrAboveEpoch_neverActivates(record: Epoch) {
        let at = T0 + .milliseconds(5)
        var (b, out) = Self.ownerFollower(records: [Self.g: record], at: at)
        #expect(Self.activations(in: out).isEmpty)
        #expect(out.contains { $0.sent?.message == .released(term: 1, group: Self.g, epoch: 1) })
        let later = at + .milliseconds(10)
        let again = b.step(
            .message(from: "a", heartbeat(prevIndex: 2, prevTerm: 1, commit: 2, round: 2, owned: [Self.g: 1],
                                          echo: Stamp(at: later, incarnation: 1))), now: later)
        #expect(Self.activations(in: again).isEmpty)
        #expect(b.activeGroups.isEmpty)
        #expect(b.activationRecords[Self.g] == record)
    }

    /// Rule 3: a node named owner while its checks fail refuses the epoch: it raises its
    /// activation record (persisted before it confirms the release to the leader) and never
    /// activates it.
    @Test func test_commitNamingOwner_checksFailing_refusesEpochAndRaisesRecord() {
        var b = startedNode("b")
        _ = b.step(.checks(group: Self.g, passing: false), now: T0 + .milliseconds(1))
        let at = T0 + .milliseconds(5)
        let out = b.step(
            .message(from: "a", heartbeat(entries: Self.ownerEntries, commit: 2, owned: [Self.g: 1],
                                          echo: Stamp(at: at, incarnation: 1))), now: at)
        #expect(Self.activations(in: out).isEmpty)
        let record = out.index { $0 == .persist(.activationRecord(group: Self.g, epoch: 1)) }
        let released = out.index { $0.sent?.message == .released(term: 1, group: Self.g, epoch: 1) }
        #expect(record != nil)
        #expect(released != nil)
        if let record, let released { #expect(record < released) }
        #expect(b.activationRecords[Self.g] == 1)
        #expect(b.activeGroups.isEmpty)
    }

    /// Rule 3 (iii): when the checks of an active group fail, it is deactivated in the same step.
    @Test func test_checksFail_activeGroup_deactivatedAtOnce() {
        let at = T0 + .milliseconds(5)
        var (b, _) = Self.ownerFollower(at: at)
        #expect(b.activeGroups == [Self.g: 1])
        let out = b.step(.checks(group: Self.g, passing: false), now: at + .milliseconds(1))
        #expect(Self.deactivations(in: out).map(\.group) == [Self.g])
        #expect(Self.deactivations(in: out).map(\.epoch) == [1])
    }

    /// Rule 3 (ii): without a renewing echo, an active group is deactivated `margin` before
    /// its standing ends (at the deadline timer), not earlier.
    @Test func test_deadlineTimer_standingEnding_deactivatedMarginBeforeEnd() {
        let at = T0 + .milliseconds(5)
        var (b, first) = Self.ownerFollower(at: at)
        let stop = at + Fast.lease - Fast.margin
        // The node asks to be woken by then (the runtime fires the deadline timer).
        let wake = first.compactMap { d -> Instant? in
            if case .schedule(.deadline, let at) = d { return at }
            return nil
        }.last
        #expect(wake != nil && wake! <= stop)
        let early = b.step(.timer(.deadline), now: stop - Self.nanosecond)
        #expect(Self.deactivations(in: early).isEmpty)
        let due = b.step(.timer(.deadline), now: stop)
        #expect(Self.deactivations(in: due).map(\.group) == [Self.g])
    }

    // MARK: - Rule 4 / C1: reassignment

    /// A cluster whose persisted log (term 1, led by `previousLeader`) already assigns g to b
    /// at epoch 1; a is elected for term 2 and echoes b's stamps (b activates). After 20 ms,
    /// b's messages to a are dropped. Returns the cluster and the instant of the cut.
    static func silentOwner(previousLeader: NodeID, fencing: Set<NodeID> = [], until stop: ((Cluster) -> Bool)? = nil) -> (Cluster, Instant) {
        var p = PersistentState()
        p.term = 1
        let healthy = NodeReport(health: [Self.g: true], upstream: true)
        p.entries = [
            Entry(term: 1, index: 1, command: .leader(previousLeader)),
            Entry(term: 1, index: 2, command: .report(node: "a", healthy)),
            Entry(term: 1, index: 3, command: .report(node: "b", healthy)),
            Entry(term: 1, index: 4, command: .assign(group: Self.g, owner: "b", epoch: 1, reason: "unit")),
        ]
        let c = Cluster(pairConfig(), persisted: ["a": p, "b": p, "w": p], fencing: fencing)
        c.electA()
        #expect(c["a"].term == 2)
        #expect(c["a"].state.groups[Self.g]?.owner == "b")
        // The assignment at index 4 was appended by term 1's leader and is inherited by a:
        // a names b owner (and echoes it) only from tookOffice + W2 on (C11).
        c.advance(by: .milliseconds(60))
        #expect(c["b"].activeGroups == [Self.g: 1])
        let cut = c.now
        c.drop = { from, to, _ in from == "b" && to == "a" }
        c.advance(to: c.now + .milliseconds(200), stop: { stop?(c) ?? false })
        return (c, cut)
    }

    /// The fence directives a node emitted, with the instant.
    static func fences(_ c: Cluster, by id: NodeID = "a") -> [(at: Instant, node: NodeID)] {
        c.emitted(by: id).compactMap { item in
            if case .fence(let node, _, _, _) = item.directive { return (item.at, node) }
            return nil
        }
    }

    /// Rule 4(f): with a fence hook, the controller starts it when the owner becomes
    /// unreachable; its success lets the move happen before W1 has passed.
    @Test func test_ownerSilent_fenceSucceeds_reassignedBeforeW1() {
        let (c, _) = Self.silentOwner(previousLeader: "a", fencing: ["a"], until: { !Self.fences($0).isEmpty })
        let fences = Self.fences(c)
        #expect(fences.map(\.node) == ["b"])
        let echo = try! #require(Self.lastEcho(c))
        #expect(c.persistedAssignments(by: "a").filter { $0.epoch == 2 }.isEmpty, "no move before the hook answers")
        c.now = c.now + .milliseconds(2)
        c.step("a", .fenced(node: "b", ok: true, detail: "powered off"))
        c.deliverAll()
        let moves = c.persistedAssignments(by: "a").filter { $0.group == Self.g && $0.epoch == 2 }
        #expect(moves.count == 1)
        if let first = moves.first {
            #expect(first.at < echo + Fast.echoWait, "the fence let the move skip the standing wait")
            #expect(first.owner == "a")
        }
        // Only once per unreachable spell.
        c.advance(by: .milliseconds(100))
        #expect(Self.fences(c).count == 1)
    }

    /// A failed fence never shortens the wait (and the wait does not wait for the hook).
    @Test func test_ownerSilent_fenceFails_stillWaitsW1() {
        let (c, _) = Self.silentOwner(previousLeader: "a", fencing: ["a"], until: { !Self.fences($0).isEmpty })
        c.step("a", .fenced(node: "b", ok: false, detail: "exit 1"))
        c.advance(by: .milliseconds(200))
        let echo = try! #require(Self.lastEcho(c))
        let moves = c.persistedAssignments(by: "a").filter { $0.group == Self.g && $0.epoch == 2 }
        #expect(moves.count == 1)
        if let first = moves.first { #expect(first.at >= echo + Fast.echoWait) }
    }

    /// A hook still running does not hold the move back past the standing wait.
    @Test func test_ownerSilent_fenceNeverAnswers_movesAfterW1() {
        let (c, _) = Self.silentOwner(previousLeader: "a", fencing: ["a"])
        #expect(Self.fences(c).count == 1)
        let echo = try! #require(Self.lastEcho(c))
        let moves = c.persistedAssignments(by: "a").filter { $0.group == Self.g && $0.epoch == 2 }
        #expect(moves.count == 1)
        if let first = moves.first { #expect(first.at >= echo + Fast.echoWait) }
    }

    /// A node heard from while the hook runs is not off: the hook's success is ignored.
    @Test func test_ownerHeardWhileFencing_successIgnored() {
        let (c, _) = Self.silentOwner(previousLeader: "a", fencing: ["a"], until: { !Self.fences($0).isEmpty })
        // One reply from b gets through, then b is silent again.
        c.heal()
        c.advance(by: .milliseconds(11))
        c.drop = { from, to, _ in from == "b" && to == "a" }
        c.step("a", .fenced(node: "b", ok: true, detail: "powered off"))
        c.deliverAll()
        c.advance(by: .milliseconds(200))
        let echo = try! #require(Self.lastEcho(c))
        let moves = c.persistedAssignments(by: "a").filter { $0.group == Self.g && $0.epoch == 2 }
        #expect(moves.count == 1)
        if let first = moves.first { #expect(first.at >= echo + Fast.echoWait, "moved on a void fence") }
        let reasons = c.emitted(by: "a").compactMap { item -> String? in
            if case .event(let e) = item.directive, e.kind == .fence { return e.reason }
            return nil
        }
        #expect(reasons.contains { $0.contains("ignored") || $0.contains("will not shorten") }, "\(reasons)")
    }

    /// Cold start: the leader b does not place g on itself while a, which g prefers, has
    /// only not been heard yet; it places it on a once a answers (within ET of taking office).
    @Test func test_coldStart_preferredNodeNotYetHeard_placementWaitsForIt() {
        let c = Cluster(pairConfig())
        c.drop = { from, _, _ in from == "a" }
        c.startAll()
        c.fire("b", .election)
        #expect(c["b"].role == .leader)
        let office = c.now
        c.advance(to: office + .milliseconds(30))
        #expect(c.persistedAssignments(by: "b").isEmpty, "placed before a could answer")
        c.heal()
        c.advance(to: office + .milliseconds(55))
        #expect(c.persistedAssignments(by: "b").map(\.owner) == ["a"])
    }

    /// ... but not for longer than ET: a node that never answers does not keep g down.
    @Test func test_coldStart_preferredNodeSilent_placedElsewhereAfterET() {
        let c = Cluster(pairConfig())
        c.drop = { from, _, _ in from == "a" }
        c.startAll()
        c.fire("b", .election)
        let office = c.now
        c.advance(to: office + .milliseconds(100))
        let placed = c.persistedAssignments(by: "b")
        #expect(placed.map(\.owner) == ["b"])
        if let first = placed.first { #expect(first.at >= office + Fast.et) }
    }

    /// One stall seen twice (the runtime's tick and a late timer) is one event; a stall after
    /// the exemption has ended is a new one.
    @Test func test_stallReportedTwice_oneEvent() {
        let c = Cluster(pairConfig())
        c.startAll()
        func stalls() -> Int {
            c.emitted(by: "a").filter { if case .event(let e) = $0.directive { return e.kind == .stalled }; return false }.count
        }
        c.step("a", .stalled(.milliseconds(100)))
        c.now = c.now + .milliseconds(1)
        c.step("a", .stalled(.milliseconds(101)))
        #expect(stalls() == 1)
        c.now = c.now + Fast.et + .milliseconds(1)
        c.step("a", .stalled(.milliseconds(100)))
        #expect(stalls() == 2)
    }

    /// Without a hook configured, no fence directive is ever emitted.
    @Test func test_ownerSilent_noHook_noFenceDirective() {
        let (c, _) = Self.silentOwner(previousLeader: "a")
        #expect(Self.fences(c).isEmpty)
    }

    /// The last append a sent b that echoed a stamp and named b owner of g at epoch 1.
    static func lastEcho(_ c: Cluster) -> Instant? {
        c.sent(by: "a").filter { $0.to == "b" && $0.message.append?.echo != nil && $0.message.append?.owned[Self.g] == 1 }
            .map(\.at).max()
    }

    /// Rule 4(c): the controller does not propose moving g away from its silent owner before
    /// W1 has passed since its last echo to it (and then it does).
    @Test func test_ownerSilent_controller_noReassignmentBeforeLastEchoPlusW1() {
        let (c, cut) = Self.silentOwner(previousLeader: "a")
        let echo = Self.lastEcho(c)
        #expect(echo != nil && echo! >= cut)
        let moves = c.persistedAssignments(by: "a").filter { $0.group == Self.g && $0.epoch == 2 }
        #expect(!moves.isEmpty)
        if let echo, let first = moves.first {
            #expect(first.at >= echo + Fast.echoWait)
            #expect(first.owner == "a")
        }
    }

    /// C1: even when the owner led the previous term (rule 4(b) waives W2), the controller
    /// still waits W1 after its own last echo to that owner.
    @Test func test_ownerLedPreviousTermAndSilent_controller_stillWaitsW1AfterOwnEcho() {
        let (c, cut) = Self.silentOwner(previousLeader: "b")
        #expect(c["a"].state.leaderOfTerm[1] == "b")
        let echo = Self.lastEcho(c)
        #expect(echo != nil && echo! >= cut)
        let moves = c.persistedAssignments(by: "a").filter { $0.group == Self.g && $0.epoch == 2 }
        #expect(!moves.isEmpty)
        if let echo, let first = moves.first {
            #expect(first.at >= echo + Fast.echoWait)
        }
    }

    // MARK: - Persist before acting

    /// A follower persists new entries before the reply that acknowledges them.
    @Test func test_append_withNewEntries_replyAfterPersistEntries() {
        var b = startedNode("b")
        let out = b.step(.message(from: "a", heartbeat(entries: Self.ownerEntries, commit: 0)), now: T0 + .milliseconds(2))
        let persist = out.index { $0 == .persist(.entries(Self.ownerEntries)) }
        let reply = out.index { $0.sent?.message.appendReply != nil }
        #expect(persist != nil)
        #expect(reply != nil)
        if let persist, let reply { #expect(persist < reply) }
        #expect(Self.appendReply(in: out)?.match == 2)
    }

    /// A leader's new entries go out to the followers before its own write of them (Raft:
    /// replication in parallel with the leader's disk), and nothing else of the step precedes
    /// that write; it counts itself toward the commit only in a later step.
    @Test func test_leaderProposal_appendsBeforeOwnPersist_commitOnlyOnLaterAck() {
        let c = Cluster(pairConfig())
        c.electA()
        c.now = c.now + .milliseconds(1)
        let out = c.step("a", .request(id: 9, .kv(.put(key: "k", value: [1], ifRevision: nil), fence: nil)))
        let persist = out.firstIndex { if case .persist(.entries) = $0 { return true }; return false }
        let appends = out.indices.filter { out[$0].sent?.message.append?.entries.isEmpty == false }
        #expect(persist != nil)
        #expect(Set(appends.compactMap { out[$0].sent?.to }) == ["b", "w"])
        if let persist {
            #expect(appends.allSatisfy { $0 < persist })
            #expect(out[..<persist].allSatisfy { $0.sent?.message.append != nil })
        }
        #expect(!out.contains { if case .reply = $0 { true } else { false } })
        c.deliverAll()
        #expect(c.replies(of: "a").contains { $0.id == 9 })
    }

    // MARK: - Rule 6: KV fencing

    /// Rule 6: a KV write fenced by a stale epoch is answered `staleEpoch` once committed.
    @Test func test_kvPutRequest_staleFence_answeredStaleEpochOnceCommitted() {
        let c = Cluster(pairConfig())
        c.electA()
        #expect(c["a"].state.groups[Self.g]?.epoch == 1)
        c.now = c.now + .milliseconds(1)
        let taken = c.step("a", .request(id: 7, .kv(.put(key: "k", value: [1], ifRevision: nil), fence: Fence(group: Self.g, epoch: 0))))
        #expect(!taken.contains { if case .reply = $0 { true } else { false } })
        c.deliverAll()
        let replies = c.replies(of: "a").filter { $0.id == 7 }
        #expect(replies.count == 1)
        if case .kvFailed(let error)? = replies.first?.response {
            #expect(error.code == .staleEpoch)
        } else {
            Issue.record("expected kvFailed(staleEpoch), got \(String(describing: replies.first?.response))")
        }
        #expect(c["a"].state.kv.get("k") == nil)
    }

    /// Rule 6: a KV write fenced by the current epoch is written.
    @Test func test_kvPutRequest_currentFence_written() {
        let c = Cluster(pairConfig())
        c.electA()
        c.now = c.now + .milliseconds(1)
        c.step("a", .request(id: 8, .kv(.put(key: "k", value: [1], ifRevision: nil), fence: Fence(group: Self.g, epoch: 1))))
        c.deliverAll()
        let replies = c.replies(of: "a").filter { $0.id == 8 }
        #expect(replies.count == 1)
        if case .written(let revision, _)? = replies.first?.response {
            #expect(revision == 1)
        } else {
            Issue.record("expected written, got \(String(describing: replies.first?.response))")
        }
        #expect(c["a"].state.kv.get("k")?.value == [1])
    }

    // MARK: - Configuration changes

    /// A single-voter cluster with a elected (at once: it needs no pre-vote).
    static func soloLeader() -> Cluster {
        let c = Cluster(singleConfig())
        c.startAll()
        c.fire("a", .election)
        #expect(c["a"].role == .leader)
        return c
    }

    /// A configuration that changes the set of voters is refused with a message that says so.
    @Test func test_configureRequest_changesVoters_refusedWithMessage() {
        let c = Self.soloLeader()
        var next = singleConfig(revision: 2)
        next.nodes.append(NodeConfig("b"))
        c.now = c.now + .milliseconds(1)
        let out = c.step("a", .request(id: 1, .configure(next, source: nil)))
        let refusal = out.compactMap { d -> Refusal? in
            if case .reply(1, .refused(let r)) = d { return r }
            return nil
        }.first
        #expect(refusal?.code == .invalid)
        #expect(refusal?.message.contains("voters") == true)
        let logged = (1...max(1, c["a"].lastLogIndex)).compactMap { c["a"].entry(at: $0) }
        #expect(!logged.contains { if case .configure = $0.command { true } else { false } })
        c.advance(by: Fast.heartbeat)
        #expect(c["a"].config.revision == 1)
        #expect(c["a"].config.voters == ["a"])
    }

    /// A configuration that only changes a group's failback is committed and adopted.
    @Test func test_configureRequest_changesFailbackOnly_acceptedAndAdopted() {
        let c = Self.soloLeader()
        let next = singleConfig(failback: .auto(holdDown: .seconds(5)), revision: 2)
        c.now = c.now + .milliseconds(1)
        c.step("a", .request(id: 2, .configure(next, source: nil)))
        c.advance(by: Fast.heartbeat)
        let replies = c.replies(of: "a").filter { $0.id == 2 }
        #expect(replies.count == 1)
        if case .done? = replies.first?.response {} else {
            Issue.record("expected done, got \(String(describing: replies.first?.response))")
        }
        #expect(c["a"].config.revision == 2)
        #expect(c["a"].config.group(Self.g)?.failback == .auto(holdDown: .seconds(5)))
    }

    /// What the runtime says it runs is reported and committed, so every node sees each
    /// node's version and configuration revision.
    @Test func test_runningInput_leader_reportCommitted() {
        let c = Cluster(pairConfig())
        c.electA()
        c.advance(by: .milliseconds(30))
        c.step("b", .running(software: "9.9.9", configRevision: 1))
        c.step("a", .running(software: "9.9.8", configRevision: 1))
        c.advance(by: .milliseconds(60))
        #expect(c["a"].state.nodes["b"]?.software == "9.9.9")
        #expect(c["b"].state.nodes["a"]?.software == "9.9.8")
        #expect(c["b"].state.nodes["b"]?.configRevision == 1)
    }

    /// A forwarded request whose answer was lost is sent again; when the resend is refused
    /// as "not the leader", the first send may have been carried out, so the answer is
    /// "outcome unknown" (asking again could do it twice). Sent once and refused, it is "no
    /// leader" (it was not taken).
    @Test func test_refusedNoLeader_afterResend_outcomeUnknown() {
        let c = Cluster(pairConfig())
        c.electA()
        c.advance(by: .milliseconds(30))
        // Everything from a to b is lost for a moment: the answer, and the entry itself
        // (a follower answers its own request when it applies it).
        c.drop = { from, to, _ in from == "a" && to == "b" }
        c.step("b", .request(id: 1, .action(.freeze(on: true))))
        c.deliverAll()
        #expect(c["a"].state.frozen)
        c.advance(to: c.now + Fast.heartbeat * 3, stop: { c.sent(by: "b").filter { if case .forward = $0.message { true } else { false } }.count >= 2 })
        let forwards = c.sent(by: "b").filter { if case .forward = $0.message { true } else { false } }
        #expect(forwards.count >= 2, "b resends the request whose answer did not come")
        let origin = RequestOrigin(node: "b", incarnation: c["b"].incarnation, id: 1)
        c.step("b", .message(from: "a", .refused(origin: origin, Refusal(.noLeader, "a is not the leader"))))
        let answer = c.replies(of: "b").first { $0.id == 1 }?.response
        guard case .refused(let refusal)? = answer else {
            Issue.record("expected a refusal, got \(String(describing: answer))")
            return
        }
        #expect(refusal.code == .outcomeUnknown, "\(refusal)")

        // Sent once, refused: not taken.
        c.heal()
        c.step("b", .request(id: 2, .action(.freeze(on: false))))
        let second = RequestOrigin(node: "b", incarnation: c["b"].incarnation, id: 2)
        c.queue.removeAll()
        c.step("b", .message(from: "a", .refused(origin: second, Refusal(.noLeader, "a is not the leader"))))
        guard case .refused(let once)? = c.replies(of: "b").first(where: { $0.id == 2 })?.response else {
            Issue.record("expected a refusal for request 2")
            return
        }
        #expect(once.code == .noLeader)
    }

    // MARK: - Leadership transfer

    /// A leader asked to hand over to a caught-up voter sends it `timeoutNow` and steps down.
    @Test func test_transferLeadershipRequest_caughtUpTarget_sendsTimeoutNowAndStepsDown() {
        let c = Cluster(pairConfig())
        c.electA()
        c.advance(by: .milliseconds(30))
        let out = c.step("a", .request(id: 3, .transferLeadership(to: "b")))
        let handover = out.messages.first { $0.message.timeoutNow != nil }
        #expect(handover?.to == "b")
        #expect(handover?.message.timeoutNow?.term == 1)
        #expect(c["a"].role == .follower)
        #expect(out.contains { $0.eventKind == .steppedDown })
        let replies = out.compactMap { d -> Response? in
            if case .reply(3, let response) = d { return response }
            return nil
        }
        #expect(replies.count == 1)
        // The operator is told the transfer was done (answered before stepping down, which
        // fails every request still pending).
        #expect(out.contains { if case .reply(3, .done) = $0 { true } else { false } }, "\(replies)")
    }

    /// Transfer: the target campaigns with `transfer` set, and a voter that heard from the
    /// leader within ET still grants that vote; the target leads the next term.
    @Test func test_timeoutNow_target_campaignsWithTransferAndRecentVoterGrants() {
        let c = Cluster(pairConfig())
        c.electA()
        c.advance(by: .milliseconds(30))
        c.step("a", .request(id: 3, .transferLeadership(to: "b")))
        #expect(c.now - c["w"].lastHeard < Fast.et)
        c.deliverAll()
        let votes = c.sent(by: "b").compactMap { $0.message.voteRequest }
        #expect(!votes.isEmpty)
        #expect(votes.allSatisfy { $0.transfer && $0.term == 2 })
        let wReply = c.sent(by: "w").first { $0.to == "b" && $0.message.voteReply != nil }?.message.voteReply
        #expect(wReply == VoteReply(term: 2, granted: true))
        #expect(c["b"].role == .leader)
        #expect(c["b"].term == 2)
    }

    // MARK: - Snapshots

    /// Puts `count` KV writes through leader a, one per millisecond, delivering everything.
    static func put(_ c: Cluster, count: Int, from first: Int = 1) {
        for i in first..<(first + count) {
            c.now = c.now + .milliseconds(1)
            c.step("a", .request(id: UInt64(100 + i), .kv(.put(key: "k\(i)", value: [UInt8(i)], ifRevision: nil), fence: nil)))
            c.deliverAll()
        }
    }

    /// Compaction: past `snapshotThreshold` applied entries the leader persists a snapshot that
    /// keeps the later entries, and drops the compacted entries from its log.
    @Test func test_committedEntriesPastThreshold_leaderPersistsSnapshotKeepingLaterEntries() {
        let c = Cluster(pairConfig(snapshotThreshold: 5))
        c.electA()
        Self.put(c, count: 6)
        let snapshots = c.emitted(by: "a").compactMap { item -> (Snapshot, Bool)? in
            if case .persist(.snapshot(let s, let keep)) = item.directive { return (s, keep) }
            return nil
        }
        #expect(!snapshots.isEmpty)
        #expect(snapshots.allSatisfy { $0.1 })
        let a = c["a"]
        #expect(a.snapshotIndex > 0)
        #expect(a.snapshotIndex <= a.appliedIndex)
        #expect(a.entry(at: a.snapshotIndex) == nil)
        #expect(c.disks["a"]?.snapshot?.index == a.snapshotIndex)
    }

    /// A follower whose next entry was compacted away gets the leader's snapshot and installs
    /// it: its applied index jumps to the snapshot's.
    @Test func test_snapshotMessage_followerBehindSnapshot_installsIt() {
        let c = Cluster(pairConfig(snapshotThreshold: 5))
        c.electA()
        c.drop = { _, to, _ in to == "b" }
        Self.put(c, count: 12)
        let snapshotIndex = c["a"].snapshotIndex
        let behind = c["b"].appliedIndex
        #expect(behind < snapshotIndex)
        #expect(c["b"].lastLogIndex < snapshotIndex)
        c.heal()
        c.advance(by: .milliseconds(15))
        let transfers = c.sent(by: "a").filter { $0.to == "b" }.compactMap { $0.message.snapshotTransfer }
        #expect(!transfers.isEmpty)
        #expect(c["b"].appliedIndex >= snapshotIndex)
        #expect(c["b"].snapshotIndex >= snapshotIndex)
        #expect(c["b"].state.kv.get("k1")?.value == [1])
        #expect(c.emitted(by: "b").contains { item in
            if case .persist(.snapshot) = item.directive { return true }
            return false
        })
    }

    // MARK: - Learners and witnesses

    /// A learner never campaigns, even when the leader is gone and a new one is elected.
    @Test func test_leaderLost_learner_neverCampaigns() {
        let c = Cluster(pairConfig(learner: true))
        let elected = c.electA()
        c.isolate("a")
        c.advance(to: elected + .milliseconds(500))
        #expect(c["b"].role == .leader || c["w"].role == .leader)
        #expect(c["l"].role == .learner)
        let campaigns = c.sent(by: "l").filter { $0.message.voteRequest != nil || $0.message.preVoteRequest != nil }
        #expect(campaigns.isEmpty)
        #expect(!c.emitted(by: "l").contains { $0.directive.eventKind == .campaign })
        // Its election timer input is ignored too.
        c.now = c.now + .seconds(10)
        let out = c.step("l", .timer(.election))
        #expect(!out.messages.contains { $0.message.preVoteRequest != nil || $0.message.voteRequest != nil })
    }

    /// A witness is never assigned a group: with both nodes' checks failing, the group stays
    /// unplaced (and the controller says so).
    @Test func test_checksFailOnBothNodes_controller_neverAssignsWitness() {
        let c = Cluster(pairConfig())
        c.startAll()
        c.step("a", .checks(group: Self.g, passing: false))
        c.step("b", .checks(group: Self.g, passing: false))
        c.fire("a", .election)
        #expect(c["a"].role == .leader)
        c.advance(by: .milliseconds(200))
        #expect(c["a"].state.groups[Self.g]?.owner == nil)
        #expect(c.persistedAssignments(by: "a").isEmpty)
        #expect(c.emitted(by: "a").contains { item in
            if case .event(let e) = item.directive { return e.kind == .refused && e.group == Self.g }
            return false
        })
    }

    /// C6 as in the model: the append that carries an assignment already names the new
    /// owner (the latest assignment in the leader's whole log), so the new owner's
    /// acknowledgement carries the stamp and the commit can bring the echo with it. The
    /// old owner is named no more from that append on.
    @Test func test_switchover_appendOfAssignment_namesNewOwnerNotOld() {
        let c = Cluster(pairConfig())
        c.electA()
        c.advance(by: .milliseconds(100))
        #expect(c["a"].state.groups[Self.g]?.owner == "a")
        let epoch = c["a"].state.groups[Self.g]?.epoch ?? 0
        c.step("a", .groupStarted(group: Self.g, epoch: epoch, ok: true))
        c.deliverAll()
        c.advance(by: .milliseconds(50))
        c.step("a", .request(id: 5, .action(.switchover(Self.g, to: "b"))))
        c.deliverAll()
        c.advance(by: .milliseconds(20))
        #expect(c["a"].activeGroups.isEmpty || c.emitted(by: "a").contains { $0.directive.isDeactivate })
        c.step("a", .groupStopped(group: Self.g, epoch: epoch))
        let carrying = c.sent(by: "a").filter { item in
            item.to == "b" && item.message.append?.entries.contains { entry in
                if case .assign(Self.g, "b", epoch + 1, _) = entry.command { return true }
                return false
            } == true
        }
        #expect(!carrying.isEmpty)
        #expect(carrying.first?.message.append?.owned == [Self.g: epoch + 1])
        c.deliverAll()
        #expect(c["b"].activeGroups == [Self.g: epoch + 1])
        #expect(c["b"].activationRecords[Self.g] == epoch + 1)
    }

    /// A switchover to the witness is refused as invalid.
    @Test func test_switchoverRequest_toWitness_refused() {
        let c = Cluster(pairConfig())
        c.electA()
        c.now = c.now + .milliseconds(1)
        c.step("a", .request(id: 4, .action(.switchover(Self.g, to: "w"))))
        c.advance(by: .milliseconds(20))
        let reply = c.replies(of: "a").first { $0.id == 4 }?.response
        if case .refused(let refusal)? = reply {
            #expect(refusal.code == .invalid)
        } else {
            Issue.record("expected a refusal, got \(String(describing: reply))")
        }
        #expect(c["a"].state.groups[Self.g]?.owner == "a")
    }

    // MARK: - Bad input

    /// A message from a node that is not in the configuration is ignored: nothing but timers.
    @Test func test_message_fromUnknownNode_ignored() {
        var b = startedNode("b")
        let at = T0 + .seconds(1)
        let request = VoteRequest(term: 5, lastIndex: 9, lastTerm: 5, transfer: true)
        let messages: [Message] = [
            .vote(request), .preVote(request),
            heartbeat(term: 5, entries: Self.ownerEntries, commit: 2, owned: [Self.g: 1], echo: Stamp(at: at, incarnation: 1)),
            .timeoutNow(TimeoutNow(term: 0, standingLeft: .zero)),
            .releaseRequest(term: 0, group: Self.g, epoch: 1),
        ]
        for message in messages {
            let out = b.step(.message(from: "x", message), now: at)
            #expect(out.allSatisfy { $0.isTimer }, "\(message)")
        }
        #expect(b.term == 0)
        #expect(b.leader == nil)
        #expect(b.lastLogIndex == 0)
        #expect(b.role == .follower)
    }

    /// Inputs before `.start` produce nothing and change nothing.
    @Test func test_inputs_beforeStart_produceNothing() {
        var b = TandemNode(id: "b", config: pairConfig(), persisted: PersistentState(), seed: 1)
        let inputs: [Input] = [
            .timer(.election), .timer(.heartbeat), .timer(.deadline),
            .message(from: "a", heartbeat(entries: Self.ownerEntries, commit: 2, owned: [Self.g: 1])),
            .message(from: "a", .vote(VoteRequest(term: 1, lastIndex: 0, lastTerm: 0, transfer: true))),
            .checks(group: Self.g, passing: false), .upstream(reachable: false),
            .request(id: 1, .readBarrier), .groupStopped(group: Self.g, epoch: 1), .stalled(.seconds(1)),
        ]
        for input in inputs {
            #expect(b.step(input, now: T0 + .seconds(5)).isEmpty, "\(input)")
        }
        #expect(b.term == 0)
        #expect(b.incarnation == 0)
        #expect(b.lastLogIndex == 0)
    }

    // MARK: - Single voter

    /// Rule 1 with one voter: the quorum is the leader itself, so every round it sends is
    /// acknowledged by a quorum and Q advances; the sole voter keeps leading past L.
    @Test func test_heartbeats_singleVoterLeader_keepsStandingPastLease() {
        let c = Self.soloLeader()
        let elected = c.now
        c.advance(to: elected + .milliseconds(200))
        #expect(c["a"].role == .leader)
        let stepDowns = c.emitted(by: "a").filter { $0.directive.eventKind == .steppedDown }.map(\.at)
        #expect(stepDowns.isEmpty, "stepped down at \(stepDowns), elected at \(elected)")
    }
}
