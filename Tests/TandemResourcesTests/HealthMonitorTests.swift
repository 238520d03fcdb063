import Synchronization
import TandemConfig
import TandemCore
import Testing
@testable import TandemResources

@Suite struct HealthMonitorTests {
    @Test func riseAndFallWithARealExecCheckFlippedThroughAFile() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        dir.write("result", "0")
        let check = CheckSpec(kind: .exec(command: "exit $(cat \(dir.file("result")))"), scope: .always,
                              interval: .milliseconds(30), timeout: .seconds(2), rise: 2, fall: 3)
        let monitor = HealthMonitor(checks: ["voice": [check]], node: "a")
        let log = EventLog()
        let consumer = Task { for await event in monitor.events { await log.append(event) } }
        let runner = Task { await monitor.run() }
        defer {
            runner.cancel()
            consumer.cancel()
        }
        // Healthy until proven otherwise: passing, and nothing reported, from the start.
        #expect(await monitor.isPassing("voice"))
        try await Task.sleep(for: .milliseconds(150))
        #expect(await log.events.isEmpty)

        dir.write("result", "1")
        #expect(await eventually { await log.contains(.group("voice", passing: false)) })
        let name = check.kind.name
        #expect(await log.events == [  // the stream delivers in order: the check's event came first
            .check(group: "voice", name: name, passing: false, reason: "\(name): exit 1"),
            .group("voice", passing: false),
        ])
        #expect(await !monitor.isPassing("voice"))
        #expect(await monitor.statuses.first?.reason == "\(name): exit 1")

        dir.write("result", "0")
        #expect(await eventually { await log.contains(.group("voice", passing: true)) })
        #expect(await eventually {
            await log.events.suffix(2) == [
                .check(group: "voice", name: name, passing: true, reason: nil),
                .group("voice", passing: true),
            ]
        })
    }

    @Test func hysteresisNeedsFallConsecutiveFailures() async throws {
        // Scripted results: fail, fail, ok, fail, fail, fail → only the last run of three fails it.
        let script = Mutex<[CheckOutcome]>([.failed("x"), .failed("x"), .ok, .failed("x"), .failed("x"), .failed("x")])
        let runs = Mutex(0)
        let monitor = HealthMonitor(
            checks: ["g": [CheckSpec(kind: .tcp(Endpoint(host: "127.0.0.1", port: 1)), scope: .always,
                                     interval: .milliseconds(5), rise: 2, fall: 3)]],
            node: "a",
            runner: { _, _, _ in
                runs.withLock { $0 += 1 }
                return script.withLock { $0.isEmpty ? .failed("x") : $0.removeFirst() }
            })
        let log = EventLog()
        let consumer = Task { for await event in monitor.events { await log.append(event) } }
        let runner = Task { await monitor.run() }
        defer {
            runner.cancel()
            consumer.cancel()
        }
        #expect(await eventually { await log.contains(.group("g", passing: false)) })
        #expect(runs.withLock { $0 } >= 6)
        #expect(await log.checkEvents(passing: false).count == 1)
    }

    /// A new configuration revision: a group whose checks changed gets the new ones (from
    /// passing), the others keep theirs and their state, a removed group is forgotten.
    @Test func reconfigureReplacesOnlyTheChangedGroupsChecks() async throws {
        let failing = CheckSpec(kind: .tcp(Endpoint(host: "127.0.0.1", port: 1)), scope: .always, interval: .milliseconds(5), rise: 1, fall: 1)
        let passing = CheckSpec(kind: .tcp(Endpoint(host: "127.0.0.1", port: 2)), scope: .always, interval: .milliseconds(5), rise: 1, fall: 1)
        let kept = CheckSpec(kind: .disk(path: "/", minFreeBytes: 0), scope: .always, interval: .milliseconds(5), rise: 1, fall: 1)
        let monitor = HealthMonitor(
            checks: ["g": [failing], "h": [kept], "old": [kept]], node: "a",
            runner: { kind, _, _ in
                if case .tcp(let endpoint) = kind, endpoint.port == 1 { return .failed("refused") }
                return .ok
            })
        let log = EventLog()
        let consumer = Task { for await event in monitor.events { await log.append(event) } }
        let runner = Task { await monitor.run() }
        defer {
            runner.cancel()
            consumer.cancel()
        }
        #expect(await eventually { await log.contains(.group("g", passing: false)) })
        #expect(await monitor.reconfigure(checks: ["g": [passing], "h": [kept], "new": [failing]], revision: 2))
        // g's failing check is gone: g passes again; the new group's check runs and fails.
        #expect(await eventually { await log.contains(.group("g", passing: true)) })
        #expect(await eventually { await log.contains(.group("new", passing: false)) })
        let names = await monitor.statuses.map { "\($0.group):\($0.name)" }.sorted()
        #expect(names == ["g:tcp 127.0.0.1:2", "h:\(kept.kind.name)", "new:tcp 127.0.0.1:1"], "\(names)")
        #expect(await monitor.isPassing("h"))
    }

    /// Two revisions applied in quick succession reach the monitor as two tasks, in either
    /// order: the older one, arriving second, must not bring its checks back.
    @Test func aRevisionOlderThanThePresentChecksIsIgnored() async throws {
        let first = CheckSpec(kind: .tcp(Endpoint(host: "127.0.0.1", port: 1)), scope: .always, interval: .seconds(60))
        let second = CheckSpec(kind: .tcp(Endpoint(host: "127.0.0.1", port: 2)), scope: .always, interval: .seconds(60))
        let third = CheckSpec(kind: .tcp(Endpoint(host: "127.0.0.1", port: 3)), scope: .always, interval: .seconds(60))
        let monitor = HealthMonitor(checks: ["g": [first]], revision: 4, node: "a", runner: { _, _, _ in .ok })
        #expect(await monitor.reconfigure(checks: ["g": [third]], revision: 6))
        #expect(!(await monitor.reconfigure(checks: ["g": [second]], revision: 5)))
        #expect(!(await monitor.reconfigure(checks: ["g": [second]], revision: 6)))
        #expect(!(await monitor.reconfigure(checks: ["g": [first]], revision: 3)))
        #expect(await monitor.revision == 6)
        #expect(await monitor.statuses.map(\.name) == ["tcp 127.0.0.1:3"])
    }

    @Test func activeScopeChecksRunOnlyWhileActiveAndCountAsPassingOtherwise() async throws {
        let runs = Mutex(0)
        let monitor = HealthMonitor(
            checks: ["g": [CheckSpec(kind: .tcp(Endpoint(host: "127.0.0.1", port: 1)), interval: .milliseconds(10), rise: 1, fall: 2)]],
            node: "a", failureHoldDown: .milliseconds(300),
            runner: { _, _, environment in
                runs.withLock { $0 += 1 }
                return .failed("down (\(environment["TANDEM_ROLE"] ?? "?"))")
            })
        let log = EventLog()
        let consumer = Task { for await event in monitor.events { await log.append(event) } }
        let runner = Task { await monitor.run() }
        defer {
            runner.cancel()
            consumer.cancel()
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(runs.withLock { $0 } == 0)  // tcp is an `active` check: not run on a standby
        #expect(await monitor.isPassing("g"))

        await monitor.setActive("g", true)
        #expect(await eventually { await log.contains(.group("g", passing: false)) })
        #expect(await monitor.statuses.first?.reason == "down (active)")

        // The service failed here: it stays failed for the hold-down after leaving the
        // active role, then passes again.
        await monitor.setActive("g", false)
        #expect(await !monitor.isPassing("g"))
        #expect(await eventually {
            await log.events.suffix(2) == [
                .check(group: "g", name: "tcp 127.0.0.1:1", passing: true, reason: nil),
                .group("g", passing: true),
            ]
        })
        let runsAfterRelease = runs.withLock { $0 }
        try await Task.sleep(for: .milliseconds(80))
        #expect(runs.withLock { $0 } <= runsAfterRelease + 1)  // at most one that was already under way
        #expect(await monitor.isPassing("g"))
    }

    @Test func upstreamChecksReportTheNodeNotTheGroup() async throws {
        let monitor = HealthMonitor(
            checks: ["g": [CheckSpec(kind: .upstream(host: "192.0.2.1", port: nil), interval: .milliseconds(10), rise: 1, fall: 1),
                           CheckSpec(kind: .interface(device: "lo"), interval: .milliseconds(10), rise: 1, fall: 1)]],
            node: "a",
            runner: { kind, _, _ in kind.isUpstream ? .failed("unreachable") : .ok })
        let log = EventLog()
        let consumer = Task { for await event in monitor.events { await log.append(event) } }
        let runner = Task { await monitor.run() }
        defer {
            runner.cancel()
            consumer.cancel()
        }
        #expect(await eventually { await log.contains(.upstream(reachable: false)) })
        #expect(await !monitor.upstreamReachable)
        #expect(await monitor.isPassing("g"))
        #expect(await !log.events.contains(.group("g", passing: false)))
    }

    @Test func runEndsWithItsTaskAndFinishesTheStream() async {
        let monitor = HealthMonitor(checks: ["g": [CheckSpec(kind: .interface(device: "lo"), interval: .milliseconds(10))]], node: "a")
        let runner = Task { await monitor.run() }
        try? await Task.sleep(for: .milliseconds(30))
        runner.cancel()
        await runner.value
        var iterator = monitor.events.makeAsyncIterator()
        #expect(await iterator.next() == nil)
    }

    @Test func withoutChecksRunStillWaitsForCancellation() async throws {
        let monitor = HealthMonitor(checks: [:], node: "a")
        let runner = Task { await monitor.run() }
        try await Task.sleep(for: .milliseconds(50))
        let finished = OneShot()
        Task {
            await runner.value
            finished.fire()
        }
        #expect(!finished.isFired)
        runner.cancel()
        #expect(await finished.wait(timeout: .seconds(2)))
    }
}
