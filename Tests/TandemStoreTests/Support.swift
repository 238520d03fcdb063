import Foundation
import TandemCore
@testable import TandemStore
import Testing

/// A fresh directory under the system's temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("tandem-store-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The error `body` throws, or nil.
func storeError(_ body: () throws(StoreError) -> Void) -> StoreError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

/// Random but realistic core values, from a seeded SplitMix64.
struct Generator {
    var rng: SplitMix64
    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    static let nodes: [NodeID] = ["a", "b", "w"]
    static let groups: [GroupID] = ["pbx", "db", "web"]
    static let config = ClusterConfig(
        name: "pair", timing: .fast,
        nodes: [NodeConfig("a", priority: 100), NodeConfig("b", priority: 90), NodeConfig("w", kind: .witness)],
        groups: [GroupConfig("pbx", prefer: ["a", "b"]), GroupConfig("db", prefer: []), GroupConfig("web", prefer: ["b"])])

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func u64(_ range: ClosedRange<UInt64>) -> UInt64 { UInt64.random(in: range, using: &rng) }
    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }
    mutating func pick<T>(_ values: [T]) -> T { values[int(0...(values.count - 1))] }

    mutating func text() -> String {
        pick(["", "checks failing", "node a unreachable for 312ms", "naïve 東京 ☎︎", "a\u{0}b", String(repeating: "x", count: 300)])
    }

    mutating func origin() -> RequestOrigin? {
        chance(50) ? RequestOrigin(node: pick(Self.nodes), incarnation: u64(0...5), id: u64(0...1_000_000)) : nil
    }

    mutating func command() -> Command {
        switch int(0...8) {
        case 0:
            return .leader(pick(Self.nodes))
        case 1:
            return .assign(group: pick(Self.groups), owner: pick(Self.nodes), epoch: u64(1...1000), reason: text())
        case 2:
            var health: [GroupID: Bool] = [:]
            for g in Self.groups where chance(60) { health[g] = chance(70) }
            return .report(node: pick(Self.nodes), NodeReport(health: health, upstream: chance(80)))
        case 3:
            let action: OperatorAction
            switch int(0...3) {
            case 0: action = .switchover(pick(Self.groups), to: chance(50) ? pick(Self.nodes) : nil)
            case 1: action = .failback(pick(Self.groups))
            case 2: action = .maintenance(pick(Self.nodes), on: chance(50))
            default: action = .freeze(on: chance(50))
            }
            return .action(action, origin: origin())
        case 4, 5:
            let key = "calls/\(int(0...20))"
            let operation: KVOperation =
                chance(75)
                ? .put(
                    key: key, value: (0..<int(0...(chance(5) ? 70_000 : 64))).map { UInt8(truncatingIfNeeded: $0) },
                    ifRevision: chance(30) ? u64(0...50) : nil)
                : .delete(key: key, ifRevision: chance(30) ? u64(0...50) : nil)
            let fence = chance(40) ? Fence(group: pick(Self.groups), epoch: u64(0...20)) : nil
            return .kv(operation, fence: fence, origin: origin())
        case 6:
            let outcome: Outcome =
                chance(50)
                ? .completed(owner: pick(Self.nodes), epoch: u64(1...100))
                : .refused(Refusal(pick([.timedOut, .rolledBack, .targetNotReady, Refusal.Code("custom_code")]), text()))
            return .pendingEnded(group: pick(Self.groups), outcome: outcome)
        default:
            var config = Self.config
            config.revision = u64(2...50)
            config.snapshotThreshold = int(1...5000)
            if chance(50) { config.groups.append(GroupConfig(GroupID("extra\(int(0...3))"), prefer: ["a"], failback: .auto(holdDown: .seconds(30)))) }
            return .configure(config, source: chance(50) ? ConfigSource(document: "revision: \(config.revision)\n", author: "ops", time: "t") : nil, origin: origin())
        }
    }

    mutating func entries(from index: LogIndex, count: Int, term: Term) -> [Entry] {
        (0..<count).map { Entry(term: term, index: index + LogIndex($0), command: command()) }
    }
}

/// Builds realistic replicated states through the core's public API: a running state that
/// the generator's commands are applied to.
struct StateBuilder {
    var state = ReplicatedState(config: Generator.config)
    mutating func advance(_ generator: inout Generator, by count: Int) {
        for _ in 0..<count {
            _ = state.apply(Entry(term: 1, index: state.applied + 1, command: generator.command()))
        }
    }
}
