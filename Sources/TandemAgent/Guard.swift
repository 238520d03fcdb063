#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import Synchronization
import TandemCore

/// The standing guard (DESIGN §4, rule 3): a separate process that stops a group's
/// resources by the deadline the core gave (`activate(until:)`, `renew`), even when the
/// agent is stalled (SIGSTOP, a frozen VM, a long GC-like pause) or dead (kill -9, a crash).
///
/// The agent starts it as a child (`tandem guard`) with a pipe on its standard input and
/// tells it, one line per change:
///
///     hold GROUP EPOCH UNTIL_NS     the group is active here until UNTIL (CLOCK_BOOTTIME ns)
///     pid GROUP PID                 a process of the group's (exec run) to kill on teardown
///     release GROUP                 the agent stopped the group itself
///
/// When a deadline passes without renewal, or the pipe closes (the agent is gone), the guard
/// tears the group down: it kills the recorded processes and stops every resource of the
/// group in reverse order (address removed, units and scripts stopped). The guard ignores
/// SIGTERM and SIGINT: it ends when the agent closes the pipe, after tearing down.
public final class GuardClient: Sendable {
    private let state: Mutex<State>
    public let processID: pid_t

    struct State {
        var fd: Int32
        var broken = false
    }

    /// Starts `executable guard ARGUMENTS…` with a pipe on its standard input.
    public init(executable: String, arguments: [String]) throws(AgentError) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw AgentError("cannot create the guard's pipe: \(String(cString: strerror(errno)))")
        }
        // Neither end may leak into other children (resources): the guard must see EOF
        // when the agent dies, not when the last resource holding a copy exits.
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group: a Ctrl-C meant for the agent must not reach the guard.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv = [executable, "guard"] + arguments
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, &cArgs, environ)
        Glibc.close(fds[0])
        guard rc == 0 else {
            Glibc.close(fds[1])
            throw AgentError("cannot start the guard process \(executable): \(String(cString: strerror(rc)))")
        }
        processID = pid
        state = Mutex(State(fd: fds[1]))
    }

    /// The group is active here until `until` (rule 3); sent before its resources start.
    /// `revision`: the configuration revision whose resources of the group run here (the
    /// guard stops them as that revision's file says).
    public func hold(_ group: GroupID, epoch: Epoch, until: Instant, revision: UInt64) {
        write("hold \(group) \(epoch) \(until.nanoseconds) \(revision)\n")
    }

    public func addProcess(_ group: GroupID, pid: pid_t) {
        write("pid \(group) \(pid)\n")
    }

    public func release(_ group: GroupID) {
        write("release \(group)\n")
    }

    /// Whether the guard can no longer be told anything (it died): the agent must then stop
    /// its groups itself and stop.
    public var isBroken: Bool { state.withLock { $0.broken } }

    /// Closes the pipe: the guard tears down whatever is still held, then exits. Waits for it.
    public func close() {
        let fd: Int32 = state.withLock { s in
            let fd = s.fd
            s.fd = -1
            return fd
        }
        if fd >= 0 { Glibc.close(fd) }
        var status: Int32 = 0
        while waitpid(processID, &status, 0) < 0 && errno == EINTR {}
    }

    private func write(_ line: String) {
        state.withLock { s in
            guard s.fd >= 0, !s.broken else { return }
            let bytes = Array(line.utf8)
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(s.fd, $0.baseAddress! + offset, $0.count - offset) }
                if n < 0 {
                    if errno == EINTR { continue }
                    s.broken = true
                    return
                }
                offset += n
            }
        }
    }
}

/// The guard process's side: reads the agent's lines and enforces the deadlines.
public struct GuardProcess {
    /// Stops every resource of a group (in reverse order) as configuration revision
    /// `revision` describes them, whatever state they are in.
    public typealias Teardown = @Sendable (GroupID, Epoch, _ revision: UInt64, _ reason: String) async -> Void

    struct Hold {
        var epoch: Epoch
        var until: Instant
        var revision: UInt64
        var pids: [pid_t] = []
    }

    enum Work: Sendable {
        /// A deadline passed without renewal: tear the group down now.
        case expired(GroupID, Hold)
        /// The agent closed the pipe: tear down everything still held, then exit.
        case agentGone([GroupID: Hold])
    }

    let teardown: Teardown
    let log: @Sendable (String) -> Void

    public init(teardown: @escaping Teardown, log: @escaping @Sendable (String) -> Void) {
        self.teardown = teardown
        self.log = log
    }

    /// Runs until the agent closes the pipe (standard input), then tears down what is held.
    public func run() async {
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let (stream, continuation) = AsyncStream<Work>.makeStream(bufferingPolicy: .unbounded)
        let log = self.log
        // A plain thread owns the holds: it reads the agent's lines and sleeps in poll() until
        // the next line or the nearest deadline, so a deadline is never missed by more than
        // the scheduler's latency, whatever the agent is doing (stalled, stopped, dead).
        let reader = Thread {
            var holds: [GroupID: Hold] = [:]
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let now = AgentClock.now()
                for (group, hold) in holds.sorted(by: { $0.key < $1.key }) where hold.until <= now {
                    holds[group] = nil
                    continuation.yield(.expired(group, hold))
                }
                var timeout: Int32 = -1
                if let nearest = holds.values.map(\.until).min() {
                    let left = (nearest.nanoseconds - AgentClock.now().nanoseconds + 999_999) / 1_000_000
                    timeout = Int32(max(0, min(60_000, left)))
                }
                var pfd = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
                let ready = poll(&pfd, 1, timeout)
                if ready < 0 {
                    if errno == EINTR { continue }
                    break
                }
                if ready == 0 { continue }
                let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                pending.append(contentsOf: buffer[0..<n])
                while let newline = pending.firstIndex(of: 10) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    if !Self.apply(line, to: &holds) { log("ignored a malformed line from the agent: \(line.debugDescription)") }
                }
            }
            continuation.yield(.agentGone(holds))
            continuation.finish()
        }
        reader.start()

        for await work in stream {
            switch work {
            case .expired(let group, let hold):
                await tearDown(group, hold, reason: "deadline \(hold.until) passed without renewal (now \(AgentClock.now())): the agent is stalled")
            case .agentGone(let holds):
                for (group, hold) in holds.sorted(by: { $0.key < $1.key }) {
                    await tearDown(group, hold, reason: "the agent is gone (its pipe closed)")
                }
                log("agent gone; guard exits")
                return
            }
        }
    }

    /// Applies one line of the agent's; false when it is malformed.
    static func apply(_ text: String, to holds: inout [GroupID: Hold]) -> Bool {
        let parts = text.split(separator: " ").map(String.init)
        switch (parts.first, parts.count) {
        case ("hold", 5):
            guard let epoch = Epoch(parts[2]), let until = Int64(parts[3]), let revision = UInt64(parts[4]) else { return false }
            let group = GroupID(parts[1])
            let fresh = Hold(epoch: epoch, until: Instant(nanoseconds: until), revision: revision)
            var hold = holds[group] ?? fresh
            if hold.epoch != epoch { hold = fresh }
            hold.until = Instant(nanoseconds: until)
            holds[group] = hold
            return true
        case ("pid", 3):
            guard let pid = pid_t(parts[2]), holds[GroupID(parts[1])] != nil else { return false }
            holds[GroupID(parts[1])]!.pids.append(pid)
            return true
        case ("release", 2):
            holds[GroupID(parts[1])] = nil
            return true
        default:
            return false
        }
    }

    func tearDown(_ group: GroupID, _ hold: Hold, reason: String) async {
        log("tearing down \(group) epoch \(hold.epoch): \(reason)")
        for pid in hold.pids where pid > 1 {
            // The run command leads its own process group: stop the whole group.
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
        await teardown(group, hold.epoch, hold.revision, reason)
    }
}

/// An error of the agent's own, with a message that says what is wrong and what to do.
public struct AgentError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
