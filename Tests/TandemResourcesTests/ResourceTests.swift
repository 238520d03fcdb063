import Glibc
import TandemConfig
import TandemCore
import Testing
@testable import TandemResources

/// Scripts for an OCF-style service whose "process" is a state file, logging every call.
private func scriptSpec(_ dir: TempDir, _ name: String, startExit: Int = 0, stopExit: Int? = nil,
                        timeout: Duration = .seconds(5)) -> ExecSpec {
    let state = dir.file("\(name).state")
    let log = dir.file("calls.log")
    return ExecSpec(
        start: "echo \"start \(name) $TANDEM_GROUP $TANDEM_ROLE $TANDEM_EPOCH\" >> \(log); "
            + (startExit == 0 ? "touch \(state)" : "echo \(name) cannot bind port >&2; exit \(startExit)"),
        stop: "echo \"stop \(name) $TANDEM_ROLE\" >> \(log); "
            + (stopExit.map { "exit \($0)" } ?? "[ -f \(state) ] || exit 7; rm -f \(state)"),
        monitor: "[ -f \(state) ] && exit 0 || exit 7",
        timeout: timeout)
}

@Suite struct ScriptResourceTests {
    @Test func ocfExitCodesDriveStartStopMonitor() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let resource = ScriptResource(scriptSpec(dir, "svc"), logger: testLogger)
        #expect(await resource.monitor(context()) == .notRunning)
        try await resource.start(context())
        #expect(await resource.monitor(context()) == .running)
        #expect(dir.read("calls.log") == "start svc g active 7\n")
        try await resource.stop(context(role: "stopping"))
        #expect(await resource.monitor(context()) == .notRunning)
        // Stopping what is not running (exit 7) is success.
        try await resource.stop(context(role: "stopping"))
    }

    @Test func monitorExitOtherThanZeroOrSevenIsAFailure() async {
        let resource = ScriptResource(ExecSpec(start: "true", monitor: "echo database corrupt; exit 3"), logger: testLogger)
        let result = await resource.monitor(context())
        guard case .failed(let why) = result else {
            Issue.record("expected failed, got \(result)")
            return
        }
        #expect(why.contains("exit 3") && why.contains("database corrupt"))
    }

    @Test func failedStartNamesTheResourceTheStatusAndTheOutput() async {
        let dir = TempDir()
        defer { dir.remove() }
        let resource = ScriptResource(scriptSpec(dir, "svc", startExit: 2), logger: testLogger)
        do {
            try await resource.start(context())
            Issue.record("start should have failed")
        } catch {
            #expect(error.code == .startFailed)
            #expect(error.resource == resource.name)
            #expect(error.message.contains("exit 2") && error.message.contains("svc cannot bind port"))
        }
    }

    @Test func startTimeoutFailsTheStart() async {
        let resource = ScriptResource(ExecSpec(start: "sleep 30", timeout: .milliseconds(200)), logger: testLogger)
        let start = ContinuousClock.now
        await #expect(throws: ResourceError.self) { try await resource.start(context()) }
        #expect(ContinuousClock.now - start < .seconds(15))  // cut at its timeout, not after 30 s
    }

    @Test func stopExitOtherThanZeroOrSevenFails() async {
        let resource = ScriptResource(ExecSpec(start: "true", stop: "exit 1"), logger: testLogger)
        await #expect(throws: ResourceError.self) { try await resource.stop(context()) }
    }
}

@Suite struct GroupResourcesTests {
    @Test func startFailureRollsBackEarlierResourcesInReverse() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let specs: [ResourceSpec] = [.exec(scriptSpec(dir, "a")), .exec(scriptSpec(dir, "b")), .exec(scriptSpec(dir, "c", startExit: 1))]
        let group = GroupResources(group: "g", specs: specs, logger: testLogger)
        do {
            try await group.start(context())
            Issue.record("start should have failed")
        } catch {
            #expect(error.code == .groupStartFailed)
            #expect(error.message.contains("exec start c") || error.message.contains("c cannot bind port"))
            #expect(error.message.contains("rolled back"))
        }
        #expect(!dir.exists("a.state") && !dir.exists("b.state"))
        let calls = (dir.read("calls.log") ?? "").split(separator: "\n")
        #expect(calls == ["start a g active 7", "start b g active 7", "start c g active 7", "stop b stopping", "stop a stopping"])
    }

    @Test func stopGoesOnPastFailuresAndReportsThemAll() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let specs: [ResourceSpec] = [.exec(scriptSpec(dir, "a")), .exec(scriptSpec(dir, "b", stopExit: 1)),
                                     .exec(scriptSpec(dir, "c", stopExit: 2))]
        let group = GroupResources(group: "g", specs: specs, logger: testLogger)
        try await group.start(context())
        #expect(await group.monitor(context()) == .running)
        do {
            try await group.stop(context(role: "stopping"))
            Issue.record("stop should have failed")
        } catch {
            #expect(error.code == .groupStopFailed)
            #expect(error.message.contains("exit 1") && error.message.contains("exit 2"))
        }
        #expect(!dir.exists("a.state"))  // a was still stopped after b and c failed
        let stops = (dir.read("calls.log") ?? "").split(separator: "\n").filter { $0.hasPrefix("stop") }
        #expect(stops == ["stop c stopping", "stop b stopping", "stop a stopping"])
    }

    @Test func monitorNamesTheFirstResourceNotRunning() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let group = GroupResources(group: "g", specs: [.exec(scriptSpec(dir, "a")), .exec(scriptSpec(dir, "b"))], logger: testLogger)
        try await group.start(context())
        unlink(dir.file("b.state"))
        let result = await group.monitor(context())
        guard case .failed(let why) = result else {
            Issue.record("expected failed, got \(result)")
            return
        }
        #expect(why.contains("not running") && why.contains("start b"))
    }

    @Test func sweepOfAnAlreadyStoppedGroupSucceeds() async {
        let dir = TempDir()
        defer { dir.remove() }
        let specs: [ResourceSpec] = [.exec(scriptSpec(dir, "a")), .exec(ExecSpec(run: "sleep 30"))]
        let failures = await GroupResources(group: "g", specs: specs, logger: testLogger)
            .sweep(context(role: "stopping", reason: "start-up sweep"))
        #expect(failures.isEmpty)
    }
}

@Suite struct RunResourceTests {
    /// The agent died (no guard either): another process (the guard, or the agent restarted)
    /// builds the same resource with the same pid file, and its `stop` ends the command's
    /// whole process group, the leader and what it forked.
    @Test func aCommandRecordedByADeadAgentIsStoppedByAnotherInstance() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let pidFile = dir.file("g.0.pid")
        let first = RunResource(command: "sleep 30 & echo $! > \(dir.file("child")); wait", timeout: .seconds(2),
                                pidFile: pidFile, logger: testLogger)
        try await first.start(context())
        let leader = try #require(await first.processID)
        #expect(await eventually { dir.read("child") != nil })
        let child = try #require(pid_t(dir.read("child")?.split(separator: "\n").first ?? ""))
        let recorded = dir.read("g.0.pid") ?? ""
        #expect(recorded.hasPrefix("\(leader) "), "\(recorded)")

        let second = RunResource(command: "unused", timeout: .seconds(2), pidFile: pidFile, logger: testLogger)
        try await second.stop(context(role: "stopping"))
        #expect(await eventually { isDead(leader) && isDead(child) }, "the recorded group survived")
        #expect(!dir.exists("g.0.pid"))
        try await first.stop(context(role: "stopping"))  // reaps its child; nothing left to do
    }

    /// A pid file whose pid now belongs to another process (a different start time) is
    /// never acted on.
    @Test func aReusedPidIsNeverKilled() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let bystander = RunResource(command: "sleep 30", timeout: .seconds(2), logger: testLogger)
        try await bystander.start(context())
        let pid = try #require(await bystander.processID)
        dir.write("g.0.pid", "\(pid) 1\n")  // started at tick 1: not this process
        let stale = RunResource(command: "unused", timeout: .seconds(2), pidFile: dir.file("g.0.pid"), logger: testLogger)
        try await stale.stop(context(role: "stopping"))
        #expect(!isDead(pid), "a process that merely reuses the recorded pid was killed")
        #expect(!dir.exists("g.0.pid"))
        try await bystander.stop(context(role: "stopping"))
    }

    /// Zombies of the recorded group (dead, waiting for a parent that may never reap them)
    /// are not survivors: the guard must not wait for them before removing the address.
    @Test func zombiesOfTheRecordedGroupAreNotSurvivors() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let resource = RunResource(command: "sleep 0.05 & exec sleep 30", timeout: .seconds(2), pidFile: dir.file("g.0.pid"),
                                   logger: testLogger)
        try await resource.start(context())
        let leader = try #require(await resource.processID)
        dir.write("copy.pid", dir.read("g.0.pid") ?? "")
        let copy = PidFile(path: dir.file("copy.pid"))
        // The short sleep exits and stays a zombie: its parent (now `sleep 30`) never reaps.
        #expect(await eventually { copy.survivors() == [leader] }, "\(copy.survivors())")
        try await resource.stop(context(role: "stopping"))
        #expect(copy.survivors().isEmpty, "\(copy.survivors())")
    }

    /// The record exists exactly while the command runs.
    @Test func thePidFileLivesWhileTheCommandRuns() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let resource = RunResource(command: "sleep 30", timeout: .seconds(2), pidFile: dir.file("g.0.pid"), logger: testLogger)
        try await resource.start(context())
        #expect(dir.exists("g.0.pid"))
        try await resource.stop(context(role: "stopping"))
        #expect(!dir.exists("g.0.pid"))
        let unwritable = RunResource(command: "sleep 30", timeout: .seconds(2), pidFile: "/nonexistent-dir/g.0.pid", logger: testLogger)
        do {
            try await unwritable.start(context())
            Issue.record("started although its process group cannot be recorded")
        } catch {
            #expect(error.message.contains("cannot record"), "\(error)")
        }
        #expect(await unwritable.processID == nil)
    }

    @Test func startsKeepsAndStopsTheCommand() async throws {
        let resource = RunResource(command: "sleep 30", timeout: .seconds(2), logger: testLogger)
        #expect(await resource.processID == nil)
        try await resource.start(context())
        let pid = try #require(await resource.processID)
        #expect(kill(pid, 0) == 0)
        #expect(getpgid(pid) == pid)  // its own process group
        #expect(await resource.monitor(context()) == .running)
        try await resource.start(context())  // already running: nothing happens
        #expect(await resource.processID == pid)

        try await resource.stop(context(role: "stopping"))
        #expect(processInfo(pid) == nil)  // killed and reaped
        #expect(await resource.processID == nil)
        #expect(await resource.monitor(context()) == .notRunning)
    }

    @Test func stopEscalatesToSIGKILLAfterTheTimeout() async throws {
        let resource = RunResource(command: "trap '' TERM; sleep 30", timeout: .milliseconds(300), logger: testLogger)
        try await resource.start(context())
        let pid = try #require(await resource.processID)
        let start = ContinuousClock.now
        try await resource.stop(context(role: "stopping"))
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(15))  // SIGKILL after the timeout, not after 30 s
        #expect(processInfo(pid) == nil)
    }

    @Test func anUnexpectedExitIsSeenByMonitorWithItsStatus() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let resource = RunResource(command: "echo $$ > \(dir.file("pid")); sleep 0.1; exit 3", timeout: .seconds(1), logger: testLogger)
        try await resource.start(context())
        #expect(await eventually { await resource.monitor(context()) != .running })
        let pid = try #require(pid_t(dir.read("pid")?.trimmingWhitespace() ?? ""))
        #expect(await resource.monitor(context()) == .failed("the command exited by itself: exit 3"))
        #expect(await eventually { processInfo(pid) == nil })  // reaped, no zombie
        try await resource.stop(context(role: "stopping"))
        #expect(await resource.monitor(context()) == .notRunning)
    }

    @Test func theGroupListsRunningPidsForTheGuard() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let group = GroupResources(group: "g", specs: [.exec(scriptSpec(dir, "a")), .exec(ExecSpec(run: "sleep 30", timeout: .seconds(1)))],
                                   logger: testLogger)
        #expect(await group.runningProcessIDs.isEmpty)
        try await group.start(context())
        let pids = await group.runningProcessIDs
        #expect(pids.count == 1)
        try await group.stop(context(role: "stopping"))
        #expect(await group.runningProcessIDs.isEmpty)
        #expect(pids.allSatisfy { processInfo($0) == nil })
    }

    @Test func theContextIsInTheEnvironment() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let resource = RunResource(command: "echo $TANDEM_EPOCH > \(dir.file("epoch")); sleep 30", timeout: .seconds(1), logger: testLogger)
        try await resource.start(context(epoch: 99))
        #expect(await eventually { dir.read("epoch") == "99\n" })
        try await resource.stop(context())
    }
}

@Suite struct SystemdResourceTests {
    @Test func drivesSystemctl() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        // A fake systemctl: start/stop flip a state file; is-active prints the state.
        dir.write("systemctl", """
            #!/bin/sh
            echo "$@ $TANDEM_EPOCH" >> \(dir.file("calls"))
            case "$1" in
              start) echo active > \(dir.file("state")) ;;
              stop) echo inactive > \(dir.file("state")) ;;
              is-active) s=$(cat \(dir.file("state")) 2>/dev/null || echo inactive); echo $s; [ "$s" = active ] ;;
            esac
            """, executable: true)
        let unit = SystemdResource(unit: "asterisk.service", timeout: .seconds(5), systemctl: dir.file("systemctl"), logger: testLogger)
        #expect(await unit.monitor(context()) == .notRunning)
        try await unit.start(context())
        #expect(await unit.monitor(context()) == .running)
        try await unit.stop(context())
        #expect(await unit.monitor(context()) == .notRunning)
        dir.write("state", "failed\n")
        #expect(await unit.monitor(context()) == .failed("systemd reports asterisk.service failed; see `systemctl status asterisk.service`"))
        #expect(dir.read("calls")?.contains("start asterisk.service 7") == true)
    }
}

@Suite struct RunResourceRestartTests {
    @Test func startAfterAnUnexpectedExitRunsItAgain() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        // Exits at once the first time, keeps running the second.
        let flag = dir.file("ran-before")
        let resource = RunResource(command: "[ -f \(flag) ] && exec sleep 30; echo $$ > \(dir.file("pid")); touch \(flag); exit 4",
                                   timeout: .seconds(1), logger: testLogger)
        try await resource.start(context())
        #expect(await eventually { await resource.processID == nil })
        let first = try #require(pid_t(dir.read("pid")?.trimmingWhitespace() ?? ""))
        #expect(await resource.monitor(context()) == .failed("the command exited by itself: exit 4"))
        try await resource.start(context())
        #expect(await resource.monitor(context()) == .running)
        let second = try #require(await resource.processID)
        #expect(second != first)
        #expect(await eventually { processInfo(first) == nil })  // the first was reaped
        try await resource.stop(context())
    }
}
