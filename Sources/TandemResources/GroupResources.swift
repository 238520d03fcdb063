import Glibc
import Logging
import TandemConfig
import TandemCore

/// The resources of one group, started in order and stopped in reverse (DESIGN §7, rule 3).
///
/// Operations run one at a time in the order they were called: a `stop` called while a
/// `start` is under way runs once the start has finished (or rolled back). An operation that
/// has begun runs to its end even if the calling task is cancelled, because a half-started
/// group is worse than a late answer; every resource action is bounded by its own timeout.
public actor GroupResources {
    public nonisolated let group: GroupID
    public nonisolated let resources: [any Resource]
    private let logger: Logger
    private var last: Task<Void, Never>?

    public init(group: GroupID, resources: [any Resource], logger: Logger) {
        self.group = group
        self.resources = resources
        self.logger = logger
    }

    /// The resources of `specs`, built with ``makeResource(_:pidFile:logger:)``; with a
    /// `stateDirectory`, the k-th resource's process group (an `exec run`) is recorded in
    /// STATE_DIRECTORY/GROUP.k.pid.
    public init(group: GroupID, specs: [ResourceSpec], stateDirectory: String? = nil, logger: Logger) {
        let resources = specs.enumerated().map { k, spec in
            makeResource(spec, pidFile: stateDirectory.map { "\($0)/\(group.name).\(k).pid" }, logger: logger)
        }
        self.init(group: group, resources: resources, logger: logger)
    }

    /// Starts every resource in order. If one fails, those already started are stopped again in
    /// reverse and the error names the one that failed, why, and any that did not stop.
    public func start(_ context: ResourceContext) async throws(ResourceError) {
        let result = await serialized { await self.startAll(context) }
        try result.get()
    }

    /// Stops every resource in reverse order, going on past failures; the error lists them all.
    public func stop(_ context: ResourceContext) async throws(ResourceError) {
        let failures = await serialized { await self.stopAll(self.resources, context) }
        guard failures.isEmpty else {
            throw ResourceError(.groupStopFailed, resource: "group \(group.name)", message:
                failures.map(\.description).joined(separator: "; "))
        }
    }

    /// `.running` when every resource runs; otherwise the first that does not, named:
    /// `.failed("vip 10.0.0.100/24 dev eth0: not running")`.
    public func monitor(_ context: ResourceContext) async -> MonitorResult {
        for resource in resources {
            switch await resource.monitor(context) {
            case .running: continue
            case .notRunning: return .failed("\(resource.name): not running")
            case .failed(let why): return .failed("\(resource.name): \(why)")
            }
        }
        return .running
    }

    /// Stops every resource unconditionally, in reverse order, for the start-up clean-up of
    /// what a dead agent may have left (the address removed, the unit stopped, the stop script
    /// run). What is already stopped counts as stopped. Returns the failures (also logged).
    ///
    /// A `run` command started by a previous agent is not this agent's child and cannot be
    /// found here: the guard process that was handed its pid is what ends it.
    public func sweep(_ context: ResourceContext) async -> [ResourceError] {
        let failures = await serialized { await self.stopAll(self.resources, context) }
        for failure in failures {
            logger.error("sweep: \(failure)", metadata: ["group": "\(group.name)"])
        }
        return failures
    }

    /// The pids (each also a process group id) of the group's running `exec: {run: …}` commands,
    /// for the guard process that kills them if the agent dies.
    public var runningProcessIDs: [pid_t] {
        get async {
            var pids: [pid_t] = []
            for case let run as RunResource in resources {
                if let pid = await run.processID { pids.append(pid) }
            }
            return pids
        }
    }

    // MARK: -

    private func startAll(_ context: ResourceContext) async -> Result<Void, ResourceError> {
        var started: [any Resource] = []
        for resource in resources {
            do throws(ResourceError) {
                try await resource.start(context)
                started.append(resource)
                logger.info("started \(resource.name)", metadata: ["group": "\(group.name)", "epoch": "\(context.epoch)"])
            } catch {
                logger.error("start failed: \(error)", metadata: ["group": "\(group.name)", "epoch": "\(context.epoch)"])
                var rollback = context
                rollback.role = "stopping"
                rollback.reason = "rollback: \(resource.name) failed to start"
                let leftovers = await stopAll(started, rollback)
                var message = "\(resource.name) failed to start: \(error.message)"
                if started.isEmpty {
                    message += " (nothing to roll back)"
                } else if leftovers.isEmpty {
                    message += " (rolled back: \(started.reversed().map(\.name).joined(separator: ", ")) stopped)"
                } else {
                    message += "; rollback incomplete: " + leftovers.map(\.description).joined(separator: "; ")
                }
                return .failure(ResourceError(.groupStartFailed, resource: "group \(group.name)", message: message))
            }
        }
        return .success(())
    }

    private func stopAll(_ resources: [any Resource], _ context: ResourceContext) async -> [ResourceError] {
        var failures: [ResourceError] = []
        for resource in resources.reversed() {
            do throws(ResourceError) {
                try await resource.stop(context)
                logger.info("stopped \(resource.name)", metadata: ["group": "\(group.name)", "epoch": "\(context.epoch)"])
            } catch {
                logger.error("stop failed: \(error)", metadata: ["group": "\(group.name)", "epoch": "\(context.epoch)"])
                failures.append(error)
            }
        }
        return failures
    }

    /// Runs `operation` after every operation called before it, in a task of its own that a
    /// cancelled caller does not cancel.
    private func serialized<T: Sendable>(_ operation: @escaping @Sendable () async -> T) async -> T {
        let previous = last
        let task = Task {
            await previous?.value
            return await operation()
        }
        last = Task { _ = await task.value }
        return await task.value
    }
}
