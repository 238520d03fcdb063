import Logging
import NIOCore
import TandemConfig
import TandemCore
import TandemWire

extension Event.Kind {
    /// A drill started, injected or ended a fault, or finished with its result.
    public static let drill = Event.Kind("drill")
}

/// A fault a drill injected into this node, until it ends.
struct ActiveFault {
    var drill: UInt64
    var fault: DrillFault
    var end: Scheduled<Void>
    /// Power loss: the groups whose resources it stopped, at their epochs.
    var stopped: [GroupID: Epoch] = [:]
}

extension NodeRuntime {
    /// The longest a drill's fault may last, whatever the drill asked.
    public static let maxFaultDuration: Duration = .seconds(600)

    /// Starts `fault` for drill `drill` on this node; it ends after `duration` (at most
    /// `maxFaultDuration`) whatever happens to the drill, or earlier by `endFault`. One fault
    /// at a time: a second is refused, naming the first.
    func startFault(_ fault: DrillFault, drill: UInt64, duration: Duration) -> String? {
        if let current = activeFault {
            return "\(id) already has drill \(current.drill)'s fault (\(current.fault)); one fault at a time"
        }
        let links = file.addresses[id]?.links.count ?? 1
        switch fault {
        case .powerLoss, .isolation:
            transport.muted = Set(0..<links)
        case .link(let k):
            guard Int(k) < links else { return "\(id) has \(links) link(s); there is no link \(Int(k) + 1)" }
            guard links > 1 else { return "\(id) has one link: silencing it would isolate the node (use the isolation scenario)" }
            transport.muted = [Int(k)]
        case .service(let group):
            guard file.cluster.group(group) != nil else { return "no group \(group) in the configuration" }
            hands.forceFailing(group, reason: "drill \(drill): service failure injected")
        }
        var stopped: [GroupID: Epoch] = [:]
        if case .powerLoss = fault {
            // As if the power went: the groups' resources stop now, not when the standing ends.
            stopped = node.activeGroups
            for (group, epoch) in node.activeGroups {
                hands.setActive(group, false)
                let previous = groupWork[group]
                let hands = self.hands
                groupWork[group] = Task {
                    await previous?.value
                    await hands.stop(group, epoch: epoch, reason: "drill \(drill): power loss")
                }
            }
        }
        let limit = min(duration, Self.maxFaultDuration)
        let end = loop.scheduleTask(in: .nanoseconds(limit.nanoseconds)) { [self] in
            self.assumeIsolated { _ = $0.endFault(drill: drill, why: "its time limit of \(limit) passed") }
        }
        activeFault = ActiveFault(drill: drill, fault: fault, end: end, stopped: stopped)
        recordLocal(.drill, reason: "drill \(drill) fault on \(id): \(fault), for at most \(limit)", evidence: "")
        return nil
    }

    /// Ends drill `drill`'s fault here (nothing when another drill's, or none, is active).
    @discardableResult
    func endFault(drill: UInt64, why: String) -> Bool {
        guard let current = activeFault, current.drill == drill else { return false }
        current.end.cancel()
        activeFault = nil
        switch current.fault {
        case .powerLoss, .isolation, .link: transport.muted = []
        case .service(let group): hands.forceFailing(group, reason: nil)
        }
        // Power back before this node's standing ended (a fault shorter than the lease): the
        // core still runs the groups here, so their resources start again.
        for (group, epoch) in current.stopped.sorted(by: { $0.key < $1.key }) where node.activeGroups[group] == epoch {
            restartAfterPowerLoss(group, epoch: epoch, drill: drill)
        }
        recordLocal(.drill, reason: "drill \(drill) fault on \(id) ended: \(current.fault)", evidence: why)
        return true
    }

    /// Starts again the resources a power-loss fault stopped, for a group the core still
    /// runs here at `epoch` (chained after the stop, like any start). A start that fails is
    /// reported as failing checks, so that the group moves.
    func restartAfterPowerLoss(_ group: GroupID, epoch: Epoch, drill: UInt64) {
        let previous = groupWork[group]
        let hands = self.hands
        let guardian = self.guardian
        groupsInFlight[group, default: 0] += 1
        groupWork[group] = Task { [self] in
            await previous?.value
            let result = await hands.start(group, epoch: epoch, reason: "drill \(drill): power back while still the owner")
            for pid in result.processes { guardian.addProcess(group, pid: pid) }
            self.groupsInFlight[group, default: 1] -= 1
            if let problem = result.problem { self.logger.error("\(group) epoch \(epoch) failed to start again: \(problem)") }
            guard self.node.activeGroups[group] == epoch else { return }
            self.hands.setActive(group, true)
            // A resource that did not start is a failing resource (as its monitor would say);
            // Hands reports it, and reports it passing again once it runs.
            if let problem = result.problem { self.hands.update(group, resources: false, reason: problem) }
        }
    }

    /// A drill's fault message, for this node or answered for another.
    func drillMessage(_ message: AgentMessage) -> AgentMessage? {
        switch message {
        case .drillFault(let queryID, let drill, let fault, let milliseconds):
            return .drillAck(id: queryID, problem: startFault(fault, drill: drill, duration: .milliseconds(Int64(milliseconds))) ?? "")
        case .drillEnd(let queryID, let drill):
            endFault(drill: drill, why: "the drill ended it")
            return .drillAck(id: queryID, problem: "")
        case .digestQuery(let queryID):
            return .digestAnswer(id: queryID, applied: node.state.applied, kvRevision: node.state.kv.revision, digest: node.state.kv.digest)
        default:
            return nil
        }
    }
}
