import Glibc
import TandemCore
import Testing
@testable import TandemResources

@Suite struct ShellTests {
    @Test func exitCodeAndOutputAreReported() async {
        let result = await runShell("echo to-stdout; echo to-stderr >&2; exit 3", timeout: .seconds(5))
        #expect(result.exitCode == 3)
        #expect(result.outcome == .finished(.exited(3)))
        #expect(result.output == "to-stdout\nto-stderr")
        #expect(result.description.contains("exit 3"))

        let ok = await runShell("true", timeout: .seconds(5))
        #expect(ok.succeeded)
    }

    @Test func outputKeepsOnlyTheTail() async {
        let result = await runShell("i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done", timeout: .seconds(5),
                                    outputLimit: 100)
        #expect(result.succeeded)
        #expect(result.output.hasPrefix("..."))
        #expect(result.output.hasSuffix("line1999"))
        #expect(result.output.utf8.count <= 103)
    }

    @Test func contextVariablesAreAddedToTheInheritedEnvironment() async {
        let ctx = ResourceContext(group: "voice", role: "active", epoch: 42, node: "a", reason: "switchover to a")
        let result = await runShell("echo \"$TANDEM_GROUP|$TANDEM_ROLE|$TANDEM_EPOCH|$TANDEM_NODE|$TANDEM_REASON|${PATH:+path}\"",
                                    environment: ctx.environment, timeout: .seconds(5))
        #expect(result.output == "voice|active|42|a|switchover to a|path")
    }

    @Test func signalDispositionsAreReset() async throws {
        // The test process (like the agent, through NIO) ignores SIGPIPE; children must not.
        signal(SIGPIPE, SIG_IGN)
        let result = await runShell("awk '/SigIgn/ {print $2}' /proc/self/status", timeout: .seconds(5))
        let ignored = try #require(UInt64(result.output, radix: 16))
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP] {
            #expect(ignored & (1 << UInt64(signal - 1)) == 0, "signal \(signal) is ignored in the child")
        }
    }

    @Test func timeoutKillsTheWholeProcessGroupAndReapsTheShell() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        // A grandchild that dies on SIGTERM, and one that ignores it (so SIGKILL is needed).
        let command = """
            echo $$ > \(dir.file("shell.pid"))
            sleep 30 & echo $! > \(dir.file("plain.pid"))
            sh -c 'trap "" TERM; echo $$ > \(dir.file("stubborn.pid")); sleep 30; true' &
            wait
            """
        let start = ContinuousClock.now
        let result = await runShell(command, timeout: .milliseconds(300), killGrace: .milliseconds(300))
        let elapsed = ContinuousClock.now - start
        #expect(result.outcome == .timedOut(.milliseconds(300)))
        #expect(result.description.contains("timed out after 300ms"))
        #expect(elapsed < .seconds(15))  // killed at the timeout, not after the 30 s sleeps

        let shell = try #require(pid_t(dir.read("shell.pid")?.trimmingWhitespace() ?? ""))
        let plain = try #require(pid_t(dir.read("plain.pid")?.trimmingWhitespace() ?? ""))
        let stubborn = try #require(pid_t(dir.read("stubborn.pid")?.trimmingWhitespace() ?? ""))
        // The shell was reaped by us: not even a zombie child of this process is left.
        #expect(processInfo(shell).map { $0.ppid != getpid() } ?? true)
        #expect(await eventually(.seconds(2)) { isDead(plain) && isDead(stubborn) })
    }

    @Test func backgroundProcessesOfACleanExitAreLeftAlone() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let start = ContinuousClock.now
        // A daemon that keeps stdout open must not hold the call up.
        let result = await runShell("sleep 30 & echo $! > \(dir.file("daemon.pid")); echo started", timeout: .seconds(20))
        #expect(ContinuousClock.now - start < .seconds(15))  // did not wait for the 30 s daemon
        #expect(result.succeeded)
        #expect(result.output == "started")
        let daemon = try #require(pid_t(dir.read("daemon.pid")?.trimmingWhitespace() ?? ""))
        #expect(!isDead(daemon))
        kill(daemon, SIGKILL)
    }

    @Test func cancellationKillsTheGroup() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let task = Task { await runShell("echo $$ > \(dir.file("pid")); sleep 30", timeout: .seconds(60)) }
        #expect(await eventually { dir.exists("pid") && !(dir.read("pid") ?? "").isEmpty })
        task.cancel()
        let result = await task.value
        #expect(result.outcome == .cancelled)
        let pid = try #require(pid_t(dir.read("pid")?.trimmingWhitespace() ?? ""))
        #expect(processInfo(pid).map { $0.ppid != getpid() } ?? true)
    }

    @Test func aProgramThatDoesNotExistIsALaunchFailure() async {
        let result = await runCommand(["/nonexistent/program"], timeout: .seconds(1))
        guard case .launchFailed(let why) = result.outcome else {
            Issue.record("expected a launch failure, got \(result.outcome)")
            return
        }
        #expect(why.contains("No such file or directory"))
    }
}
