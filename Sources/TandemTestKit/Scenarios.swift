import TandemCore

/// A deployment the simulator runs (DESIGN §1): its configuration and its network shape.
public struct Scenario: Sendable {
    public var name: String
    public var config: ClusterConfig
    /// One-way delay between two nodes, in nanoseconds (base, spread).
    public var delay: @Sendable (_ from: NodeID, _ to: NodeID) -> (base: Int64, spread: Int64)

    public static let names = ["pair", "dual", "cluster", "sites"]

    /// Builds the named scenario with a timing profile.
    public static func named(_ name: String, timing: Timing) -> Scenario? {
        switch name {
        case "pair": pair(timing: timing)
        case "dual": dual(timing: timing)
        case "cluster": cluster(timing: timing)
        case "sites": sites(timing: timing)
        default: nil
        }
    }

    static func lanDelay(_ timing: Timing) -> (Int64, Int64) {
        // A LAN: 50 µs to ~1/20 of a heartbeat, so that reordering happens.
        (50_000, max(100_000, timing.heartbeat.nanoseconds / 20))
    }

    /// Active-standby pair `a`, `b` with witness `w`; one group preferring `a`; two links each.
    public static func pair(timing: Timing) -> Scenario {
        let config = ClusterConfig(
            name: "pair", timing: timing,
            nodes: [
                NodeConfig("a", priority: 100, links: 2), NodeConfig("b", priority: 90, links: 2),
                NodeConfig("w", kind: .witness, links: 1),
            ],
            groups: [GroupConfig("pbx", prefer: ["a", "b"])], snapshotThreshold: 200)
        let d = lanDelay(timing)
        return Scenario(name: "pair", config: config, delay: { _, _ in d })
    }

    /// Dual active: the same three voters, two groups preferring opposite nodes.
    public static func dual(timing: Timing) -> Scenario {
        let config = ClusterConfig(
            name: "dual", timing: timing,
            nodes: [
                NodeConfig("a", priority: 100, links: 2), NodeConfig("b", priority: 90, links: 2),
                NodeConfig("w", kind: .witness),
            ],
            groups: [
                GroupConfig("sip", prefer: ["a", "b"], failback: .auto(holdDown: timing.electionTimeout * 3)),
                GroupConfig("db", prefer: ["b", "a"], failback: .auto(holdDown: timing.electionTimeout * 3)),
            ], snapshotThreshold: 200)
        let d = lanDelay(timing)
        return Scenario(name: "dual", config: config, delay: { _, _ in d })
    }

    /// Five nodes, three groups (one placed by priority alone), capacity 2 per node and
    /// anti-affinity between two groups.
    public static func cluster(timing: Timing) -> Scenario {
        let nodes = (1...5).map { NodeConfig(NodeID("n\($0)"), priority: 100 - $0, capacity: 2) }
        let config = ClusterConfig(
            name: "cluster", timing: timing, nodes: nodes,
            groups: [
                GroupConfig("web", prefer: ["n1", "n2", "n3"], antiAffinity: ["api"]),
                GroupConfig("api", prefer: ["n1", "n2", "n4"], failback: .auto(holdDown: timing.electionTimeout * 3)),
                GroupConfig("queue", prefer: []),  // any node, by priority
            ], snapshotThreshold: 200)
        let d = lanDelay(timing)
        return Scenario(name: "cluster", config: config, delay: { _, _ in d })
    }

    /// Two sites with two voters each and a witness at a third site; a learner at site 2.
    public static func sites(timing: Timing) -> Scenario {
        let config = ClusterConfig(
            name: "sites", timing: timing,
            nodes: [
                NodeConfig("a1", priority: 100, site: "east", links: 2), NodeConfig("a2", priority: 90, site: "east", links: 2),
                NodeConfig("b1", priority: 80, site: "west", links: 2), NodeConfig("b2", priority: 70, site: "west", links: 2),
                NodeConfig("w", kind: .witness, site: "third"),
                NodeConfig("r", kind: .learner, site: "west"),
            ],
            groups: [
                GroupConfig("scada", prefer: ["a1", "a2", "b1", "b2"]),
                GroupConfig("alarms", prefer: ["b1", "b2", "a1"]),
            ], snapshotThreshold: 200)
        let site = Dictionary(uniqueKeysWithValues: config.nodes.map { ($0.id, $0.site ?? "") })
        let lan = lanDelay(timing)
        // Between sites: about a tenth of a heartbeat one way.
        let wan = (max(500_000, timing.heartbeat.nanoseconds / 10), max(200_000, timing.heartbeat.nanoseconds / 20))
        return Scenario(name: "sites", config: config, delay: { from, to in site[from] == site[to] ? lan : wan })
    }
}
