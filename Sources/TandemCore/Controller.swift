/// The controller (on the leader): placement, the failure decision, planned moves and
/// rule 4's guard on every reassignment (docs/PROTOCOL.md).

extension TandemNode {
    /// Runs on the leader after every step once its own first entry is committed.
    mutating func runController(_ now: Instant) {
        controllerWake = nil
        guard role == .leader, leaderStands(now), commitIndex >= noopIndex, state.applied >= noopIndex else { return }
        for group in config.groups { control(group, now: now) }
        considerTransfer(now)
    }

    mutating func wake(at instant: Instant) {
        if controllerWake == nil || instant < controllerWake! { controllerWake = instant }
    }

    /// Why `node` cannot own `group` now, or nil when it is eligible (DESIGN §4 (d)).
    func ineligibility(of node: NodeID, for group: GroupConfig, now: Instant, planned: Bool) -> String? {
        guard let nodeConfig = members.node[node] else { return "not in the configuration" }
        if nodeConfig.kind == .witness { return "a witness never owns a group" }
        if nodeConfig.kind == .learner, !planned { return "a learner is placed only by an operator" }
        guard let n = state.nodes[node] else { return "no state" }
        if n.maintenance { return "in maintenance" }
        switch n.health[group.id] {
        case .some(false): return "its checks for \(group.id) fail"
        case .none: return "has not reported its checks"
        case .some(true): break
        }
        if !n.upstream { return "cut off upstream" }
        if node != id, peers[node]?.acked != true { return "has not answered this leader yet" }
        if silent(node, now, for: timing.echoSilence) { return "not heard from for \(formatMilliseconds(timing.echoSilence))" }
        if let capacity = nodeConfig.capacity {
            let owned = state.groups.filter { $0.key != group.id && $0.value.owner == node }.count
            if owned >= capacity { return "at capacity (\(capacity) groups)" }
        }
        return nil
    }

    /// A node that may become eligible for `group` as soon as it answers this leader or
    /// reports its checks (nothing known against it yet).
    func notYetHeard(_ node: NodeID, _ group: GroupID) -> Bool {
        guard node != id, members.node[node]?.kind == .node, state.nodes[node]?.maintenance != true else { return false }
        return peers[node]?.acked != true || state.nodes[node]?.health[group] == nil
    }

    /// The best eligible node for `group`: its placement order (preference list, or
    /// priority when the list is empty), stickiness aside;
    /// nodes that would share an owner with an anti-affine group come last.
    func bestTarget(for group: GroupConfig, excluding: NodeID?, now: Instant, planned: Bool = false) -> NodeID? {
        let order = config.candidates(for: group)
        let candidates = order.filter { $0 != excluding && ineligibility(of: $0, for: group, now: now, planned: planned) == nil }
        func conflicts(_ node: NodeID) -> Bool {
            state.groups.contains { other in
                other.value.owner == node && other.key != group.id
                    && (group.antiAffinity.contains(other.key) || config.group(other.key)?.antiAffinity.contains(group.id) == true)
            }
        }
        return candidates.min { lhs, rhs in
            let lc = conflicts(lhs), rc = conflicts(rhs)
            if lc != rc { return !lc }
            let li = order.firstIndex(of: lhs)!, ri = order.firstIndex(of: rhs)!
            if li != ri { return li < ri }
            return lhs < rhs
        }
    }

    /// Rule 4's guard: may the controller move `group` away from `owner` at `epoch` now?
    /// Returns the evidence when it may; otherwise schedules a wake-up and returns nil.
    mutating func mayReassign(_ group: GroupID, from owner: NodeID, epoch: Epoch, now: Instant) -> String? {
        if mutants.skipStandingWait { return "skipped (mutant skip-standing-wait)" }
        // (a) the owner confirmed release (for this node: it has stopped and raised its record).
        if owner == id {
            if local[group] == nil, (activationRecords[group] ?? 0) >= epoch { return "(a) this node released it" }
            return nil
        }
        if let released = releasedTo[group], released >= epoch { return "(a) \(owner) confirmed release of epoch \(epoch)" }
        if let fenced = fenceProof(owner, now: now) { return fenced }
        // (c) part 1: no echo naming the owner of this group at this epoch for W1.
        var until = Instant(nanoseconds: .min)
        var evidence: [String] = []
        if let sent = lastEchoSent[owner]?[group], sent.epoch == epoch {
            until = sent.at + .nanoseconds(timing.echoWait)
            evidence.append("last echo to \(owner) \(formatMilliseconds((now - sent.at).nanoseconds)) ago (W1 \(formatMilliseconds(timing.echoWait)))")
        } else {
            evidence.append("no echo sent to \(owner) for epoch \(epoch) by this controller")
        }
        // (c) part 2, or (b): the wait after taking office, waived when the owner led the
        // term just before this one by election (never after a transfer, which has its own).
        let office: Instant
        if campaignIsTransfer, let transfer = transferFrom {
            // Elected by a transfer: the old leader's stated standing ends by `until`; the
            // followers it echoed stand at most a lease (W1) beyond it.
            office = transfer.node == owner ? transfer.until : max(tookOffice + .nanoseconds(timing.officeWait), transfer.until + .nanoseconds(timing.echoWait))
            evidence.append("leadership was handed over by \(transfer.node): its stated standing ends by \(transfer.until)")
        } else if state.leaderOfTerm[term - 1] == owner, !campaignIsTransfer {
            office = Instant(nanoseconds: .min)
            evidence.append("(b) \(owner) led term \(term - 1); votes for term \(term) came after its standing")
        } else {
            office = tookOffice + .nanoseconds(timing.officeWait)
            evidence.append("in office \(formatMilliseconds((now - tookOffice).nanoseconds)) (W2 \(formatMilliseconds(timing.officeWait)))")
        }
        until = max(until, office)
        if now >= until { return "(c) " + evidence.joined(separator: "; ") }
        wake(at: until)
        return nil
    }

    mutating func assign(_ group: GroupID, to node: NodeID, epoch: Epoch, reason: String) {
        // From this decision on, no heartbeat names the old owner at the old epoch (C6).
        logOwners[group] = (node, epoch)
        inheritedHold[group] = nil
        propose(.assign(group: group, owner: node, epoch: epoch, reason: reason))
        proposedAt[group] = log.lastIndex
        releaseAsked[group] = nil
    }

    /// The decision for one group.
    mutating func control(_ groupConfig: GroupConfig, now: Instant) {
        let group = groupConfig.id
        guard let g = state.groups[group] else { return }
        if let index = proposedAt[group], index > state.applied { return }
        proposedAt[group] = nil
        trackEligibility(groupConfig, now: now)

        if let pending = g.pending {
            controlPending(groupConfig, g, pending, now: now)
            return
        }
        pendingSeen[group] = nil

        guard let owner = g.owner else {
            guard !state.frozen else { return }
            if let target = bestTarget(for: groupConfig, excluding: nil, now: now) {
                // Cold start: a more preferred node may only not have been heard yet by this
                // new leader. Wait for it, up to an election timeout after taking office.
                let settle = tookOffice + .nanoseconds(timing.electionTimeout)
                if now < settle, config.candidates(for: groupConfig).prefix(while: { $0 != target }).contains(where: { notYetHeard($0, group) }) {
                    wake(at: settle)
                    return
                }
                assign(group, to: target, epoch: g.epoch + 1, reason: "initial placement on the most preferred ready node")
            } else {
                reportDown(group, "no eligible node for \(group)", now: now)
            }
            return
        }
        if state.frozen { return }

        if isReleased(group, g) {
            // (a): the owner stopped. Place it anew, on the owner again if it is still best.
            if let target = bestTarget(for: groupConfig, excluding: nil, now: now) {
                assign(group, to: target, epoch: g.epoch + 1, reason: "\(owner) released \(group) at epoch \(g.epoch)")
            } else {
                reportDown(group, "\(owner) released \(group) and no node is eligible", now: now)
            }
            return
        }

        // The failure decision: the owner lost standing (unreachable for a lease) or its
        // checks fail; and some eligible node reports its checks passing.
        var failure: String?
        var unreachable = false
        let neverAcked = owner != id && peers[owner]?.acked != true
        let ledBefore = state.leaderOfTerm[term - 1] == owner && !campaignIsTransfer
        // An owner that led the previous term and has not answered this leader has no
        // standing (rule 4(b)): its groups are down now, so there is nothing to wait for.
        if owner != id, silent(owner, now, for: neverAcked && ledBefore ? 0 : timing.echoSilence) {
            failure = "\(owner) unreachable: no acknowledgement for \(formatMilliseconds((now - (peers[owner]?.lastAck ?? tookOffice)).nanoseconds))"
            unreachable = true
        } else if state.nodes[owner]?.health[group] == false {
            failure = "\(owner) reports the checks of \(group) failing"
        }
        if let failure {
            guard let target = bestTarget(for: groupConfig, excluding: owner, now: now) else {
                reportDown(group, "\(failure); no other node is eligible", now: now)
                return
            }
            if stalledUntil > now, owner != id {
                wake(at: stalledUntil)
                return
            }
            if unreachable { startFence(owner, group: group, epoch: g.epoch, failure: failure, now: now) }
            if let proof = mayReassign(group, from: owner, epoch: g.epoch, now: now) {
                assign(group, to: target, epoch: g.epoch + 1, reason: "failover: \(failure); rule 4 \(proof)")
            }
            return
        }
        downReported.remove(group)

        // Planned moves: drain, upstream lost, no longer preferred, automatic failback.
        var move: String?
        if state.nodes[owner]?.maintenance == true {
            move = "\(owner) is in maintenance"
        } else if state.nodes[owner]?.upstream == false {
            move = "\(owner) is cut off upstream"
        } else if !config.candidates(for: groupConfig).contains(owner), members.node[owner]?.kind != .learner {
            move = "\(owner) is no longer in the preference list of \(group)"
        }
        if let move {
            if bestTarget(for: groupConfig, excluding: owner, now: now) != nil {
                propose(.action(.switchover(group, to: nil), origin: nil))
                proposedAt[group] = log.lastIndex
                event(.switchover, group: group, epoch: g.epoch, reason: "planned move: \(move)", now: now)
            }
            return
        }
        if case .auto(let holdDown) = groupConfig.failback,
           let preferred = bestTarget(for: groupConfig, excluding: nil, now: now), preferred != owner,
           let ownerRank = config.candidates(for: groupConfig).firstIndex(of: owner),
           let preferredRank = config.candidates(for: groupConfig).firstIndex(of: preferred), preferredRank < ownerRank
        {
            let since = eligibleSince[group]?[preferred] ?? now
            if now >= since + holdDown {
                propose(.action(.failback(group), origin: nil))
                proposedAt[group] = log.lastIndex
                event(.switchover, group: group, epoch: g.epoch, reason: "automatic failback to \(preferred): ready for \(formatMilliseconds((now - since).nanoseconds))", now: now)
            } else {
                wake(at: since + holdDown)
            }
        }
    }

    /// (a): the owner of `g` confirmed release of its epoch (for this node: it stopped and
    /// raised its record).
    func isReleased(_ group: GroupID, _ g: GroupState) -> Bool {
        guard let owner = g.owner else { return false }
        if owner == id { return local[group] == nil && (activationRecords[group] ?? 0) >= g.epoch }
        return (releasedTo[group] ?? 0) >= g.epoch
    }

    /// The owner of `g` is unreachable or reports the group's checks failing.
    func ownerFailed(_ group: GroupID, _ g: GroupState, now: Instant) -> Bool {
        guard let owner = g.owner, owner != id else { return false }
        return silent(owner, now, for: timing.echoSilence) || state.nodes[owner]?.health[group] == false
    }

    mutating func trackEligibility(_ groupConfig: GroupConfig, now: Instant) {
        var since = eligibleSince[groupConfig.id] ?? [:]
        for node in config.candidates(for: groupConfig) {
            if ineligibility(of: node, for: groupConfig, now: now, planned: false) == nil {
                if since[node] == nil { since[node] = now }
            } else {
                since[node] = nil
            }
        }
        eligibleSince[groupConfig.id] = since
    }

    mutating func reportDown(_ group: GroupID, _ reason: String, now: Instant) {
        guard downReported.insert(group).inserted else { return }
        event(.refused, group: group, reason: "\(group) cannot be placed: \(reason)", now: now)
    }

    /// A switchover or failback in progress.
    mutating func controlPending(_ groupConfig: GroupConfig, _ g: GroupState, _ pending: Pending, now: Instant) {
        let group = groupConfig.id
        let seen = pendingSeen[group] ?? now
        pendingSeen[group] = seen
        func end(_ outcome: Outcome) {
            propose(.pendingEnded(group: group, outcome: outcome))
            proposedAt[group] = log.lastIndex
            releaseAsked[group] = nil
        }
        let released = isReleased(group, g)
        // Moved already: wait for the new owner to activate; roll back if it cannot.
        if let moved = pending.movedAt {
            if g.epoch == moved, let owner = g.owner, (activatedAt[group] ?? 0) >= moved || (owner == id && local[group]?.phase == .running) {
                end(.completed(owner: owner, epoch: moved))
            } else if g.epoch == moved, released || ownerFailed(group, g, now: now) {
                end(.refused(Refusal(.rolledBack, "\(g.owner?.name ?? "-") failed to activate \(group); the group goes back to the best ready node")))
                if released, let back = pending.from, ineligibility(of: back, for: groupConfig, now: now, planned: true) == nil {
                    assign(group, to: back, epoch: g.epoch + 1, reason: "rollback of a switchover: the target failed to activate")
                }
            } else if g.epoch > moved {
                end(.refused(Refusal(.rolledBack, "\(group) moved again (epoch \(g.epoch)) before the switchover completed")))
            } else if (now - seen).nanoseconds >= timing.switchoverTimeout {
                end(.refused(Refusal(.timedOut, "the target did not activate \(group) within \(formatMilliseconds(timing.switchoverTimeout))")))
            } else {
                wake(at: seen + .nanoseconds(timing.switchoverTimeout))
            }
            return
        }
        // The owner failed, or stopped without being asked, while the move was prepared: end
        // it; the failover path takes over. A release this controller asked for is the move
        // going to plan (rule 4(a) then lets it reassign at once, below).
        if g.owner != nil, (released && releaseAsked[group] == nil) || ownerFailed(group, g, now: now) {
            end(.refused(Refusal(.rolledBack, "\(g.owner!) failed before \(group) could be moved; failover takes over")))
            return
        }
        // Choose the target.
        let target: NodeID?
        switch pending.kind {
        case .switchover(let to):
            if let to {
                if to == g.owner {
                    end(.completed(owner: to, epoch: g.epoch))
                    return
                }
                if let why = ineligibility(of: to, for: groupConfig, now: now, planned: true) {
                    end(.refused(Refusal(.targetNotReady, "\(to) cannot take \(group): \(why)")))
                    return
                }
                target = to
            } else {
                target = bestTarget(for: groupConfig, excluding: g.owner, now: now, planned: false)
            }
        case .failback:
            target = bestTarget(for: groupConfig, excluding: nil, now: now)
            if let target, target == g.owner {
                end(.completed(owner: target, epoch: g.epoch))
                return
            }
        }
        guard let target else {
            end(.refused(Refusal(.targetNotReady, "no node is ready to take \(group)")))
            return
        }
        if (now - seen).nanoseconds >= timing.switchoverTimeout {
            end(.refused(Refusal(.timedOut, "\(target) did not catch up or \(g.owner?.name ?? "-") did not release \(group) within \(formatMilliseconds(timing.switchoverTimeout))")))
            return
        }
        wake(at: seen + .nanoseconds(timing.switchoverTimeout))
        guard let owner = g.owner else {
            assign(group, to: target, epoch: g.epoch + 1, reason: "switchover to \(target)")
            return
        }
        // Zero data loss: move only once the target has applied everything committed.
        let applied = target == id ? state.applied : (peers[target]?.applied ?? 0)
        guard applied >= commitIndex else { return }
        if let proof = mayReassign(group, from: owner, epoch: g.epoch, now: now) {
            assign(group, to: target, epoch: g.epoch + 1, reason: "planned switchover from \(owner) to \(target); rule 4 \(proof)")
            return
        }
        // Ask the owner to release (and stop naming it owner in heartbeats, so that its
        // standing lapses even if the request is lost).
        if releaseAsked[group] == nil || (now - releaseAsked[group]!).nanoseconds >= timing.heartbeat {
            releaseAsked[group] = now
            if owner == id {
                releaseRequested(group, epoch: g.epoch, now: now)
            } else {
                send(.releaseRequest(term: term, group: group, epoch: g.epoch), to: owner)
            }
        }
        wake(at: now + .nanoseconds(timing.heartbeat))
    }

    /// The controller hands leadership to the owner of the first group when it can, so that
    /// the common failover path is rule 4(b) (DESIGN §4).
    mutating func considerTransfer(_ now: Instant) {
        guard let first = config.groups.first, let g = state.groups[first.id], let owner = g.owner, owner != id,
              state.groups.values.allSatisfy({ $0.pending == nil }),
              isVoterNode(owner), members.node[owner]?.kind == .node,
              (now - tookOffice).nanoseconds >= timing.electionTimeout,
              (activatedAt[first.id] ?? 0) >= g.epoch,
              let peer = peers[owner], peer.match == log.lastIndex, peer.inflight == 0,
              !silent(owner, now, for: timing.heartbeat * 2), stalledUntil <= now
        else { return }
        _ = transferLeadership(to: owner, now: now, reason: "\(owner) owns \(first.id), the first group")
    }
}
