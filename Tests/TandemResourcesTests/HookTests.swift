import TandemConfig
import TandemCore
import Testing
@testable import TandemResources

@Suite struct HookTests {
    @Test func notifierRunsInTheBackgroundWithTheEventInItsEnvironment() async {
        let dir = TempDir()
        defer { dir.remove() }
        let start = ContinuousClock.now
        let task = notify(.exec(command: "sleep 3; echo \"$TANDEM_EVENT|$TANDEM_MESSAGE|$TANDEM_NODE|$TANDEM_GROUP|$TANDEM_EPOCH\" > \(dir.file("out"))",
                                timeout: .seconds(5)),
                          event: "role-change", message: "voice is active on a", node: "a", context: context("voice", epoch: 12),
                          logger: testLogger)
        #expect(ContinuousClock.now - start < .seconds(2))  // the caller does not wait for the 3 s command
        let result = await task.value
        #expect(result.succeeded)
        #expect(dir.read("out") == "role-change|voice is active on a|a|voice|12\n")
    }

    @Test func fenceIsTrueOnlyOnExitZeroWithinTheTimeout() async {
        let dir = TempDir()
        defer { dir.remove() }
        let spec = FenceSpec(
            command: "echo \"$TANDEM_TARGET $TANDEM_GROUP $TANDEM_EPOCH $TANDEM_ROLE $TANDEM_REASON\" > \(dir.file("fenced"))", timeout: .seconds(5))
        let ok = await runFence(spec, target: "b", group: "voice", epoch: 8, node: "a", reason: "b unreachable", logger: testLogger)
        #expect(ok.ok)
        #expect(dir.read("fenced") == "b voice 8 fencing b unreachable\n")
        let failed = await runFence(FenceSpec(command: "echo ipmi unreachable; exit 1"), target: "b", group: "voice", epoch: 8, node: "a",
                                    reason: "r", logger: testLogger)
        #expect(!failed.ok)
        #expect(failed.detail.contains("exit 1") && failed.detail.contains("ipmi unreachable"), "\(failed.detail)")
        let slow = await runFence(FenceSpec(command: "sleep 30", timeout: .milliseconds(100)), target: "b", group: "voice", epoch: 8,
                                  node: "a", reason: "r", logger: testLogger)
        #expect(!slow.ok)
        #expect(slow.detail.contains("timed out"), "\(slow.detail)")
    }
}
