import TandemConfig
import TandemCore

/// A change reported by ``HealthMonitor``, after rise/fall.
public enum HealthEvent: Sendable, Equatable {
    /// One check changed; `reason` says what failed (nil when it passes again).
    case check(group: GroupID, name: String, passing: Bool, reason: String?)
    /// Every non-upstream check of the group passes, or not any more: the core's
    /// `Input.checks(group:passing:)`.
    case group(GroupID, passing: Bool)
    /// Every upstream check of the node passes, or not any more: the core's
    /// `Input.upstream(reachable:)`.
    case upstream(reachable: Bool)
}

/// The present state of one check.
public struct CheckStatus: Sendable, Equatable {
    public var group: GroupID
    public var name: String
    public var scope: CheckSpec.Scope
    public var passing: Bool
    /// The latest failure, while the check is failing.
    public var reason: String?
}

/// Runs the checks of every group, each at its interval, and reports transitions.
///
/// Hysteresis: a passing check fails after `fall` consecutive failures, a failing one passes
/// again after `rise` consecutive successes. Every check starts *passing* ("healthy until
/// proven otherwise"), as the core starts every group healthy: an agent restart or a fresh
/// activation then never looks like a failure and never holds placement back by `rise`
/// intervals; a service that is really broken is found after `fall` failures, exactly as
/// one that breaks later.
///
/// Scope: `active` checks (the service) run only while the group is active here
/// (``setActive(_:_:)``); elsewhere they count as passing, and a result that arrives after the
/// group stopped being active is dropped. `always` checks (the node) run everywhere.
/// `upstream` checks count towards the node's upstream reachability, not the group's health.
///
/// Start ``run()`` in a task (it returns when that task is cancelled, and then finishes
/// ``events``); read ``events`` for the transitions.
public actor HealthMonitor {
    /// Runs one check once; ``runCheck(_:timeout:environment:)`` unless a test injects another.
    public typealias CheckRunner = @Sendable (CheckSpec.Kind, Duration, [String: String]) async -> CheckOutcome

    /// Transitions only: nothing is reported for the initial all-passing state.
    public nonisolated let events: AsyncStream<HealthEvent>
    private let continuation: AsyncStream<HealthEvent>.Continuation
    private let node: NodeID
    private let runner: CheckRunner

    private struct Entry {
        /// Stable across reconfigurations (a loop finds its entry by it, and ends without one).
        var id: Int
        var group: GroupID
        var spec: CheckSpec
        var passing = true
        var successes = 0
        var failures = 0
        var reason: String?
        /// Bumped when the group's activity here changes: results from before are dropped.
        var generation = 0
    }
    private var entries: [Entry]
    private var nextID = 0
    /// The running loop of each entry, by entry id.
    private var loops: [Int: Task<Void, Never>] = [:]
    private var activeGroups: Set<GroupID> = []
    private var groupPassing: [GroupID: Bool] = [:]
    private var upstreamPassing = true
    private var running = false
    /// How long a group's failed `active` checks stay failed after it stopped being active
    /// here (its service failed on this node: the node is not chosen again at once).
    private let failureHoldDown: Duration
    /// The configuration revision the present checks come from: an older one that arrives
    /// late (reconfigurations run as separate tasks) is ignored.
    public private(set) var revision: UInt64

    /// `checks` per group, from configuration `revision`; `node` is this node (exported to
    /// exec checks as TANDEM_NODE, with TANDEM_GROUP and TANDEM_ROLE).
    public init(checks: [GroupID: [CheckSpec]], revision: UInt64 = 0, node: NodeID, failureHoldDown: Duration = .seconds(30),
                runner: @escaping CheckRunner = { kind, timeout, environment in
        await runCheck(kind, timeout: timeout, environment: environment)
    }) {
        self.failureHoldDown = failureHoldDown
        self.revision = revision
        (events, continuation) = AsyncStream.makeStream(of: HealthEvent.self)
        self.node = node
        self.runner = runner
        var entries: [Entry] = []
        for group in checks.keys.sorted() {
            for spec in checks[group]! { entries.append(Entry(id: entries.count + 1, group: group, spec: spec)) }
        }
        self.entries = entries
        nextID = entries.count
        for group in checks.keys { groupPassing[group] = true }
    }

    /// Runs every check at its interval until the calling task is cancelled.
    public func run() async {
        guard !running else { return }
        running = true
        for index in entries.indices { startLoop(entries[index].id) }
        // Sleeps until cancelled (also without checks, like any long-running service).
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        for task in loops.values { task.cancel() }
        loops.removeAll()
        continuation.finish()
    }

    private func startLoop(_ id: Int) {
        loops[id] = Task { await self.loop(id) }
    }

    /// Replaces the checks of every group whose list changed (a new configuration revision):
    /// their old checks stop and the new ones start from passing; groups not in `checks` are
    /// forgotten. Unchanged groups keep their checks and their state. Returns false, and
    /// changes nothing, when `revision` is not newer than the present one (two revisions
    /// applied in quick succession may reach the monitor out of order).
    @discardableResult
    public func reconfigure(checks: [GroupID: [CheckSpec]], revision: UInt64) -> Bool {
        guard revision > self.revision else { return false }
        self.revision = revision
        let groups = Set(entries.map(\.group)).union(groupPassing.keys).union(checks.keys)
        for group in groups.sorted() {
            let current = entries.filter { $0.group == group }.map(\.spec)
            guard current != (checks[group] ?? []) || checks[group] == nil else { continue }
            for entry in entries where entry.group == group {
                loops.removeValue(forKey: entry.id)?.cancel()
            }
            entries.removeAll { $0.group == group }
            guard let specs = checks[group] else {
                groupPassing[group] = nil
                continue
            }
            if groupPassing[group] == nil { groupPassing[group] = true }
            for spec in specs {
                nextID += 1
                entries.append(Entry(id: nextID, group: group, spec: spec))
                if running { startLoop(nextID) }
            }
        }
        updateAggregates()
        return true
    }

    /// Says whether `group` is active on this node, which decides whether its `active`-scope
    /// checks run. Leaving the active role makes those checks pass again (reported), except
    /// those that were failing: the service failed here, so they stay failed for
    /// `failureHoldDown` (otherwise the node, healthy again the moment it stopped, could be
    /// given the group straight back and fail again). Entering the active role starts them
    /// from passing, first run at their next tick (within one interval).
    public func setActive(_ group: GroupID, _ active: Bool) {
        guard activeGroups.contains(group) != active else { return }
        if active { activeGroups.insert(group) } else { activeGroups.remove(group) }
        var holding: [(id: Int, generation: Int)] = []
        for index in entries.indices where entries[index].group == group && entries[index].spec.scope == .active {
            entries[index].generation += 1
            entries[index].successes = 0
            entries[index].failures = 0
            if !entries[index].passing {
                if !active && failureHoldDown > .zero {
                    holding.append((entries[index].id, entries[index].generation))
                    continue
                }
                entries[index].passing = true
                entries[index].reason = nil
                report(entries[index])
            }
        }
        updateAggregates()
        for (id, generation) in holding {
            let wait = failureHoldDown
            Task {
                try? await Task.sleep(for: wait)
                self.endHoldDown(id, generation: generation)
            }
        }
    }

    /// A held failure passes again, unless the group became active here meanwhile.
    private func endHoldDown(_ id: Int, generation: Int) {
        guard let index = entries.firstIndex(where: { $0.id == id }),
              entries[index].generation == generation, !entries[index].passing else { return }
        entries[index].passing = true
        entries[index].reason = nil
        report(entries[index])
        updateAggregates()
    }

    /// Whether every non-upstream check of `group` passes (true for a group without checks).
    public func isPassing(_ group: GroupID) -> Bool { groupPassing[group] ?? true }

    /// Whether every upstream check passes.
    public var upstreamReachable: Bool { upstreamPassing }

    /// Every check's present state.
    public var statuses: [CheckStatus] {
        entries.map { CheckStatus(group: $0.group, name: $0.spec.kind.name, scope: $0.spec.scope, passing: $0.passing, reason: $0.reason) }
    }

    // MARK: -

    private func loop(_ id: Int) async {
        guard let spec = entries.first(where: { $0.id == id })?.spec else { return }
        let clock = ContinuousClock()
        var next = clock.now
        while !Task.isCancelled {
            guard let index = entries.firstIndex(where: { $0.id == id }) else { return }
            if let (generation, environment) = turn(index) {
                let outcome = await runner(spec.kind, spec.timeout, environment)
                if Task.isCancelled { return }
                guard let index = entries.firstIndex(where: { $0.id == id }) else { return }
                record(index, outcome, generation: generation)
            }
            next = next.advanced(by: spec.interval)
            if next < clock.now { next = clock.now }  // a slow check delays, never bunches, the next
            try? await Task.sleep(until: next, clock: clock)
        }
    }

    /// Whether the check runs this time, and with what generation and environment.
    private func turn(_ index: Int) -> (Int, [String: String])? {
        let entry = entries[index]
        let active = activeGroups.contains(entry.group)
        if entry.spec.scope == .active && !active { return nil }
        let environment = ["TANDEM_GROUP": entry.group.name, "TANDEM_NODE": node.name, "TANDEM_ROLE": active ? "active" : "standby"]
        return (entry.generation, environment)
    }

    private func record(_ index: Int, _ outcome: CheckOutcome, generation: Int) {
        guard entries[index].generation == generation else { return }
        var entry = entries[index]
        switch outcome {
        case .ok:
            entry.successes += 1
            entry.failures = 0
            if !entry.passing && entry.successes >= max(1, entry.spec.rise) {
                entry.passing = true
                entry.reason = nil
            }
        case .failed(let reason):
            entry.failures += 1
            entry.successes = 0
            if entry.passing && entry.failures >= max(1, entry.spec.fall) {
                entry.passing = false
            }
            if !entry.passing { entry.reason = reason }
        }
        let changed = entry.passing != entries[index].passing
        entries[index] = entry
        if changed {
            report(entry)
            updateAggregates()
        }
    }

    private func report(_ entry: Entry) {
        continuation.yield(.check(group: entry.group, name: entry.spec.kind.name, passing: entry.passing, reason: entry.reason))
    }

    private func updateAggregates() {
        for group in groupPassing.keys.sorted() {
            let passing = entries.allSatisfy { $0.group != group || $0.spec.kind.isUpstream || $0.passing }
            if groupPassing[group] != passing {
                groupPassing[group] = passing
                continuation.yield(.group(group, passing: passing))
            }
        }
        let upstream = entries.allSatisfy { !$0.spec.kind.isUpstream || $0.passing }
        if upstream != upstreamPassing {
            upstreamPassing = upstream
            continuation.yield(.upstream(reachable: upstream))
        }
    }
}
