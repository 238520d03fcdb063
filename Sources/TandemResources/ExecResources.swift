import Glibc
import Logging
import TandemConfig
import TandemCore

/// `exec: {start, stop, monitor, timeout}`: scripts with OCF-style exit codes, each run by
/// `/bin/sh -c` with the TANDEM_* variables and bounded by the spec's timeout.
///
/// - start: exit 0 is success, anything else (or the timeout) fails the start.
/// - stop: exit 0, or 7 ("not running"), is success; no stop script means nothing to do.
/// - monitor: exit 0 running, 7 not running, anything else failed. Without a monitor script
///   the resource reports running after a successful start and not running after a stop.
public actor ScriptResource: Resource {
    public nonisolated let name: String
    private let spec: ExecSpec
    private let logger: Logger
    private var started = false

    public init(_ spec: ExecSpec, logger: Logger) {
        self.spec = spec
        self.logger = logger
        self.name = "exec \(shortened(spec.start ?? spec.monitor ?? spec.stop ?? "(no commands)"))"
    }

    public func start(_ context: ResourceContext) async throws(ResourceError) {
        if let command = spec.start {
            let result = await runShell(command, environment: context.environment, timeout: spec.timeout)
            guard result.succeeded else {
                throw ResourceError(.startFailed, resource: name, message: "start \(result)")
            }
        }
        started = true
    }

    public func stop(_ context: ResourceContext) async throws(ResourceError) {
        started = false
        guard let command = spec.stop else { return }
        let result = await runShell(command, environment: context.environment, timeout: spec.timeout)
        guard result.exitCode == 0 || result.exitCode == 7 else {
            throw ResourceError(.stopFailed, resource: name, message: "stop \(result)")
        }
    }

    public func monitor(_ context: ResourceContext) async -> MonitorResult {
        guard let command = spec.monitor else { return started ? .running : .notRunning }
        let result = await runShell(command, environment: context.environment, timeout: spec.timeout)
        switch result.exitCode {
        case 0: return .running
        case 7: return .notRunning
        default: return .failed("monitor \(result)")
        }
    }
}

/// `exec: {run: COMMAND}`: a long-running command the agent starts on activation and keeps
/// as its own child, in a session and process group of its own (pgid == ``processID``).
///
/// - start: spawns it unless it is running already; stdout and stderr are the agent's own
///   (so under systemd they reach the journal).
/// - stop: SIGTERM to the whole group, SIGKILL to what is left after `timeout`, then the reap.
///   A `stop` on an instance that did not start it (the guard's, or a restarted agent's)
///   kills the group recorded in the pid file with SIGKILL at once.
/// - monitor: running while it runs; if it exits by itself, `failed` with its exit status (the
///   rest of its group is then terminated as on stop, as systemd does) until the next start
///   or stop.
public actor RunResource: Resource {
    public nonisolated let name: String
    private let command: String
    private let timeout: Duration
    private let logger: Logger
    private var child: ChildProcess?
    /// Set when the command exited by itself while it should have been running.
    private var unexpectedExit: Termination?
    /// Clearing the group of a command that exited by itself.
    private var cleanup: Task<Termination, Never>?
    private let pidFile: PidFile?

    /// `pidFile`: where the running command's process group is recorded, so that the guard or
    /// a restarted agent (a `RunResource` built with the same path) can stop it by `stop`.
    public init(command: String, timeout: Duration, pidFile: String? = nil, logger: Logger) {
        self.command = command
        self.timeout = timeout
        self.logger = logger
        self.pidFile = pidFile.map(PidFile.init(path:))
        self.name = "exec run \(shortened(command))"
    }

    /// The pid of the running command, which is also its process group id; nil when not
    /// running. The agent hands it to the guard process, which kills the group (`kill(-pid)`)
    /// if the agent dies.
    public var processID: pid_t? {
        guard let child, !child.hasExited else { return nil }
        return child.pid
    }

    public func start(_ context: ResourceContext) async throws(ResourceError) {
        if let previous = child {
            if !previous.hasExited { return }
            await exited(previous, grace: timeout)  // exited just now: reap it before replacing it
        }
        unexpectedExit = nil
        let spawned: ChildProcess
        do {
            spawned = try ChildProcess.spawn(["/bin/sh", "-c", command], environment: mergedEnvironment(context.environment),
                                             output: nil)
        } catch {
            throw ResourceError(.startFailed, resource: name, message: "\(error); check the command and the agent's PATH")
        }
        child = spawned
        if let pidFile, let error = pidFile.record(spawned.pid) {
            // Without the record only this process could stop the command: refuse to run it.
            child = nil
            _ = await spawned.terminate(grace: timeout)
            throw ResourceError(.startFailed, resource: name, message:
                "cannot record its process group in \(pidFile.path): \(errnoText(error)); check the data directory")
        }
        logger.info("started", metadata: ["resource": "\(name)", "pid": "\(spawned.pid)"])
        Task { [grace = timeout] in
            await spawned.waitForExit()
            await self.exited(spawned, grace: grace)
        }
    }

    /// The command exited; if it was not stopped on purpose, record why and clear its group.
    private func exited(_ process: ChildProcess, grace: Duration) async {
        guard child === process else { return }  // stopped on purpose: `stop` reaps it
        child = nil
        unexpectedExit = process.exitStatus
        let status = process.exitStatus.map { "\($0)" } ?? "unknown"
        logger.error("exited by itself while active", metadata: ["resource": "\(name)", "status": "\(status)"])
        // Whatever else it left in its group goes too (as systemd does), and the leader is reaped.
        let cleanup = Task { await process.terminate(grace: grace) }
        self.cleanup = cleanup
        let final = await cleanup.value
        if child == nil { pidFile?.remove() }
        if self.cleanup != nil, child == nil { unexpectedExit = final }  // unless stopped or restarted meanwhile
    }

    public func stop(_ context: ResourceContext) async throws(ResourceError) {
        if let cleanup {
            _ = await cleanup.value
            self.cleanup = nil
        }
        unexpectedExit = nil
        guard let process = child else {
            // Not started by this process: stop what another one (a dead agent) recorded.
            if let pidFile, case let found = await pidFile.killSurvivors(wait: timeout), found > 0 {
                logger.notice("killed \(found) process(es) left running by an agent that is gone", metadata: ["resource": "\(name)"])
            }
            return
        }
        child = nil
        let status = await process.terminate(grace: timeout)
        pidFile?.remove()
        logger.info("stopped", metadata: ["resource": "\(name)", "status": "\(status)"])
    }

    public func monitor(_ context: ResourceContext) async -> MonitorResult {
        if let child {
            // Seen by the watcher thread but not yet handled by `exited`.
            if let status = child.exitStatus { return .failed("the command exited by itself: \(status)") }
            return .running
        }
        if let unexpectedExit { return .failed("the command exited by itself: \(unexpectedExit)") }
        return .notRunning
    }
}

/// `systemd: UNIT`: `systemctl start|stop UNIT` bounded by `timeout`; monitored with
/// `systemctl is-active UNIT`. Stopping an inactive unit succeeds (systemctl says so itself).
public struct SystemdResource: Resource {
    public let name: String
    public let unit: String
    private let timeout: Duration
    private let systemctl: String
    private let logger: Logger

    /// `systemctl` is the program to run (a path, or a name looked up in PATH); tests pass a fake.
    public init(unit: String, timeout: Duration, systemctl: String = "systemctl", logger: Logger) {
        self.unit = unit
        self.timeout = timeout
        self.systemctl = systemctl
        self.logger = logger
        self.name = "systemd \(unit)"
    }

    public func start(_ context: ResourceContext) async throws(ResourceError) {
        let result = await runCommand([systemctl, "start", unit], environment: context.environment, timeout: timeout)
        guard result.succeeded else {
            throw ResourceError(.startFailed, resource: name, message: "\(result); see `journalctl -u \(unit)`")
        }
    }

    public func stop(_ context: ResourceContext) async throws(ResourceError) {
        let result = await runCommand([systemctl, "stop", unit], environment: context.environment, timeout: timeout)
        guard result.succeeded else {
            throw ResourceError(.stopFailed, resource: name, message: "\(result); see `journalctl -u \(unit)`")
        }
    }

    public func monitor(_ context: ResourceContext) async -> MonitorResult {
        let result = await runCommand([systemctl, "is-active", unit], environment: context.environment, timeout: timeout)
        let state = result.output.split(separator: "\n").last.map { $0.trimmingWhitespace() } ?? ""
        switch state {
        case "active", "reloading", "activating": return .running
        case "inactive", "deactivating": return .notRunning
        case "failed": return .failed("systemd reports \(unit) failed; see `systemctl status \(unit)`")
        default: return .failed("is-active \(result)")
        }
    }
}
