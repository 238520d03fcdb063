#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import TandemConfig
import TandemCore
import TandemResources

/// The agent's hands and eyes: every group's resources, the health checks, the resource
/// monitors and the notifiers, behind the few calls the runtime and the guard make.
///
/// A group's health, as reported to the core, is its checks (after rise/fall) and, while it
/// is active here, its resources' own monitors (an `exec run` command that exited, a VIP
/// that vanished): both must pass.
public final class Hands: Sendable {
    public enum HealthChange: Sendable {
        case group(GroupID, passing: Bool, reason: String)
        case upstream(reachable: Bool, reason: String)
    }

    let file: TandemFile
    let node: NodeID
    let logger: Logger
    let stateDirectory: String
    /// Each group's resources, the configuration revision they come from, and a change of
    /// them waiting for the group to stop here (a group is always stopped with the very
    /// resources it was started with).
    let held: Mutex<Held>
    let health: HealthMonitor
    let currentNotifiers: Mutex<Notifiers>
    public var notifiers: Notifiers { currentNotifiers.withLock { $0 } }

    struct Held {
        var groups: [GroupID: (resources: GroupResources, specs: [ResourceSpec], revision: UInt64)] = [:]
        /// nil: the group was removed from the configuration.
        var waiting: [GroupID: (specs: [ResourceSpec], revision: UInt64)?] = [:]
    }
    /// Changes of activity, applied to the monitor in order.
    let activity: AsyncStream<(GroupID, Bool)>.Continuation
    let state: Mutex<State>

    struct State {
        var tasks: [Task<Void, Never>] = []
        var checksPass: [GroupID: Bool] = [:]
        var resourcesPass: [GroupID: Bool] = [:]
        var reported: [GroupID: Bool] = [:]
        var active: Set<GroupID> = []
        var onChange: (@Sendable (HealthChange) -> Void)?
        /// Groups a drill makes fail here (`service-failure`), with the reason given.
        var forced: [GroupID: String] = [:]
    }

    public init(file: TandemFile, node: NodeID, logger: Logger) {
        self.file = file
        self.node = node
        self.logger = logger
        // `exec run` process groups are recorded here, so that the guard and a restarted agent
        // (the same paths) can stop what a dead agent started.
        let stateDirectory = "\(file.dataDir)/run-\(node.name)"
        self.stateDirectory = stateDirectory
        mkdir(stateDirectory, 0o700)
        var held = Held()
        for group in file.cluster.groups.map(\.id) {
            let specs = file.groupSpecs[group]?.resources ?? []
            let resources = GroupResources(group: group, specs: specs, stateDirectory: stateDirectory, logger: logger)
            held.groups[group] = (resources, specs, file.cluster.revision)
        }
        self.held = Mutex(held)
        self.health = HealthMonitor(checks: Self.checks(of: file), revision: file.cluster.revision, node: node)
        self.currentNotifiers = Mutex(Notifiers(specs: file.notify, cluster: file.cluster.name, node: node, logger: logger))
        let (stream, continuation) = AsyncStream<(GroupID, Bool)>.makeStream()
        self.activity = continuation
        self.state = Mutex(State())
        let health = self.health
        let task = Task {
            for await (group, active) in stream { await health.setActive(group, active) }
        }
        state.withLock { $0.tasks.append(task) }
    }

    static func checks(of file: TandemFile) -> [GroupID: [CheckSpec]] {
        var checks: [GroupID: [CheckSpec]] = [:]
        for group in file.cluster.groups.map(\.id) { checks[group] = file.groupSpecs[group]?.checks ?? [] }
        return checks
    }

    /// The group's resources as they are now (the ones it was started with, while it runs).
    func resources(of group: GroupID) -> GroupResources? {
        held.withLock { $0.groups[group]?.resources }
    }

    /// The configuration revision the group's present resources come from (the guard stops
    /// them by that revision's file).
    public func revision(of group: GroupID) -> UInt64? {
        held.withLock { $0.groups[group]?.revision }
    }

    /// Takes a new configuration revision: checks and notifiers change at once; a group's
    /// resources change at once where the group is not `busy` here (active, starting or
    /// stopping), else when it has stopped (`settle`).
    public func reconfigure(_ new: TandemFile, busy: Set<GroupID>) {
        let revision = new.cluster.revision
        held.withLock { held in
            let groups = Set(held.groups.keys).union(new.cluster.groups.map(\.id))
            for group in groups.sorted() {
                let change: (specs: [ResourceSpec], revision: UInt64)?
                if new.cluster.group(group) != nil {
                    let specs = new.groupSpecs[group]?.resources ?? []
                    if let current = held.groups[group], current.specs == specs {
                        held.waiting[group] = nil
                        continue
                    }
                    change = (specs, revision)
                } else {
                    change = nil
                }
                if busy.contains(group) {
                    held.waiting[group] = .some(change)
                } else {
                    Self.replace(group, with: change, in: &held, stateDirectory: stateDirectory, logger: logger)
                }
            }
        }
        let health = self.health
        let checks = Self.checks(of: new)
        // A task per revision: the monitor ignores one that arrives after a newer one.
        let task = Task { _ = await health.reconfigure(checks: checks, revision: revision) }
        state.withLock { $0.tasks.append(task) }
        let specs = new.notify
        if specs != notifiers.specs {
            let replacement = Notifiers(specs: specs, cluster: new.cluster.name, node: node, logger: logger)
            let old = currentNotifiers.withLock { current in
                defer { current = replacement }
                return current
            }
            Task { await old.shutdown(within: .seconds(5)) }
        }
    }

    /// The group stopped here and nothing of it is in flight: a resource change that waited
    /// for that is made now.
    public func settle(_ group: GroupID) {
        held.withLock { held in
            guard let waiting = held.waiting.removeValue(forKey: group) else { return }
            Self.replace(group, with: waiting, in: &held, stateDirectory: stateDirectory, logger: logger)
        }
    }

    private static func replace(
        _ group: GroupID, with change: (specs: [ResourceSpec], revision: UInt64)?, in held: inout Held,
        stateDirectory: String, logger: Logger
    ) {
        held.waiting[group] = nil
        guard let change else {
            held.groups[group] = nil
            return
        }
        let resources = GroupResources(group: group, specs: change.specs, stateDirectory: stateDirectory, logger: logger)
        held.groups[group] = (resources, change.specs, change.revision)
    }

    func context(_ group: GroupID, epoch: Epoch, role: String, reason: String) -> ResourceContext {
        ResourceContext(group: group, role: role, epoch: epoch, node: node, reason: reason)
    }

    /// At agent start: stops every resource of every group, whatever state it is in.
    public func sweepAll(reason: String) async {
        // The held resources, so that `exec run` commands recorded by an earlier agent (pid
        // files) are stopped too.
        for group in file.cluster.groups.map(\.id) {
            guard let resources = resources(of: group), !resources.resources.isEmpty else { continue }
            let problems = await resources.sweep(context(group, epoch: 0, role: "stopping", reason: reason))
            for problem in problems { logger.warning("sweep of \(group): \(problem)") }
        }
    }

    /// The addresses at the head of the group's resource list (the VIPs started before
    /// anything else), added at once on the caller's thread; stops at the first resource
    /// that is not a VIP or that fails (`start` deals with it in order).
    public func addAddressesAtOnce(_ group: GroupID) {
        for resource in resources(of: group)?.resources ?? [] {
            guard let vip = resource as? VIPResource, vip.addAtOnce() else { return }
        }
    }

    /// Starts the group's resources in order (rolled back on failure). Returns what failed,
    /// and the process groups of its `exec run` commands (for the guard).
    public func start(_ group: GroupID, epoch: Epoch, reason: String) async -> (problem: String?, processes: [Int32]) {
        guard let resources = resources(of: group) else { return ("no such group \(group)", []) }
        do {
            try await resources.start(context(group, epoch: epoch, role: "active", reason: reason))
        } catch {
            return (error.description, [])
        }
        return (nil, await resources.runningProcessIDs)
    }

    /// Stops the group's resources in reverse order, past failures (logged).
    public func stop(_ group: GroupID, epoch: Epoch, reason: String) async {
        guard let resources = resources(of: group) else { return }
        do {
            try await resources.stop(context(group, epoch: epoch, role: "stopping", reason: reason))
        } catch {
            logger.error("stopping \(group) epoch \(epoch): \(error)")
        }
    }

    /// Stops `group` as `file` describes its resources (the guard, for a group started under
    /// another configuration revision than the one it was given).
    public static func stop(_ group: GroupID, epoch: Epoch, reason: String, file: TandemFile, node: NodeID, logger: Logger) async {
        let resources = GroupResources(
            group: group, specs: file.groupSpecs[group]?.resources ?? [], stateDirectory: "\(file.dataDir)/run-\(node.name)", logger: logger)
        do {
            try await resources.stop(ResourceContext(group: group, role: "stopping", epoch: epoch, node: node, reason: reason))
        } catch {
            logger.error("stopping \(group) epoch \(epoch): \(error)")
        }
    }

    /// Starts the checks and the resource monitors; `onChange` hears every transition of a
    /// group's health and of upstream reachability.
    public func startMonitoring(every interval: Duration = .seconds(1), onChange: @escaping @Sendable (HealthChange) -> Void) {
        state.withLock { $0.onChange = onChange }
        let health = self.health
        let run = Task { await health.run() }
        let listen = Task { [self] in
            for await event in health.events {
                switch event {
                case .check(let group, let name, let passing, let reason):
                    logger.notice("check \(name) of \(group) \(passing ? "passes" : "fails")\(reason.map { ": \($0)" } ?? "")")
                case .group(let group, let passing):
                    update(group, checks: passing, reason: passing ? "" : "a check fails")
                case .upstream(let reachable):
                    onChange(.upstream(reachable: reachable, reason: reachable ? "" : "an upstream check fails"))
                }
            }
        }
        let monitors = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                let active = state.withLock { $0.active }
                for group in active.sorted() {
                    guard let resources = resources(of: group) else { continue }
                    let result = await resources.monitor(context(group, epoch: 0, role: "active", reason: "monitor"))
                    // Still active after the await? A stop in between makes the result moot.
                    guard state.withLock({ $0.active.contains(group) }) else { continue }
                    switch result {
                    case .running: update(group, resources: true, reason: "")
                    case .notRunning: update(group, resources: false, reason: "a resource is not running")
                    case .failed(let why): update(group, resources: false, reason: why)
                    }
                }
            }
        }
        state.withLock { $0.tasks += [run, listen, monitors] }
    }

    func update(_ group: GroupID, checks: Bool? = nil, resources: Bool? = nil, reason: String) {
        let change: HealthChange? = state.withLock { s in
            if let checks { s.checksPass[group] = checks }
            if let resources { s.resourcesPass[group] = resources }
            let passing = s.forced[group] == nil && (s.checksPass[group] ?? true) && (s.resourcesPass[group] ?? true)
            guard (s.reported[group] ?? true) != passing else { return nil }
            s.reported[group] = passing
            return .group(group, passing: passing, reason: s.forced[group] ?? reason)
        }
        if let change, let onChange = state.withLock({ $0.onChange }) { onChange(change) }
    }

    /// Whether the group is active here: `active` checks and resource monitors run only then.
    public func setActive(_ group: GroupID, _ active: Bool) {
        let changed = state.withLock { s in
            if active { return s.active.insert(group).inserted }
            s.resourcesPass[group] = nil
            return s.active.remove(group) != nil
        }
        guard changed else { return }
        activity.yield((group, active))
        if !active { update(group, reason: "") }
    }

    /// A drill's service failure: the group's health is reported failing here while
    /// `reason` is set (its checks keep running), and as its checks say again after.
    public func forceFailing(_ group: GroupID, reason: String?) {
        state.withLock { $0.forced[group] = reason }
        update(group, reason: reason ?? "")
    }

    /// Tells every notifier about an event (never blocks).
    public func notify(_ event: Event) {
        notifiers.send(event)
    }

    public func stopMonitors() {
        activity.finish()
        for task in state.withLock({ $0.tasks }) { task.cancel() }
    }
}
