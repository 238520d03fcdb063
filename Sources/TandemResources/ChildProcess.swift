import Glibc
import Synchronization

// Why posix_spawn and not swift-subprocess: a timed-out command must be killed with its whole
// process group, grandchildren included, and the group may only be signalled while its id
// cannot have been recycled, that is while the group leader is still unreaped. Subprocess
// reaps the leader itself and ends its teardown as soon as the leader exits, so a grandchild
// that outlives its shell (or ignores SIGTERM) escapes. The `run` resource also needs a child
// that outlives any single call, with its pid handed out, which Subprocess's closure-scoped
// `Execution` does not offer. Here each child is watched by one OS thread blocked in
// `waitid(WNOWAIT)`, which observes the exit without reaping; the reap is a separate step that
// happens after the group has been dealt with, exactly once, under a lock that also guards
// every signal sent to the group.

/// How a process ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public var description: String {
        switch self {
        case .exited(let code): "exit \(code)"
        case .signaled(let signal): "killed by signal \(signal) (\(signalName(signal)))"
        }
    }

    /// Decodes a `waitpid` status word.
    init(waitStatus status: Int32) {
        if status & 0x7f == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .signaled(status & 0x7f)
        }
    }
}

func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGTERM: "SIGTERM"
    case SIGKILL: "SIGKILL"
    case SIGINT: "SIGINT"
    case SIGHUP: "SIGHUP"
    case SIGSEGV: "SIGSEGV"
    case SIGABRT: "SIGABRT"
    case SIGPIPE: "SIGPIPE"
    default: "signal \(signal)"
    }
}

/// Why a process could not be started.
struct SpawnError: Error, CustomStringConvertible {
    var executable: String
    var errno: Int32
    var description: String { "cannot start \(executable): \(errnoText(errno))" }
}

/// A child process, leader of its own session and process group (pgid == pid), watched by a
/// thread until it exits and reaped exactly once. Dropping it without `terminate()` or
/// `reap()` leaves a zombie: every path in this module ends in one of them.
final class ChildProcess: Sendable {
    /// The pid, which is also the id of its process group.
    let pid: pid_t
    private let exitSeen = OneShot()
    /// The leader's status as seen by `waitid` (before the reap), set before `exitSeen` fires.
    private let earlyStatus = Mutex<Termination?>(nil)
    /// Set once reaped; after that the pid may belong to someone else and nothing is signalled.
    private let reaped = Mutex<Termination?>(nil)

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `argv[0]` (an absolute path, or a name looked up in PATH) with exactly the
    /// environment `environment`, stdin from /dev/null, stdout and stderr to `output` (or
    /// inherited when nil), all other descriptors closed, signal dispositions and mask reset
    /// (the agent ignores SIGPIPE; its children must not inherit that).
    static func spawn(_ argv: [String], environment: [String], output: Int32?) throws(SpawnError) -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let output {
            posix_spawn_file_actions_adddup2(&actions, output, 1)
            posix_spawn_file_actions_adddup2(&actions, output, 2)
        }
        if let closeFrom = addCloseFrom {
            _ = closeFrom(&actions, 3)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        // POSIX_SPAWN_SETSID (glibc ≥ 2.26, not exported to Swift): a new session and process group.
        let setSID: Int32 = 0x80
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | setSID))

        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer {
            for p in cArgv { free(p) }
            for p in cEnv { free(p) }
        }
        var pid: pid_t = 0
        var rc: Int32 = 0
        for attempt in 0..<3 {
            rc = argv[0].contains("/")
                ? posix_spawn(&pid, argv[0], &actions, &attributes, cArgv, cEnv)
                : posix_spawnp(&pid, argv[0], &actions, &attributes, cArgv, cEnv)
            // ETXTBSY: a script just written is still open for writing in a child some other
            // thread is starting at this instant; it is closed within microseconds.
            guard rc == ETXTBSY, attempt < 2 else { break }
            usleep(2000)
        }
        guard rc == 0 else { throw SpawnError(executable: argv[0], errno: rc) }

        let child = ChildProcess(pid: pid)
        if !startThread({ child.watch() }) {
            // No thread to spare: watch by polling instead (rare, and still never leaks).
            Task.detached { await child.pollForExit() }
        }
        return child
    }

    /// Blocks (on the watcher thread) until the leader has exited, without reaping it.
    private func watch() {
        var info = siginfo_t()
        while true {
            if waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == 0 {
                recordExit(info)
                return
            }
            if errno != EINTR {
                // ECHILD: someone else reaped it (SIGCHLD ignored); it has exited in any case.
                exitSeen.fire()
                return
            }
        }
    }

    private func pollForExit() async {
        var info = siginfo_t()
        while true {
            let rc = waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT | WNOHANG)
            if rc == 0, Self.pid(of: info) == pid {
                recordExit(info)
                return
            }
            if rc != 0, errno != EINTR {
                exitSeen.fire()
                return
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private func recordExit(_ info: siginfo_t) {
        // siginfo_t for SIGCHLD (Linux ABI): si_code at 8, then the union (aligned to the
        // pointer size) holding si_pid, si_uid, si_status.
        var info = info
        let (code, status) = withUnsafeBytes(of: &info) { raw -> (Int32, Int32) in
            let union = MemoryLayout<Int>.size == 8 ? 16 : 12
            return (raw.load(fromByteOffset: 8, as: Int32.self), raw.load(fromByteOffset: union + 8, as: Int32.self))
        }
        let cldExited: Int32 = 1
        earlyStatus.withLock { $0 = code == cldExited ? .exited(status) : .signaled(status) }
        exitSeen.fire()
    }

    private static func pid(of info: siginfo_t) -> pid_t {
        var info = info
        return withUnsafeBytes(of: &info) { $0.load(fromByteOffset: MemoryLayout<Int>.size == 8 ? 16 : 12, as: pid_t.self) }
    }

    /// True once the leader has exited (reaped or not).
    var hasExited: Bool { exitSeen.isFired }

    /// The leader's status once it has exited, before or after the reap.
    var exitStatus: Termination? {
        guard hasExited else { return nil }
        return reaped.withLock { $0 } ?? earlyStatus.withLock { $0 }
    }

    /// Waits until the leader has exited; false on timeout or cancellation.
    func waitForExit(timeout: Duration) async -> Bool { await exitSeen.wait(timeout: timeout) }

    func waitForExit() async { await exitSeen.wait() }

    /// Sends `signal` to the whole process group, unless the leader has been reaped already
    /// (its id could then name an unrelated group).
    func signalGroup(_ signal: Int32) {
        reaped.withLock { status in
            if status == nil { _ = kill(-pid, signal) }
        }
    }

    /// Reaps the leader once it has exited. Idempotent. Call only after the exit was seen.
    private func reapNow() -> Termination {
        reaped.withLock { status in
            if let status { return status }
            var word: Int32 = 0
            var rc: pid_t
            repeat { rc = waitpid(pid, &word, 0) } while rc == -1 && errno == EINTR
            let result = rc == pid ? Termination(waitStatus: word) : (earlyStatus.withLock { $0 } ?? .exited(255))
            status = result
            return result
        }
    }

    /// Waits for the leader to exit on its own, then reaps it; the rest of the group is left alone.
    func reap() async -> Termination {
        await exitSeen.wait()
        if !exitSeen.isFired {
            // Cancelled: finish the wait in a task that is not, so the leader is still reaped.
            await Task { await exitSeen.wait() }.value
        }
        return reapNow()
    }

    /// Ends the whole process group: SIGTERM, then up to `grace` for every member to exit, then
    /// SIGKILL to whatever is left, then the reap. Returns the leader's status. Runs to the end
    /// even when the calling task is cancelled, so no zombie and no stray member is left. A
    /// leader stuck in the kernel after SIGKILL is given ``killWait``, then reaped later in the
    /// background (the status returned is then SIGKILL).
    @discardableResult
    func terminate(grace: Duration) async -> Termination {
        await Task { await self.terminateUncancelled(grace: grace) }.value
    }

    private func terminateUncancelled(grace: Duration) async -> Termination {
        signalGroup(SIGTERM)
        let deadline = ContinuousClock.now.advanced(by: grace)
        while ContinuousClock.now < deadline {
            if hasExited && !groupHasLiveMembers() { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        // The leader is unreaped here (we reap below), so the group id is still ours.
        signalGroup(SIGKILL)
        if !(await exitSeen.wait(timeout: Self.killWait)) {
            // Stuck in the kernel (uninterruptible sleep, a dead NFS server): SIGKILL takes
            // effect when the system call returns. Do not hold the caller (a group's stop, the
            // release of its address) hostage to that; reap it whenever it goes.
            Task.detached {
                await self.exitSeen.wait()
                _ = self.reapNow()
            }
            return .signaled(SIGKILL)
        }
        return reapNow()
    }

    /// How long a SIGKILLed leader may take to exit before `terminate` returns without it.
    static let killWait: Duration = .seconds(5)

    /// Whether any member of the group other than a zombie is alive (scans /proc).
    func groupHasLiveMembers() -> Bool { !ProcessStat.liveMembers(ofGroup: pid).isEmpty }
}

/// What Tandem reads of /proc/PID/stat.
struct ProcessStat {
    /// Field 3: "R", "S", "Z", …
    var state: Character
    /// Field 5.
    var processGroup: pid_t
    /// Field 22: clock ticks after boot.
    var startTime: UInt64

    /// Nil when the process is gone. The command name (field 2) may hold spaces and
    /// parentheses, so fields are counted after its last ')'.
    static func read(_ pid: pid_t) -> ProcessStat? {
        guard let text = readSmallFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): the process group is fields[2], the start time fields[19].
        guard fields.count > 19, let state = fields[0].first, let group = pid_t(fields[2]), let start = UInt64(fields[19])
        else { return nil }
        return ProcessStat(state: state, processGroup: group, startTime: start)
    }

    /// The members of process group `group` that are not zombies, started at or after
    /// `startTime` (clock ticks after boot), in ascending pid order (scans /proc).
    static func liveMembers(ofGroup group: pid_t, startedAtOrAfter startTime: UInt64 = 0) -> [pid_t] {
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        var members: [pid_t] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let pid = pid_t(name), let stat = read(pid) else { continue }
            if stat.processGroup == group, stat.startTime >= startTime, stat.state != "Z" { members.append(pid) }
        }
        return members.sorted()
    }
}

/// `posix_spawn_file_actions_addclosefrom_np` (glibc ≥ 2.34), looked up at run time because it
/// is not exported to Swift. Without it, descriptors the agent opened without O_CLOEXEC leak.
private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
        return nil
    }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self)
}()

/// Reads a small file (sysfs, procfs) whole; nil when it cannot be read.
func readSmallFile(_ path: String, limit: Int = 16384) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: limit)
    var count = 0
    while count < limit {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, limit - count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 {
            if n < 0 { return nil }
            break
        }
        count += n
    }
    return String(decoding: bytes[..<count], as: UTF8.self)
}
