/// Raft among the voters: pre-vote, elections spread by priority, leader stickiness and
/// check-quorum (rules 1 and 5), pipelined and batched replication, commit, snapshots,
/// leadership transfer, learners.

extension TandemNode {
    static let maxBatch = 64
    static let maxInflight = 4
    static let keptRounds = 128

    // MARK: - Election timer (rule 5)

    /// This node's election timeout: at least ET; spread by priority so that the preferred
    /// successor campaigns first and the witness last, plus a little jitter.
    mutating func electionTimeoutSpan() -> Int64 {
        let h = timing.heartbeat
        let candidates = members.voters.filter { $0 != leader }
        let ranked = candidates.sorted { lhs, rhs in
            let l = members.node[lhs]!, r = members.node[rhs]!
            let lw = l.kind == .witness, rw = r.kind == .witness
            if lw != rw { return !lw }
            if l.priority != r.priority { return l.priority > r.priority }
            return lhs < rhs
        }
        let rank = Int64(ranked.firstIndex(of: id) ?? ranked.count)
        let jitter = Int64(rng.next() % UInt64(max(1, h / 2)))
        return timing.electionTimeout + rank * h + jitter
    }

    /// Whether `lhs` campaigns before `rhs`: non-witness first, then higher priority, then name.
    func outranks(_ lhs: NodeID, _ rhs: NodeID) -> Bool {
        guard let l = members.node[lhs], let r = members.node[rhs] else { return false }
        let lw = l.kind == .witness, rw = r.kind == .witness
        if lw != rw { return !lw }
        if l.priority != r.priority { return l.priority > r.priority }
        return lhs < rhs
    }

    mutating func resetElectionTimer(_ now: Instant) {
        guard isVoter, role != .leader else {
            cancel(.election)
            return
        }
        electionDeadline = lastHeard + .nanoseconds(electionTimeoutSpan())
        schedule(.election, at: max(electionDeadline, now))
    }

    /// Rule 5: has this node not heard from a leader for ET?
    func quietForElectionTimeout(_ now: Instant) -> Bool {
        role != .leader && (now - lastHeard).nanoseconds >= timing.electionTimeout
    }

    mutating func electionTimeout(_ now: Instant) {
        guard isVoter, role != .leader else { return }
        guard quietForElectionTimeout(now) else {
            resetElectionTimer(now)
            return
        }
        campaignIsTransfer = false
        if members.voters.count == 1 {
            campaign(now, transfer: false)
        } else {
            preVote(now)
        }
        // Retry if this round comes to nothing.
        electionDeadline = now + .nanoseconds(electionTimeoutSpan())
        schedule(.election, at: electionDeadline)
    }

    mutating func preVote(_ now: Instant) {
        role = .preCandidate
        votes = [id]
        event(.campaign, reason: "pre-vote for term \(term + 1)",
              evidence: "no leader heard for \(formatMilliseconds((now - lastHeard).nanoseconds))", now: now)
        let request = VoteRequest(term: term + 1, lastIndex: log.lastIndex, lastTerm: log.lastTerm, transfer: false)
        for voter in members.voters where voter != id { send(.preVote(request), to: voter) }
        schedule(.heartbeat, at: now + .nanoseconds(timing.heartbeat))
    }

    mutating func campaign(_ now: Instant, transfer: Bool) {
        term += 1
        votedFor = id
        role = .candidate
        leader = nil
        votes = [id]
        campaignStart = now
        campaignIsTransfer = transfer
        emit(.persist(.hardState(term: term, vote: id)))
        event(.campaign, reason: transfer ? "campaign by leadership transfer" : "campaign for term \(term)", now: now)
        let request = VoteRequest(term: term, lastIndex: log.lastIndex, lastTerm: log.lastTerm, transfer: transfer)
        for voter in members.voters where voter != id { send(.vote(request), to: voter) }
        schedule(.heartbeat, at: now + .nanoseconds(timing.heartbeat))
        if votes.count >= quorum { becomeLeader(now) }
    }

    func logIsUpToDate(lastIndex: LogIndex, lastTerm: Term) -> Bool {
        lastTerm > log.lastTerm || (lastTerm == log.lastTerm && lastIndex >= log.lastIndex)
    }

    // MARK: - Receiving

    mutating func receive(_ message: Message, from: NodeID, now: Instant) {
        guard members.node[from] != nil else { return }
        if fences[from] != nil { heardDuringFence(from, now: now) }
        switch message {
        case .preVote(let request): onPreVote(request, from: from, now: now)
        case .preVoteReply(let reply): onPreVoteReply(reply, from: from, now: now)
        case .vote(let request): onVote(request, from: from, now: now)
        case .voteReply(let reply): onVoteReply(reply, from: from, now: now)
        case .append(let append): onAppend(append, from: from, now: now)
        case .appendReply(let reply): onAppendReply(reply, from: from, now: now)
        case .snapshot(let transfer): onSnapshot(transfer, from: from, now: now)
        case .timeoutNow(let t): onTimeoutNow(t, from: from, now: now)
        case .released(let t, let group, let epoch):
            if role == .leader, t == term, state.groups[group]?.owner == from, state.groups[group]?.epoch == epoch {
                releasedTo[group] = max(releasedTo[group] ?? 0, epoch)
            }
        case .activated(let t, let group, let epoch):
            if role == .leader, t == term { activatedAt[group] = max(activatedAt[group] ?? 0, epoch) }
        case .releaseRequest(let t, let group, let epoch):
            if t == term, from == leader { releaseRequested(group, epoch: epoch, now: now) }
        case .report(let t, let report):
            if role == .leader, t == term { considerReport(report, from: from) }
        case .forward(let t, let origin, let request):
            if role == .leader, t <= term {
                takeAsLeader(request, origin: origin, now: now)
            } else {
                send(.refused(origin: origin, Refusal(.noLeader, "\(id) is not the leader")), to: origin.node)
            }
        case .refused(let origin, var refusal):
            guard isMine(origin) else { break }
            // "Not the leader" says the request was not taken by the node that refused it; if
            // it was sent before (a resend after a lost answer), an earlier leader may have
            // carried it out, so asking again could do it twice (found by a drill: a
            // switchover resent after a leadership transfer came back refused, was asked
            // again, and moved the group back).
            if refusal.code == .noLeader, let item = forwarded[origin.id], item.sends > 1 {
                refusal = Refusal(.outcomeUnknown, "\(refusal.message); the request was sent \(item.sends) times and an earlier leader may have carried it out")
            }
            answer(origin.id, .refused(refusal))
        case .answered(let origin, let response):
            if isMine(origin) { answer(origin.id, response) }
        case .readIndex(let t, let origin):
            if role == .leader, t <= term, leaderStands(now), commitIndex >= noopIndex {
                send(.readIndexReply(term: term, origin: origin, index: commitIndex), to: from)
            } else if role == .leader, t <= term, leaderStands(now) {
                leaderReads.append((origin, noopIndex))
            } else {
                send(.refused(origin: origin, Refusal(.noLeader, "\(id) is not a leader with standing")), to: from)
            }
        case .readIndexReply(_, let origin, let index):
            if isMine(origin), forwarded.removeValue(forKey: origin.id) != nil { waitingReads.append((origin.id, index)) }
        }
    }

    /// Whether an answer is for a request this incarnation of this node took (request ids
    /// start again after a restart; a late answer to the previous incarnation is dropped).
    func isMine(_ origin: RequestOrigin) -> Bool { origin.node == id && origin.incarnation == incarnation }

    /// Adopts a newer term (persisting it) and becomes a follower.
    mutating func adopt(term newTerm: Term, leader newLeader: NodeID?, now: Instant) {
        if newTerm > term {
            let wasLeader = role == .leader
            term = newTerm
            votedFor = nil
            emit(.persist(.hardState(term: term, vote: nil)))
            // A request forwarded in an earlier term may have been taken by a leader that
            // lost it: its outcome is unknown (a resend could apply it twice).
            failForwardedRequests()
            if wasLeader {
                stepDown(now, reason: "a newer term \(newTerm) exists", evidence: "")
            }
        }
        if role != .follower, role != .learner {
            if role == .leader {
                stepDown(now, reason: "another leader exists in term \(term)", evidence: "")
            } else {
                cancel(.heartbeat)
            }
            role = isVoter ? .follower : .learner
        }
        if newLeader != nil, transferOut != nil {
            transferOut = nil
            cancel(.heartbeat)
        }
        if let newLeader, leader != newLeader {
            leader = newLeader
            failForwardedRequests()
            sendReport(now)
            resendReleases(now)
        }
    }

    mutating func onPreVote(_ request: VoteRequest, from: NodeID, now: Instant) {
        var grant = isVoter && request.term > term && quietForElectionTimeout(now)
            && logIsUpToDate(lastIndex: request.lastIndex, lastTerm: request.lastTerm)
        // Two pre-candidates at once would split the votes: the lower-ranked one yields
        // to the higher-ranked one (priority spreads elections, rule 5), and the higher
        // one does not help the lower, unless the lower one's log is more up to date (then
        // only it can win).
        if grant, role == .preCandidate {
            let moreUpToDate = request.lastTerm > log.lastTerm || (request.lastTerm == log.lastTerm && request.lastIndex > log.lastIndex)
            if outranks(from, id) || moreUpToDate {
                role = .follower
                votes = []
                cancel(.heartbeat)
                electionDeadline = now + .nanoseconds(electionTimeoutSpan())
                schedule(.election, at: electionDeadline)
            } else {
                grant = false
            }
        }
        send(.preVoteReply(VoteReply(term: grant ? request.term : term, granted: grant)), to: from)
    }

    mutating func onPreVoteReply(_ reply: VoteReply, from: NodeID, now: Instant) {
        if !reply.granted, reply.term > term {
            adopt(term: reply.term, leader: nil, now: now)
            return
        }
        guard role == .preCandidate, reply.granted, reply.term == term + 1 else { return }
        votes.insert(from)
        if votes.count >= quorum { campaign(now, transfer: false) }
    }

    mutating func onVote(_ request: VoteRequest, from: NodeID, now: Instant) {
        guard isVoter else { return }
        if request.term < term {
            send(.voteReply(VoteReply(term: term, granted: false)), to: from)
            return
        }
        if request.term == term, votedFor == from, role != .leader {
            // The same request again (the reply was lost): the same answer.
            send(.voteReply(VoteReply(term: term, granted: true)), to: from)
            return
        }
        // Rule 5 and leader stickiness: a node that heard from a leader (or leads) within ET
        // ignores the request and keeps its term. A transfer waives this (the new leader
        // then treats the old one by rule 4(c)).
        if !request.transfer, !quietForElectionTimeout(now) {
            send(.voteReply(VoteReply(term: term, granted: false)), to: from)
            return
        }
        if request.term > term { adopt(term: request.term, leader: nil, now: now) }
        let grant = (votedFor == nil || votedFor == from)
            && logIsUpToDate(lastIndex: request.lastIndex, lastTerm: request.lastTerm)
        if grant {
            votedFor = from
            emit(.persist(.hardState(term: term, vote: from)))
            // Rule 5 (C2): granting a vote counts as hearing from a leader.
            lastHeard = max(lastHeard, now)
            resetElectionTimer(now)
        }
        send(.voteReply(VoteReply(term: term, granted: grant)), to: from)
    }

    mutating func onVoteReply(_ reply: VoteReply, from: NodeID, now: Instant) {
        if reply.term > term {
            adopt(term: reply.term, leader: nil, now: now)
            return
        }
        guard role == .candidate, reply.term == term, reply.granted else { return }
        votes.insert(from)
        if votes.count >= quorum { becomeLeader(now) }
    }

    mutating func becomeLeader(_ now: Instant) {
        role = .leader
        leader = id
        tookOffice = now
        cancel(.election)
        // Rule 1: the election round (the vote request) is acknowledged by the quorum that
        // granted its votes.
        round = 1
        firstRound = 1
        roundTimes = [campaignStart]
        quorumRound = campaignStart
        peers = [:]
        for node in others {
            var peer = Peer(next: log.lastIndex + 1, lastAck: now)
            if votes.contains(node) {
                peer.ackedRound = 1
                peer.acked = true
            }
            peers[node] = peer
        }
        releasedTo = [:]
        fences = [:]
        activatedAt = [:]
        proposedAt = [:]
        proposedReports = [:]
        pendingSeen = [:]
        eligibleSince = [:]
        releaseAsked = [:]
        downReported = []
        logOwners = [:]
        for (group, g) in state.groups { if let owner = g.owner { logOwners[group] = (owner, g.epoch) } }
        // C11: an assignment another leader appended, not yet applied here, is a decision
        // whose waits were counted against that leader's echoes, not against echoes of the
        // leaders since. Nobody is named owner by it, nor does this node activate on it,
        // before the wait after taking office has passed.
        inheritedHold = [:]
        let hold = campaignIsTransfer && transferFrom != nil
            ? max(now + .nanoseconds(timing.officeWait), transferFrom!.until + .nanoseconds(timing.echoWait))
            : now + .nanoseconds(timing.officeWait)
        var k = state.applied + 1
        while let entry = log.entry(at: k) {
            if case .assign(let group, let owner, let epoch, _) = entry.command, epoch > (logOwners[group]?.epoch ?? 0) {
                logOwners[group] = (owner, epoch)
                inheritedHold[group] = hold
            }
            k += 1
        }
        transferOut = nil
        if !campaignIsTransfer { transferFrom = nil }
        event(.leader, reason: campaignIsTransfer ? "elected by leadership transfer" : "elected by timeout",
              evidence: "votes from \(votes.sorted().map(\.name).joined(separator: ",")) for term \(term)", now: now)
        propose(.leader(id))
        noopIndex = log.lastIndex
        failForwardedRequests()
        considerReport(report, from: id)
        broadcast(now)
        schedule(.heartbeat, at: now + .nanoseconds(timing.heartbeat))
    }

    /// Leaves office. Standing is not extended; it only stops being renewed (rule 1).
    mutating func stepDown(_ now: Instant, reason: String, evidence: String) {
        guard role == .leader else { return }
        role = isVoter ? .follower : .learner
        leader = nil
        // Rule 5 (C2): a leader's own office counts as hearing from a leader.
        lastHeard = max(lastHeard, now)
        cancel(.heartbeat)
        peers = [:]
        leaderReads = []
        event(.steppedDown, reason: reason, evidence: evidence, now: now)
        failForwardedRequests()
        resetElectionTimer(now)
    }

    // MARK: - Leader: rounds, heartbeats, replication

    /// Rule 1: the leader stands while `now < Q + L`.
    func leaderStands(_ now: Instant) -> Bool {
        guard let q = quorumRound else { return false }
        return now < q + .nanoseconds(timing.lease)
    }

    mutating func heartbeatTimer(_ now: Instant) {
        switch role {
        case .leader:
            if leaderStands(now) { broadcast(now) }
        case .preCandidate, .candidate:
            // Lost requests or replies: ask the voters that have not granted again, once per
            // heartbeat interval, within the same round.
            let request = VoteRequest(term: role == .candidate ? term : term + 1, lastIndex: log.lastIndex, lastTerm: log.lastTerm, transfer: campaignIsTransfer)
            for voter in members.voters where voter != id && !votes.contains(voter) {
                send(role == .candidate ? .vote(request) : .preVote(request), to: voter)
            }
        case .follower, .learner:
            if let transfer = transferOut, now < transfer.until, leader == nil || leader == id {
                send(.timeoutNow(transfer.message), to: transfer.target)
            } else {
                transferOut = nil
                return
            }
        }
        schedule(.heartbeat, at: now + .nanoseconds(timing.heartbeat))
    }

    /// A new round to every other node: entries where they are behind, else a heartbeat.
    /// Rule 1: a leader without standing sends none.
    mutating func broadcast(_ now: Instant) {
        guard role == .leader, leaderStands(now) else { return }
        round += 1
        roundTimes.append(now)
        // With a single voter the leader is its own quorum: every round counts at once.
        if members.voters.count == 1 { quorumRound = now }
        if roundTimes.count > Self.keptRounds {
            roundTimes.removeFirst(roundTimes.count - Self.keptRounds)
            firstRound = round - UInt64(Self.keptRounds) + 1
        }
        for node in others {
            guard var peer = peers[node] else { continue }
            // Appends lost on the way (no progress for a heartbeat interval): send again
            // from the last known match.
            if peer.inflight > 0, (now - peer.lastProgress).nanoseconds >= timing.heartbeat {
                peer.next = peer.match + 1
                peer.inflight = 0
                peers[node] = peer
            }
            sendAppend(to: node, now: now, heartbeat: true)
        }
    }

    /// The groups whose latest assignment in this leader's whole log, committed or not,
    /// names `node` owner (C6), except those being moved away from it by a planned move
    /// (their standing is then left to lapse) and those inherited from an earlier leader
    /// within their hold (C11). Naming a new owner as soon as its assignment is appended
    /// lets its acknowledgement of that append carry the stamp, so the commit and the echo
    /// reach it together; it still activates only once the assignment is committed
    /// (rule 3 (i)). This is the naming of the SPIN model (the owner at the end of the
    /// heartbeat's log).
    func ownedGroups(of node: NodeID, now: Instant) -> [GroupID: Epoch] {
        var owned: [GroupID: Epoch] = [:]
        for (group, latest) in logOwners where latest.owner == node && state.groups[group] != nil {
            if let hold = inheritedHold[group], now < hold { continue }
            if let asked = releaseAskedEpoch(group), asked == latest.epoch { continue }
            owned[group] = latest.epoch
        }
        return owned
    }

    func releaseAskedEpoch(_ group: GroupID) -> Epoch? {
        releaseAsked[group] == nil ? nil : state.groups[group]?.epoch
    }

    func silent(_ node: NodeID, _ now: Instant, for span: Int64) -> Bool {
        guard node != id else { return false }
        guard let peer = peers[node] else { return true }
        return (now - peer.lastAck).nanoseconds >= span
    }

    mutating func sendAppend(to node: NodeID, now: Instant, heartbeat: Bool) {
        // Rule 1: a leader without standing sends nothing that could renew anyone's standing
        // (an earlier leader's echoes must all precede the end of its standing: W2).
        guard role == .leader, leaderStands(now), var peer = peers[node] else { return }
        if peer.next <= log.snapshotIndex {
            if heartbeat || peer.lastSnapshotSent == nil
                || (now - peer.lastSnapshotSent!).nanoseconds >= timing.electionTimeout
            {
                peer.lastSnapshotSent = now
                peers[node] = peer
                let snapshot = Snapshot(index: log.snapshotIndex, term: log.snapshotTerm, state: snapshotState())
                send(.snapshot(SnapshotTransfer(term: term, snapshot: snapshot, round: round)), to: node)
            }
            return
        }
        var entries: [Entry] = []
        var prev = peer.next - 1
        if peer.next <= log.lastIndex, peer.inflight < Self.maxInflight {
            entries = log.slice(from: peer.next, max: Self.maxBatch)
            peer.next = entries.last!.index + 1
            if peer.inflight == 0 { peer.lastProgress = now }
            peer.inflight += 1
        } else if !heartbeat {
            return
        } else if peer.inflight > 0 {
            prev = peer.match
        }
        let owned = ownedGroups(of: node, now: now)
        var echo: Stamp?
        peer.echoWithheld = false
        if !owned.isEmpty, let stamp = peer.stamp, !silent(node, now, for: timing.echoSilence) {
            echo = stamp
            peer.echoedStampReceivedAt = peer.stampReceivedAt
            var sent = lastEchoSent[node] ?? [:]
            for (group, epoch) in owned { sent[group] = (epoch, now) }
            lastEchoSent[node] = sent
        } else if !owned.isEmpty {
            peer.echoWithheld = true
        }
        peers[node] = peer
        let append = Append(
            term: term, prevIndex: prev, prevTerm: log.term(at: prev) ?? 0, entries: entries,
            commit: commitIndex, round: round, owned: owned, echo: echo)
        send(.append(append), to: node)
    }

    /// The applied state at the snapshot index: the state of the last snapshot taken.
    func snapshotState() -> ReplicatedState { lastSnapshot?.state ?? state }

    mutating func onAppendReply(_ reply: AppendReply, from: NodeID, now: Instant) {
        if reply.term > term {
            adopt(term: reply.term, leader: nil, now: now)
            return
        }
        guard role == .leader, reply.term == term, var peer = peers[from] else { return }
        peer.lastAck = now
        peer.acked = true
        peer.ackedRound = max(peer.ackedRound, reply.round)
        peer.applied = max(peer.applied, reply.applied)
        if let stamp = reply.stamp {
            if let old = peer.stamp, old.incarnation == stamp.incarnation {
                if stamp.at > old.at {
                    peer.stamp = stamp
                    peer.stampReceivedAt = now
                }
            } else if peer.stamp == nil || stamp.incarnation > peer.stamp!.incarnation {
                peer.stamp = stamp
                peer.stampReceivedAt = now
            }
        }
        if reply.success {
            if reply.match > peer.match { peer.lastProgress = now }
            peer.match = max(peer.match, reply.match)
            peer.next = max(peer.next, peer.match + 1)
            peer.inflight = max(0, peer.inflight - 1)
            peers[from] = peer
            advanceCommit()
        } else {
            peer.next = max(peer.match + 1, min(peer.next, reply.match + 1))
            peer.inflight = 0
            peers[from] = peer
            sendAppend(to: from, now: now, heartbeat: false)
        }
        updateQuorumRound()
        if peers[from]!.next <= log.lastIndex {
            sendAppend(to: from, now: now, heartbeat: false)
        } else if reply.stamp != nil, peers[from]!.immediateRound < round,
                  peers[from]!.echoWithheld || staleEcho(peers[from]!, now)
                    || ownedGroups(of: from, now: now).contains(where: { (activatedAt[$0.key] ?? 0) < $0.value })
        {
            // A new owner waits for its first echo to activate, and an owner heard again
            // after a silence may be close to the end of its standing: echo at once (at
            // most once a round).
            peers[from]!.immediateRound = round
            sendAppend(to: from, now: now, heartbeat: true)
        }
    }

    /// The owner's standing rests on a stamp that arrived long ago (lost rounds): a third of
    /// the lease used up, or a round and a half, whichever is longer.
    func staleEcho(_ peer: Peer, _ now: Instant) -> Bool {
        guard let echoed = peer.echoedStampReceivedAt else { return false }
        return (now - echoed).nanoseconds >= max(timing.lease / 3, timing.heartbeat * 3 / 2)
    }

    /// Rule 1: Q is the send time of the newest round acknowledged by a quorum (self included).
    mutating func updateQuorumRound() {
        var acked = [round]
        for voter in members.voters where voter != id { acked.append(peers[voter]?.ackedRound ?? 0) }
        acked.sort(by: >)
        let r = acked[quorum - 1]
        guard r >= firstRound, r <= round else { return }
        let sent = roundTimes[Int(r - firstRound)]
        if quorumRound == nil || sent > quorumRound! { quorumRound = sent }
    }

    mutating func advanceCommit() {
        var matches = [log.lastIndex]
        for voter in members.voters where voter != id { matches.append(peers[voter]?.match ?? 0) }
        matches.sort(by: >)
        let candidate = matches[quorum - 1]
        // Raft §5.4.2: only entries of the leader's own term are committed by counting.
        if candidate > commitIndex, log.term(at: candidate) == term {
            commitIndex = candidate
            commitAdvanced = true
        }
    }

    // MARK: - Follower: appends and snapshots

    /// An append or snapshot from `from` claiming to lead `leaderTerm`: refuses a stale one
    /// (the reply tells the old leader the newer term), else follows it and counts it as
    /// hearing from a leader (rule 5).
    mutating func follow(_ from: NodeID, leaderTerm: Term, round: UInt64, now: Instant) -> Bool {
        guard leaderTerm >= term else {
            send(.appendReply(AppendReply(term: term, success: false, match: 0, round: round, stamp: nil, applied: state.applied)), to: from)
            return false
        }
        adopt(term: leaderTerm, leader: from, now: now)
        lastHeard = max(lastHeard, now)
        resetElectionTimer(now)
        return true
    }

    mutating func onAppend(_ append: Append, from: NodeID, now: Instant) {
        guard follow(from, leaderTerm: append.term, round: append.round, now: now) else { return }

        var prev = append.prevIndex
        var entries = append.entries
        if prev < log.snapshotIndex {
            // Entries through our snapshot are committed and equal; skip them.
            entries.removeAll { $0.index <= log.snapshotIndex }
            prev = log.snapshotIndex
        }
        let stamp = append.owned.isEmpty ? nil : Stamp(at: now, incarnation: incarnation)
        if prev > log.lastIndex {
            reply(to: from, success: false, match: log.lastIndex, append: append, stamp: stamp)
            return
        }
        if prev > log.snapshotIndex, prev == append.prevIndex, log.term(at: prev) != append.prevTerm {
            let hint = max(commitIndex, log.firstIndex(ofTermAt: prev) - 1)
            reply(to: from, success: false, match: hint, append: append, stamp: stamp)
            return
        }
        var newEntries: [Entry] = []
        for (offset, entry) in entries.enumerated() {
            if entry.index <= log.lastIndex {
                if log.term(at: entry.index) == entry.term { continue }
                guard entry.index > commitIndex else {
                    // Raft's safety argument excludes this; refuse loudly rather than lose a
                    // committed entry.
                    event(.refused, reason: "append from \(from) conflicts with committed entry \(entry.index); ignored",
                          evidence: "local term \(log.term(at: entry.index) ?? 0), leader's \(entry.term)", now: now)
                    reply(to: from, success: false, match: commitIndex, append: append, stamp: nil)
                    return
                }
                log.truncate(from: entry.index)
            }
            newEntries = Array(entries[offset...])
            break
        }
        if !newEntries.isEmpty {
            for entry in newEntries { log.append(entry) }
            emit(.persist(.entries(newEntries)))
            prepareRecords(for: newEntries)
        }
        let lastNew = prev + LogIndex(entries.count)
        if append.commit > commitIndex { commitIndex = max(commitIndex, min(append.commit, lastNew)) }
        // Rule 2 (C4): an echo of a stamp of this incarnation gives standing for exactly the
        // groups and epochs this heartbeat names this node owner of.
        if let echo = append.echo, echo.incarnation == incarnation {
            let until = echo.at + .nanoseconds(timing.lease)
            for (group, epoch) in append.owned {
                if let current = echoStanding[group], current.epoch == epoch, current.until >= until { continue }
                echoStanding[group] = (epoch, until)
            }
        }
        // Groups this node gave up at the epoch the leader still names: say so again.
        for group in append.owned.keys.sorted() where local[group] == nil && (activationRecords[group] ?? 0) >= append.owned[group]! {
            let epoch = append.owned[group]!
            send(.released(term: term, group: group, epoch: epoch), to: from)
        }
        reply(to: from, success: true, match: lastNew, append: append, stamp: stamp)
    }

    mutating func reply(to leader: NodeID, success: Bool, match: LogIndex, append: Append, stamp: Stamp?) {
        // Applied after this step equals the commit index (entries are applied in the step).
        send(.appendReply(AppendReply(term: term, success: success, match: match, round: append.round, stamp: stamp, applied: commitIndex)), to: leader)
    }

    mutating func onSnapshot(_ transfer: SnapshotTransfer, from: NodeID, now: Instant) {
        guard follow(from, leaderTerm: transfer.term, round: transfer.round, now: now) else { return }
        let snapshot = transfer.snapshot
        if snapshot.index > commitIndex {
            let keep = log.term(at: snapshot.index) == snapshot.term
            emit(.persist(.snapshot(snapshot, keepingLaterEntries: keep)))
            if keep {
                log.compact(through: snapshot.index, term: snapshot.term)
            } else {
                log = RaftLog(snapshot: snapshot, entries: [])
            }
            lastSnapshot = snapshot
            state = snapshot.state
            commitIndex = snapshot.index
            adoptConfig(state.config)
            event(.snapshot, reason: "installed the leader's snapshot at index \(snapshot.index)", now: now)
        }
        send(.appendReply(AppendReply(term: term, success: true, match: max(snapshot.index, min(commitIndex, log.lastIndex)), round: transfer.round, stamp: nil, applied: commitIndex)), to: from)
    }

    // MARK: - Leadership transfer

    /// Hands leadership to `target`: it campaigns at once; this node steps down and keeps
    /// its groups on its remaining leader standing, then on follower standing.
    mutating func transferLeadership(to target: NodeID, now: Instant, reason: String) -> Refusal? {
        guard role == .leader else { return Refusal(.noLeader, "\(id) is not the leader") }
        guard target != id else { return nil }
        guard isVoterNode(target), let peer = peers[target] else {
            return Refusal(.invalid, "\(target) is not a voter")
        }
        guard peer.match == log.lastIndex, !silent(target, now, for: timing.echoSilence) else {
            return Refusal(.targetNotReady, "\(target) is not caught up (matched \(peer.match) of \(log.lastIndex)) or not reachable")
        }
        let left = max(0, (quorumRound.map { $0 + .nanoseconds(timing.lease) } ?? now).nanoseconds - now.nanoseconds)
        // Stop renewing: every heartbeat of this term from now on would extend standing.
        event(.transfer, reason: "hands leadership to \(target): \(reason)",
              evidence: "target matched \(peer.match); leader standing left \(formatMilliseconds(left))", now: now)
        let message = TimeoutNow(term: term, standingLeft: .nanoseconds(left))
        send(.timeoutNow(message), to: target)
        stepDown(now, reason: "leadership transferred to \(target)", evidence: "")
        // Resent every heartbeat interval until the target leads (or an election timeout).
        transferOut = (target, message, now + .nanoseconds(timing.electionTimeout))
        schedule(.heartbeat, at: now + .nanoseconds(timing.heartbeat))
        return nil
    }

    mutating func onTimeoutNow(_ t: TimeoutNow, from: NodeID, now: Instant) {
        guard isVoter, t.term == term, role != .leader else { return }
        // Rule 4 for the old leader's groups: wait out its stated leader standing, measured
        // on this clock from now (the message was sent before now).
        let rho = timing.rho
        let wait = (1 + rho) * (Double(t.standingLeft.nanoseconds) / (1 - rho) + Double(timing.margin))
        transferFrom = (from, now + .nanoseconds(Int64(wait.rounded(.up))))
        leader = nil
        campaign(now, transfer: true)
    }

    // MARK: - Proposals, commit and apply

    /// Appends a command to the leader's log. It is persisted (before anything this step
    /// sends) and replicated at the end of the step.
    mutating func propose(_ command: Command) {
        precondition(role == .leader)
        let entry = Entry(term: term, index: log.lastIndex + 1, command: command)
        log.append(entry)
        if unpersistedFrom == nil { unpersistedFrom = entry.index }
    }

    mutating func flushProposals(_ now: Instant) {
        guard let from = unpersistedFrom else { return }
        unpersistedFrom = nil
        let entries = log.slice(from: from, max: Int.max)
        guard !entries.isEmpty else { return }
        // Persist before anything else this step does (nothing sent may depend on them
        // before they are durable) ...
        out.insert(.persist(.entries(entries)), at: 0)
        prepareRecords(for: entries)
        if role == .leader {
            if members.voters.count == 1 { advanceCommit() }
            // ... except the appends that carry them: a Raft leader may replicate while it
            // writes its own log (the write is then off the commit path). It counts itself
            // toward a commit only in a later step, and everything that step emits waits for
            // this write like the rest of this one; if it crashes first, the entries are an
            // ordinary uncommitted tail that a later leader keeps or overwrites.
            let mark = out.count
            for node in others { sendAppend(to: node, now: now, heartbeat: false) }
            let appends = out[mark...]
            out.removeSubrange(mark...)
            out.insert(contentsOf: appends, at: 0)
        }
    }

    mutating func applyCommitted(_ now: Instant) {
        while state.applied < commitIndex {
            guard let entry = log.entry(at: state.applied + 1) else { break }
            let effects = state.apply(entry)
            for effect in effects {
                switch effect {
                case .reply(let origin, let response):
                    if origin.node == id, origin.incarnation == incarnation { answer(origin.id, response) }
                case .configChanged:
                    adoptConfig(state.config)
                case .ownerChanged(let group):
                    let g = state.groups[group]!
                    if role == .leader {
                        event(.assigned, group: group, epoch: g.epoch, reason: "\(group) assigned to \(g.owner!.name) at epoch \(g.epoch)", evidence: g.reason, now: now)
                    }
                }
            }
        }
        maybeCompact(now)
        for (index, read) in waitingReads.enumerated().reversed() where read.index <= state.applied {
            waitingReads.remove(at: index)
            answer(read.id, .readable(index: state.applied))
        }
    }

    mutating func adoptConfig(_ newConfig: ClusterConfig) {
        guard newConfig != config else { return }
        config = newConfig
        timing = Clocking(newConfig.timing)
        members = Members(newConfig, selfID: id)
        for group in newConfig.groups where health[group.id] == nil { health[group.id] = true }
    }

    mutating func maybeCompact(_ now: Instant) {
        guard state.applied >= log.snapshotIndex + LogIndex(config.snapshotThreshold) else { return }
        let index = state.applied
        let snapshot = Snapshot(index: index, term: log.term(at: index)!, state: state)
        emit(.persist(.snapshot(snapshot, keepingLaterEntries: true)))
        log.compact(through: index, term: snapshot.term)
        lastSnapshot = snapshot
    }

    // MARK: - Requests

    mutating func take(_ request: Request, id requestID: UInt64, now: Instant) {
        let origin = RequestOrigin(node: id, incarnation: incarnation, id: requestID)
        pendingRequests.insert(requestID)
        if role == .leader {
            takeAsLeader(request, origin: origin, now: now)
        } else if let leader {
            forwarded[requestID] = (request, now, 1)
            sendForwarded(request, origin: origin, to: leader)
        } else {
            answer(requestID, .refused(Refusal(.noLeader, "no leader is known to \(id); the cluster may have lost its quorum")))
        }
    }

    mutating func takeAsLeader(_ request: Request, origin: RequestOrigin, now: Instant) {
        // A forwarded request may arrive once per link: take it once.
        guard takenOrigins.insert(origin).inserted else { return }
        takenOrder.append(origin)
        if takenOrder.count > 4096 { takenOrigins.remove(takenOrder.removeFirst()) }
        func refuse(_ refusal: Refusal) {
            if origin.node == id { answer(origin.id, .refused(refusal)) } else { send(.refused(origin: origin, refusal), to: origin.node) }
        }
        switch request {
        case .kv(let operation, let fence):
            propose(.kv(operation, fence: fence, origin: origin))
        case .action(let action):
            propose(.action(action, origin: origin))
        case .configure(let newConfig, let source):
            if let problem = ReplicatedState.configChangeProblem(from: state.config, to: newConfig) {
                refuse(Refusal(.invalid, problem))
            } else {
                propose(.configure(newConfig, source: source, origin: origin))
            }
        case .readBarrier:
            if !leaderStands(now) {
                refuse(Refusal(.noQuorum, "\(id) leads without standing (no quorum round within the lease); retry"))
            } else if commitIndex >= noopIndex {
                if origin.node == id {
                    answer(origin.id, .readable(index: commitIndex))
                } else {
                    send(.readIndexReply(term: term, origin: origin, index: commitIndex), to: origin.node)
                }
            } else {
                leaderReads.append((origin, noopIndex))
            }
        case .transferLeadership(let target):
            // Answer before stepping down (stepping down fails every request still pending).
            let index = commitIndex
            let local = origin.node == id ? pendingRequests.remove(origin.id) : nil
            if let refusal = transferLeadership(to: target, now: now, reason: "operator request") {
                if local != nil { emit(.reply(id: origin.id, .refused(refusal))) } else if origin.node != id { send(.refused(origin: origin, refusal), to: origin.node) }
            } else if local != nil {
                emit(.reply(id: origin.id, .done(index: index)))
            } else if origin.node != id {
                send(.answered(origin: origin, .done(index: index)), to: origin.node)
            }
        }
    }

    mutating func sendForwarded(_ request: Request, origin: RequestOrigin, to leader: NodeID) {
        if request == .readBarrier {
            send(.readIndex(term: term, origin: origin), to: leader)
        } else {
            send(.forward(term: term, origin: origin, request), to: leader)
        }
    }

    /// Forwarded requests whose answer has not come (lost on the way): send them again.
    mutating func resendForwarded(_ now: Instant) {
        guard !forwarded.isEmpty, let leader, leader != id else { return }
        for requestID in forwarded.keys.sorted() {
            guard let item = forwarded[requestID], (now - item.sentAt).nanoseconds >= 2 * timing.heartbeat else { continue }
            forwarded[requestID] = (item.request, now, item.sends + 1)
            sendForwarded(item.request, origin: RequestOrigin(node: id, incarnation: incarnation, id: requestID), to: leader)
        }
    }

    mutating func answerReads() {
        guard role == .leader, !leaderReads.isEmpty, commitIndex >= noopIndex else { return }
        let reads = leaderReads
        leaderReads = []
        for read in reads {
            if read.origin.node == id {
                answer(read.origin.id, .readable(index: commitIndex))
            } else {
                send(.readIndexReply(term: term, origin: read.origin, index: commitIndex), to: read.origin.node)
            }
        }
    }

    mutating func answer(_ requestID: UInt64, _ response: Response) {
        guard pendingRequests.remove(requestID) != nil else { return }
        forwarded[requestID] = nil
        emit(.reply(id: requestID, response))
    }

    /// On a change of leader, requests handed to the old one may or may not be carried out.
    mutating func failForwardedRequests() {
        for requestID in pendingRequests.sorted() {
            answer(requestID, .refused(Refusal(.outcomeUnknown, "the leader changed before the request was answered; it may or may not have been carried out")))
        }
        waitingReads = []
    }
}
