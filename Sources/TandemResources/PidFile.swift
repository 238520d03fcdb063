import Glibc

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
        guard let start = ProcessStat.read(pid)?.startTime else { return ESRCH }
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
    func survivors() -> [pid_t] {
        guard let text = readSmallFile(path, limit: 128) else { return [] }
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count == 2, let pgid = pid_t(parts[0]), pgid > 1, let start = UInt64(parts[1]) else { return [] }
        if let leader = ProcessStat.read(pgid), leader.startTime != start {
            return []  // the pid was reused: not ours, and neither is a group it leads
        }
        return ProcessStat.liveMembers(ofGroup: pgid, startedAtOrAfter: start)
    }

    /// Kills what `survivors()` finds with SIGKILL at once, as the guard does with the pids it
    /// knows (whoever started them is gone; the group must stop now, not after a grace
    /// period), then waits up to `wait` for them to be gone. Returns how many it found.
    func killSurvivors(wait: Duration) async -> Int {
        let found = survivors()
        guard !found.isEmpty else {
            remove()
            return 0
        }
        for pid in found { kill(pid, SIGKILL) }
        let deadline = ContinuousClock.now + wait
        while ContinuousClock.now < deadline, !survivors().isEmpty {
            try? await Task.sleep(for: .milliseconds(5))
        }
        remove()
        return found.count
    }
}
