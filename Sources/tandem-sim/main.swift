import ArgumentParser
import Dispatch
import TandemCore
import TandemTestKit

/// `tandem-sim`: seeded whole-cluster simulation runs of the Tandem core (DESIGN §10).
@main
struct TandemSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem-sim",
        abstract: "Runs seeded simulations of Tandem clusters under faults and checks every invariant after every step.",
        discussion: "Exits non-zero on any violation, printing the seed, a trace and the command that replays it.")

    @Option(help: "How many seeds to run (from --first-seed).") var seeds: UInt64 = 100
    @Option(help: "The first seed.") var firstSeed: UInt64 = 1
    @Option(help: "Run exactly this seed (a replay).") var seed: UInt64?
    @Option(help: "Scenario: \(Scenario.names.joined(separator: ", ")), or all.") var scenario = "all"
    @Option(help: "Timing profile: fast, balanced or wan.") var profile = "fast"
    @Option(help: "random (faults, operator actions, writes) or failover (one power loss of the active node).")
    var mode: SimOptions.Mode = .random
    @Option(help: "Parallel jobs.") var jobs = 2
    @Flag(help: "Print the trace of every run (use with --seed).") var trace = false
    @Flag(help: "Trace every message too.") var traceMessages = false
    @Option(help: "Test-only broken build: skip-standing-wait removes rule 4's wait.") var mutant: String?

    mutating func run() async throws {
        guard let timing = Timing.named(profile) else { throw ValidationError("unknown profile \(profile): use fast, balanced or wan") }
        let scenarios = scenario == "all" ? Scenario.names : [scenario]
        for name in scenarios where Scenario.named(name, timing: timing) == nil {
            throw ValidationError("unknown scenario \(name): use \(Scenario.names.joined(separator: ", ")) or all")
        }
        var options = SimOptions()
        options.mode = mode
        options.trace = trace
        options.traceMessages = traceMessages
        if let mutant {
            guard mutant == "skip-standing-wait" else { throw ValidationError("unknown mutant \(mutant): the only one is skip-standing-wait") }
            options.mutantSkipStandingWait = true
        }
        let range = seed.map { $0..<($0 + 1) } ?? firstSeed..<(firstSeed + seeds)
        let started = DispatchTime.now().uptimeNanoseconds
        let chunks = split(range, into: max(1, jobs))
        let opts = options
        let summary = await withTaskGroup(of: SoakSummary.self) { group in
            for chunk in chunks {
                group.addTask { soak(scenarios: scenarios, timing: timing, seeds: chunk, options: opts) }
            }
            var total = SoakSummary()
            for await part in group { total.merge(part) }
            return total
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9

        if trace, let only = seed {
            for name in scenarios {
                let result = Simulation(scenario: Scenario.named(name, timing: timing)!, seed: only, options: options).run()
                print(result.trace.joined(separator: "\n"))
            }
        }
        print("tandem-sim: \(summary.runs) runs (\(scenarios.joined(separator: ",")), profile \(profile), mode \(mode.rawValue)\(mutant.map { ", mutant \($0)" } ?? "")), seeds \(range.lowerBound)..<\(range.upperBound)")
        print("  steps: \(summary.steps) in \(format(seconds)) s = \(Int(Double(summary.steps) / seconds)) steps/s; simulated \(format(Double(summary.simulatedNanoseconds) / 1e9)) s")
        print("  acknowledged KV writes checked: \(summary.acknowledgedWrites)")
        if let p50 = summary.failoverPercentile(50), let p99 = summary.failoverPercentile(99), let max = summary.failovers.max() {
            print("  failover (crash of the active node → running elsewhere), \(summary.failovers.count) samples: p50 \(formatMilliseconds(p50)) p90 \(formatMilliseconds(summary.failoverPercentile(90)!)) p99 \(formatMilliseconds(p99)) max \(formatMilliseconds(max))")
        }
        print("  violations: \(summary.failing.count) runs")
        guard !summary.failing.isEmpty else { return }
        let failing = summary.failing.sorted { ($0.seed, $0.scenario) < ($1.seed, $1.scenario) }
        for failed in failing {
            print("  seed \(failed.seed) \(failed.scenario): \(failed.violations.first.map { "\($0.invariant): \($0.message)" } ?? "")")
        }
        for failed in failing.prefix(3) {
            print("\nseed \(failed.seed) scenario \(failed.scenario):")
            for violation in failed.violations { print("  \(violation)") }
            var traced = options
            traced.trace = true
            let replay = Simulation(scenario: Scenario.named(failed.scenario, timing: timing)!, seed: failed.seed, options: traced).run()
            print("  trace (last 150 lines):")
            for line in replay.trace.suffix(150) { print("    \(line)") }
            print("  replay: \(replayCommand(failed, mode: mode, mutant: options.mutantSkipStandingWait))")
        }
        throw ExitCode(1)
    }

    func split(_ range: Range<UInt64>, into parts: Int) -> [Range<UInt64>] {
        let count = UInt64(range.count)
        let n = UInt64(min(parts, max(1, range.count)))
        return (0..<n).map { k in
            (range.lowerBound + count * k / n)..<(range.lowerBound + count * (k + 1) / n)
        }
    }

    func format(_ value: Double) -> String {
        let scaled = (value * 100).rounded() / 100
        return "\(scaled)"
    }
}

extension SimOptions.Mode: ExpressibleByArgument {}
