import Foundation
import TandemCore
import TandemStore
import Testing

/// Not a test: measures (prints, asserts nothing about speed) how many `persist` calls per
/// second this machine's disk takes — each is one transaction, i.e. one fsync of the WAL.
/// Run alone for meaningful numbers: `swift test --filter PersistRateMeasurement`.
@Suite(.serialized) struct PersistRateMeasurement {
    @Test func measure_persistRate() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.file("store.sqlite"))
        // A typical small entry (a node's report, ~40 bytes encoded).
        let report = Command.report(node: "a", NodeReport(health: ["pbx": true, "db": true], upstream: true))
        var next: LogIndex = 1
        let clock = ContinuousClock()

        func run(entriesPerCall: Int, seconds: Double, maxCalls: Int) throws -> (calls: Int, elapsed: Duration) {
            // Entries prepared beforehand: the measurement is the store, not the generator.
            var batches: [[Entry]] = []
            for i in 0..<maxCalls {
                let first = next + LogIndex(i * entriesPerCall)
                batches.append((0..<entriesPerCall).map { Entry(term: 1, index: first + LogIndex($0), command: report) })
            }
            let start = clock.now
            var calls = 0
            for batch in batches {
                try store.persist([.entries(batch), .hardState(term: 1, vote: "a")])
                calls += 1
                if calls % 16 == 0, (clock.now - start).milliseconds > seconds * 1000 { break }
            }
            let elapsed = clock.now - start
            next += LogIndex(calls * entriesPerCall)
            return (calls, elapsed)
        }

        for (perCall, maxCalls) in [(1, 2000), (64, 500)] {
            let (calls, elapsed) = try run(entriesPerCall: perCall, seconds: 3, maxCalls: maxCalls)
            let rate = Double(calls) / (elapsed.milliseconds / 1000)
            func fixed(_ x: Double, _ digits: Int) -> String {
                let scale = pow(10, Double(digits))
                return "\((x * scale).rounded() / scale)"
            }
            print(
                "persist, \(perCall) entries per call: \(calls) calls in \(fixed(elapsed.milliseconds / 1000, 2)) s"
                    + " = \(fixed(rate, 1)) calls/s (\(fixed(elapsed.milliseconds / Double(calls), 3)) ms/call)"
                    + " = \(fixed(rate * Double(perCall), 0)) entries/s")
        }
        #expect(try store.load().entries.count == Int(next - 1))
    }
}
