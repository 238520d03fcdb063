import TandemCore

/// Many seeded runs, summarised.
public struct SoakSummary: Sendable {
    public var runs = 0
    public var steps = 0
    public var simulatedNanoseconds: Int64 = 0
    public var failing: [SimResult] = []
    public var failovers: [Int64] = []
    public var acknowledgedWrites = 0

    public init() {}

    public mutating func add(_ result: SimResult) {
        runs += 1
        steps += result.steps
        simulatedNanoseconds += result.simulatedNanoseconds
        failovers += result.failovers
        acknowledgedWrites += result.acknowledgedWrites
        if !result.violations.isEmpty { failing.append(result) }
    }

    public mutating func merge(_ other: SoakSummary) {
        runs += other.runs
        steps += other.steps
        simulatedNanoseconds += other.simulatedNanoseconds
        failing += other.failing
        failovers += other.failovers
        acknowledgedWrites += other.acknowledgedWrites
    }

    /// The `p`-th percentile (0...100) of the failover times, nearest rank.
    public func failoverPercentile(_ p: Double) -> Int64? {
        guard !failovers.isEmpty else { return nil }
        let sorted = failovers.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }
}

/// Runs `seeds` of each scenario in order (one thread); the simulator's CLI and the tests
/// split seed ranges across threads themselves.
public func soak(
    scenarios: [String], timing: Timing, seeds: Range<UInt64>, options: SimOptions = SimOptions()
) -> SoakSummary {
    var summary = SoakSummary()
    for seed in seeds {
        for name in scenarios {
            guard let scenario = Scenario.named(name, timing: timing) else { preconditionFailure("no scenario \(name)") }
            summary.add(Simulation(scenario: scenario, seed: seed, options: options).run())
        }
    }
    return summary
}

/// The one command that replays a run, with its trace.
public func replayCommand(_ result: SimResult, mode: SimOptions.Mode, mutant: Bool = false) -> String {
    "swift run -c release tandem-sim --scenario \(result.scenario) --profile \(result.profile) --mode \(mode.rawValue) --seed \(result.seed) --trace"
        + (mutant ? " --mutant skip-standing-wait" : "")
}
