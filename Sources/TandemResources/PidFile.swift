import Glibc
import Logging

/// Where an `exec run` command's process group is recorded on disk while it runs, so that a
/// process other than the one that started it (the guard, or the agent after a restart) can
/// stop it: the guard learns of a `run` pid from the agent only after `start` returns, and
/// neither knows of it if both were killed. One line, "PID STARTTIME", STARTTIME being field
/// 22 of /proc/PID/stat (clock ticks since boot), so that a reused pid is never mistaken for
/// the command.
struct PidFile: Sendable {
    let path: String

    /// Records `pid` (the leader of its own process group). Written to a temporary file and
    /// renamed, so a reader sees the whole line or nothing.
    func record(_ pid: pid_t) -> Int32? {
        guard let start = Self.startTime(of: pid) else { return ESRCH }
        let temporary = path + ".new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return errno }
        let line = Array("\(pid) \(start)\n".utf8)
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let failed = written != line.count ? errno : (fsync(fd) == 0 ? nil : errno)
        close(fd)
        if let failed {
            unlink(temporary)
            return failed
        }
        return rename(temporary, path) == 0 ? nil : errno
    }

    func remove() { unlink(path) }

    /// The recorded group's processes still alive: the leader if its start time matches, and
    /// every process in its process group started no earlier than it; zombies (dead, waiting
    /// to be reaped by whoever inherited them) do not count. Empty when none is left (or
    /// nothing is recorded).
    func survivors() -> (pgid: pid_t, pids: [pid_t]) {
        guard let fd = fopen(path, "r") else { return (0, []) }
        var buffer = [CChar](repeating: 0, count: 128)
        let read = fgets(&buffer, Int32(buffer.count), fd) != nil
        fclose(fd)
        guard read else { return (0, []) }
        let parts = String(cString: buffer).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count == 2, let pgid = pid_t(parts[0]), pgid > 1, let start = UInt64(parts[1]) else { return (0, []) }
        if let leaderStart = Self.startTime(of: pgid), leaderStart != start {
            return (pgid, [])  // the pid was reused: not ours, and neither is a group it leads
        }
        var pids: [pid_t] = []
        guard let proc = opendir("/proc") else { return (pgid, []) }
        defer { closedir(proc) }
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard let pid = pid_t(name), let stat = Self.stat(of: pid) else { continue }
            if stat.pgrp == pgid, stat.start >= start, stat.state != "Z" { pids.append(pid) }
        }
        return (pgid, pids.sorted())
    }

    /// Kills what `survivors()` finds with SIGKILL at once, as the guard does with the pids it
    /// knows (whoever started them is gone; the group must stop now, not after a grace
    /// period), then waits up to `wait` for them to be gone. Returns how many it found.
    func killSurvivors(wait: Duration) async -> Int {
        let found = survivors()
        guard !found.pids.isEmpty else {
            remove()
            return 0
        }
        for pid in found.pids { kill(pid, SIGKILL) }
        let deadline = ContinuousClock.now + wait
        while ContinuousClock.now < deadline, !survivors().pids.isEmpty {
            try? await Task.sleep(for: .milliseconds(5))
        }
        remove()
        return found.pids.count
    }

    static func startTime(of pid: pid_t) -> UInt64? { stat(of: pid)?.start }

    /// Fields 3 (state), 5 (pgrp) and 22 (starttime) of /proc/PID/stat; the command name
    /// (field 2) may hold spaces and parentheses, so fields are counted after its last ')'.
    static func stat(of pid: pid_t) -> (state: Character, pgrp: pid_t, start: UInt64)? {
        guard let fd = fopen("/proc/\(pid)/stat", "r") else { return nil }
        var buffer = [CChar](repeating: 0, count: 1024)
        let read = fgets(&buffer, Int32(buffer.count), fd) != nil
        fclose(fd)
        guard read else { return nil }
        let text = String(cString: buffer)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): pgrp is fields[2], starttime fields[19].
        guard fields.count > 19, let state = fields[0].first, let pgrp = pid_t(fields[2]), let start = UInt64(fields[19])
        else { return nil }
        return (state, pgrp, start)
    }
}
