/// Standing and activation (docs/PROTOCOL.md rules 1, 2, 3 and 6) on every node.

extension TandemNode {
    /// The end of this node's standing for `group` at `epoch`: its leader standing (rule 1,
    /// kept after stepping down but never renewed) or the follower standing the newest echo
    /// gave for exactly this group and epoch (rule 2, C4).
    func standing(for group: GroupID, epoch: Epoch, activating: Instant? = nil) -> Instant? {
        var end: Instant?
        if let q = quorumRound, activating == nil || leaderMayActivate(group, epoch: epoch, now: activating!) { end = q + .nanoseconds(timing.lease) }
        if let s = echoStanding[group], s.epoch == epoch { end = max(end ?? s.until, s.until) }
        return end
    }

    func healthy(_ group: GroupID) -> Bool { health[group] ?? false }

    /// A leader starts a group on its own standing only once its applied state is current
    /// (its first entry applied) and its whole log agrees that it owns the group at that
    /// epoch (C6 for the leader itself): a stale applied state could name an epoch that a
    /// later entry in its log already replaced.
    func leaderMayActivate(_ group: GroupID, epoch: Epoch, now: Instant) -> Bool {
        guard role == .leader, state.applied >= noopIndex, let latest = logOwners[group] else { return false }
        if let hold = inheritedHold[group], now < hold { return false }
        return latest.owner == id && latest.epoch == epoch
    }

    /// Rule 3 for every group: activate what this node owns and stands for, deactivate at
    /// once what it no longer may keep, renew the runtime's guard deadline.
    mutating func evaluateGroups(_ now: Instant) {
        // Every configured group, and any still active that the configuration no longer has.
        var groups = config.groups.map(\.id)
        for group in local.keys.sorted() where !groups.contains(group) { groups.append(group) }
        for group in groups {
            guard let g = state.groups[group] else { continue }
            let owner = g.owner == id
            let margin = Duration.nanoseconds(timing.margin)
            if var l = local[group] {
                if l.phase == .stopping { continue }
                let end = standing(for: group, epoch: l.epoch)
                var reason: String?
                var evidence = ""
                if config.group(group) == nil {
                    reason = "\(group) is no longer in the configuration (revision \(config.revision))"
                } else if !owner || g.epoch != l.epoch {
                    reason = "no longer the owner: epoch \(g.epoch) of \(group) is committed to \(g.owner?.name ?? "-")"
                } else if !healthy(group) {
                    reason = "the group's checks fail on this node (rule 3)"
                } else if end == nil || now >= end! - margin {
                    reason = "standing ends (rule 3): no quorum round or echo renews it"
                    evidence = "standing until \(end.map(\.description) ?? "-"), deactivating margin \(formatMilliseconds(timing.margin)) before it; last heard from a leader at \(lastHeard)"
                }
                if let reason {
                    deactivate(group, epoch: l.epoch, reason: reason, evidence: evidence, now: now)
                } else if let end, end - margin > l.until {
                    l.until = end - margin
                    local[group] = l
                    emit(.renew(group: group, epoch: l.epoch, until: l.until))
                }
                continue
            }
            guard owner, g.epoch > 0 else { continue }
            let record = activationRecords[group] ?? 0
            // Rule 3 / C3: never activate an epoch at or below the durable record.
            guard g.epoch > record else { continue }
            if !healthy(group) {
                // Refuse the epoch: raise the record so that it can never be activated, and
                // say so, so that the controller may move the group at once (rule 4(a)).
                raiseRecord(group, to: g.epoch)
                event(.refused, group: group, epoch: g.epoch, reason: "refuses \(group): its checks fail on this node", now: now)
                if let leader { send(.released(term: term, group: group, epoch: g.epoch), to: leader) }
                if role == .leader { releasedTo[group] = g.epoch }
                continue
            }
            guard let end = standing(for: group, epoch: g.epoch, activating: now), now < end - margin else { continue }
            raiseRecord(group, to: g.epoch)
            let until = end - margin
            local[group] = Local(epoch: g.epoch, term: term, until: until, phase: .starting)
            let basis = role == .leader || (quorumRound.map { $0 + .nanoseconds(timing.lease) == end } ?? false)
                ? "leader standing (rule 1)" : "follower standing from an echo (rule 2)"
            let reason = "owner of \(group) at epoch \(g.epoch) (\(g.reason))"
            emit(.activate(group: group, term: term, epoch: g.epoch, until: until, reason: reason))
            event(.activated, group: group, epoch: g.epoch, reason: reason,
                  evidence: "\(basis) until \(end); activation record \(record) → \(g.epoch)", now: now)
        }
    }

    mutating func raiseRecord(_ group: GroupID, to epoch: Epoch) {
        guard (activationRecords[group] ?? 0) < epoch else { return }
        activationRecords[group] = epoch
        // Already on disk if it was prepared with the entry that assigned it (rule 3 / C3
        // asks only that the record be durable before the activation).
        if let prepared = preparedRecords[group], prepared >= epoch {
            if prepared == epoch { preparedRecords[group] = nil }
            return
        }
        emit(.persist(.activationRecord(group: group, epoch: epoch)))
    }

    /// Writes the activation record of an epoch assigned to this node together with the
    /// entry that assigns it (same transaction, no extra fsync), so that activating it
    /// later needs no fsync on the path from the commit to the running group. The record in
    /// memory is not raised: this node may still activate that epoch once. After a
    /// restart the durable value is loaded, so the epoch is never activated twice (C3).
    mutating func prepareRecords(for entries: [Entry]) {
        for entry in entries {
            guard case .assign(let group, let owner, let epoch, _) = entry.command, owner == id,
                  epoch > max(activationRecords[group] ?? 0, preparedRecords[group] ?? 0)
            else { continue }
            preparedRecords[group] = epoch
            emit(.persist(.activationRecord(group: group, epoch: epoch)))
        }
    }

    mutating func deactivate(_ group: GroupID, epoch: Epoch, reason: String, evidence: String = "", now: Instant) {
        guard var l = local[group], l.phase != .stopping else { return }
        l.phase = .stopping
        local[group] = l
        emit(.deactivate(group: group, epoch: epoch, reason: reason))
        event(.deactivated, group: group, epoch: epoch, reason: reason, evidence: evidence, now: now)
    }

    mutating func groupStarted(_ group: GroupID, epoch: Epoch, ok: Bool, now: Instant) {
        guard var l = local[group], l.epoch == epoch, l.phase == .starting else { return }
        if ok {
            l.phase = .running
            local[group] = l
            if role == .leader { activatedAt[group] = epoch } else if let leader {
                send(.activated(term: term, group: group, epoch: epoch), to: leader)
            }
        } else {
            // A resource failed to start: the group's checks count as failing here until the
            // runtime reports them passing again.
            health[group] = false
            sendReport(now)
            deactivate(group, epoch: epoch, reason: "a resource of \(group) failed to start", now: now)
        }
    }

    mutating func groupStopped(_ group: GroupID, epoch: Epoch, now: Instant) {
        guard let l = local[group], l.epoch == epoch else { return }
        local[group] = nil
        // The runtime's guard may have stopped it before the core asked (a stall).
        if l.phase != .stopping {
            event(.deactivated, group: group, epoch: epoch, reason: "the runtime's standing guard stopped \(group) at its deadline", now: now)
        }
        raiseRecord(group, to: epoch)
        if role == .leader {
            releasedTo[group] = max(releasedTo[group] ?? 0, epoch)
        } else if let leader {
            send(.released(term: term, group: group, epoch: epoch), to: leader)
        }
    }

    /// The controller asks for a planned move: deactivate now.
    mutating func releaseRequested(_ group: GroupID, epoch: Epoch, now: Instant) {
        if let l = local[group], l.epoch == epoch {
            deactivate(group, epoch: epoch, reason: "planned move of \(group) requested by the controller", now: now)
        } else if state.groups[group]?.owner == id, local[group] == nil {
            raiseRecord(group, to: epoch)
            if let leader { send(.released(term: term, group: group, epoch: epoch), to: leader) }
        }
    }

    /// Tell the (new) leader about groups this node gave up at the epoch it owns them.
    mutating func resendReleases(_ now: Instant) {
        guard let leader, leader != id else { return }
        for group in state.groups.keys.sorted() {
            let g = state.groups[group]!
            guard g.owner == id, local[group] == nil, (activationRecords[group] ?? 0) >= g.epoch else { continue }
            send(.released(term: term, group: group, epoch: g.epoch), to: leader)
        }
    }

    /// What this node reports: its checks, upstream, version and running configuration.
    var report: NodeReport {
        NodeReport(health: health, upstream: upstream, software: software, configRevision: runningRevision)
    }

    mutating func sendReport(_ now: Instant) {
        let report = self.report
        if role == .leader {
            considerReport(report, from: id)
        } else if let leader {
            lastReportSent = now
            send(.report(term: term, report), to: leader)
        }
    }

    /// The committed state disagrees with what this node last reported (a lost report):
    /// report again, at most every two heartbeat intervals.
    mutating func resendReport(_ now: Instant) {
        guard role != .leader, leader != nil, let mine = state.nodes[id], reportDiffers(mine) else { return }
        if let sent = lastReportSent, (now - sent).nanoseconds < 2 * timing.heartbeat { return }
        sendReport(now)
    }

    func reportDiffers(_ committed: NodeState) -> Bool {
        committed.upstream != upstream || health.contains { committed.health[$0.key] != $0.value }
            || committed.software != software || committed.configRevision != runningRevision
    }

    /// Leader: log a node's report if it changes what the state says.
    mutating func considerReport(_ report: NodeReport, from node: NodeID) {
        guard role == .leader, let current = state.nodes[node] else { return }
        if proposedReports[node] == report { return }
        let changed = current.upstream != report.upstream
            || report.health.contains { current.health[$0.key] != $0.value }
            || current.software != report.software || current.configRevision != report.configRevision
        guard changed || proposedReports[node] != nil else { return }
        proposedReports[node] = report
        propose(.report(node: node, report))
    }

    /// Sets the deadline timer to the earliest instant at which something may change
    /// without any input: a standing to end, the leader's lease, the controller's wake-up.
    mutating func scheduleDeadline(_ now: Instant) {
        var next: Instant?
        func consider(_ instant: Instant?) {
            guard let instant, instant > now else { return }
            if next == nil || instant < next! { next = instant }
        }
        let margin = Duration.nanoseconds(timing.margin)
        for (group, l) in local where l.phase != .stopping {
            consider(standing(for: group, epoch: l.epoch).map { $0 - margin })
        }
        if role == .leader, let q = quorumRound { consider(q + .nanoseconds(timing.lease)) }
        consider(controllerWake)
        if role == .leader { for hold in inheritedHold.values { consider(hold) } }
        if let oldest = forwarded.values.map(\.sentAt).min() { consider(oldest + .nanoseconds(2 * timing.heartbeat)) }
        if role != .leader, leader != nil, let sent = lastReportSent, let mine = state.nodes[id], reportDiffers(mine) {
            consider(sent + .nanoseconds(2 * timing.heartbeat))
        }
        if stalledUntil > now { consider(stalledUntil) }
        if let next { schedule(.deadline, at: next) } else { cancel(.deadline) }
    }
}
