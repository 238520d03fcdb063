/// Rule 4(f): the optional fence hook (docs/PROTOCOL.md). When the controller decides to
/// fail over from an unreachable owner, it asks the runtime to run the hook against that
/// node. The hook's promise is that it exits 0 only once the node is powered off or cut off
/// from everything its groups use. Success lets the controller reassign without waiting out
/// the owner's standing, but only if nothing at all was heard from the node since the hook
/// was started (a node that speaks is not off, and a node that rebooted must be heard by
/// this controller before it can gain standing again). Failure or a timeout never shortens
/// the wait; the wait never waits for the hook either.

extension TandemNode {
    struct FenceRun: Sendable {
        var started: Instant
        /// Something arrived from the node since the hook was started.
        var heard = false
        /// nil while the hook runs.
        var ok: Bool?
    }

    /// Starts the hook against `owner` once per unreachable spell (a leader's own state).
    mutating func startFence(_ owner: NodeID, group: GroupID, epoch: Epoch, failure: String, now: Instant) {
        guard fencing, owner != id, fences[owner] == nil else { return }
        fences[owner] = FenceRun(started: now)
        out.append(.fence(node: owner, group: group, epoch: epoch, reason: failure))
        event(.fence, group: group, epoch: epoch, reason: "fencing \(owner): hook started", evidence: failure, now: now)
    }

    /// Rule 4(f)'s evidence for reassigning away from `owner`, or nil.
    func fenceProof(_ owner: NodeID, now: Instant) -> String? {
        guard let run = fences[owner], run.ok == true, !run.heard else { return nil }
        return "(f) the fence hook confirmed \(owner) is off (started \(formatMilliseconds((now - run.started).nanoseconds)) ago; nothing heard from \(owner) since)"
    }

    mutating func heardDuringFence(_ node: NodeID, now: Instant) {
        guard var run = fences[node] else { return }
        if run.ok != nil {
            // Finished: the node is back (or never went): a later spell fences anew.
            fences[node] = nil
            return
        }
        if !run.heard {
            run.heard = true
            fences[node] = run
            event(.fence, reason: "fencing \(node): heard from it while the hook runs; its result will not shorten any wait",
                  now: now)
        }
    }

    mutating func fenceEnded(_ node: NodeID, ok: Bool, detail: String, now: Instant) {
        guard role == .leader, var run = fences[node], run.ok == nil else {
            event(.fence, reason: "fence hook against \(node) ended (\(ok ? "success" : "failure")) after this node stopped waiting for it",
                  evidence: detail, now: now)
            return
        }
        let took = formatMilliseconds((now - run.started).nanoseconds)
        if run.heard {
            fences[node] = nil
            event(.fence, reason: "fence hook against \(node) ended (\(ok ? "success" : "failure")) after \(took); ignored: \(node) was heard from meanwhile",
                  evidence: detail, now: now)
            return
        }
        run.ok = ok
        fences[node] = run
        event(.fence, reason: ok ? "fenced \(node) in \(took): the hook confirmed it is off"
                                 : "fencing \(node) FAILED after \(took); its groups move only when their standing has lapsed",
              evidence: detail, now: now)
    }
}
