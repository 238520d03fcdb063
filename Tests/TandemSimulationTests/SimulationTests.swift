import TandemCore
import TandemTestKit
import Testing

/// Seeded whole-cluster runs (DESIGN §10, tier 2). Every invariant is checked after every
/// step inside the simulator; a failing seed is reported with the command that replays it.
@Suite struct SimulationTests {
    static let chunks = 16
    static let seedsPerChunk: UInt64 = 16

    /// 16 chunks × 16 seeds × 4 scenarios = 1,024 runs with random faults, operator actions
    /// and writes, on the `fast` profile. Chunks run in parallel.
    @Test(arguments: 0..<chunks)
    func test_randomFaults_allScenarios_noInvariantBroken(chunk: Int) {
        let first = UInt64(chunk) * Self.seedsPerChunk + 1
        let summary = soak(scenarios: Scenario.names, timing: .fast, seeds: first..<(first + Self.seedsPerChunk))
        #expect(summary.runs == Int(Self.seedsPerChunk) * Scenario.names.count)
        for failed in summary.failing {
            Issue.record("seed \(failed.seed) scenario \(failed.scenario): \(failed.violations.map(\.description).joined(separator: "; ")). Replay: \(replayCommand(failed, mode: .random))")
        }
    }

    @Test func test_randomFaults_balancedAndWanProfiles_noInvariantBroken() {
        for timing in [Timing.balanced, Timing.wan] {
            let summary = soak(scenarios: ["pair", "sites"], timing: timing, seeds: 1..<5)
            for failed in summary.failing {
                Issue.record("seed \(failed.seed) scenario \(failed.scenario) profile \(failed.profile): \(failed.violations.map(\.description).joined(separator: "; ")). Replay: \(replayCommand(failed, mode: .random))")
            }
        }
    }

    /// The checker bites: without rule 4's wait the simulator finds two active nodes.
    @Test func test_skipStandingWaitMutant_pairScenario_doubleActiveFound() {
        var options = SimOptions()
        options.mutantSkipStandingWait = true
        var found: SimResult?
        for seed in UInt64(1)...40 {
            let result = Simulation(scenario: .pair(timing: .fast), seed: seed, options: options).run()
            if result.violations.contains(where: { $0.invariant == "at most one active" }) {
                found = result
                break
            }
        }
        #expect(found != nil, "40 seeds of the mutant skip-standing-wait found no double-active")
    }

    /// A power loss of the active node: the group runs elsewhere, within the profile's bound.
    @Test(arguments: ["fast", "balanced"])
    func test_activeNodeCrash_pairScenario_failsOverWithinLivenessBound(profile: String) {
        var options = SimOptions()
        options.mode = .failover
        let timing = Timing.named(profile)!
        for seed in UInt64(1)...10 {
            let simulation = Simulation(scenario: .pair(timing: timing), seed: seed, options: options)
            let result = simulation.run()
            #expect(result.violations.isEmpty, "seed \(seed): \(result.violations)")
            #expect(result.failovers.count == 1, "seed \(seed): the crash of the active node was not followed by a failover")
            for failover in result.failovers {
                #expect(failover < simulation.livenessBound, "seed \(seed): failover took \(formatMilliseconds(failover))")
            }
        }
    }

    /// Runs are a function of their seed: the same seed gives the same trace.
    @Test func test_sameSeed_runTwice_identicalTraces() {
        var options = SimOptions()
        options.trace = true
        let first = Simulation(scenario: .dual(timing: .fast), seed: 42, options: options).run()
        let second = Simulation(scenario: .dual(timing: .fast), seed: 42, options: options).run()
        #expect(first.steps == second.steps)
        #expect(first.trace == second.trace)
        #expect(first.trace.count > 20)
    }
}
