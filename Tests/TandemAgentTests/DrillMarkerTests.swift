@testable import TandemAgent
import TandemCore
import Testing

/// Which drills' marker keys are left over (`NodeRuntime.staleMarkerDrills`): a drill's own
/// node removes them once it no longer runs it; the leader removes those of any drill older
/// than a drill can last.
@Suite struct DrillMarkerTests {
    static let prefix = NodeRuntime.markerPrefix
    // 2026-11-29T05:00:00Z
    static let start: Int64 = 1_795_928_400_000

    @Test func drillIDsAreParsedForTheirStartAndNode() throws {
        let parsed = try #require(NodeRuntime.parseDrillID("20261129T050000-active-failure-node-a"))
        #expect(parsed.startWallMs == Self.start)
        #expect(parsed.node == "node-a")
        #expect(NodeRuntime.parseDrillID("20261129T050000-link-failure-b")?.node == "b")
        for bad in ["", "20261129T050000", "20261129T050000-switchover-", "20261129T050000-failover-svc",
                    "2026112XT050000-switchover-a", "20261129T050000switchover-a", "20261129T050000-nonsense-a"] {
            #expect(NodeRuntime.parseDrillID(bad) == nil, "\(bad)")
        }
    }

    @Test func aNodeSweepsItsOwnDrillsThatAreNotRunningAndNoOthers() {
        let keys = [
            Self.prefix + "20261129T050000-switchover-a/000001",
            Self.prefix + "20261129T050000-switchover-a/000002",
            Self.prefix + "20261129T050100-isolation-a/000001",
            Self.prefix + "20261129T050000-switchover-b/000001",
            Self.prefix + "garbage",
            Self.prefix + "not-a-drill/000001",
            "tandem/drills/20261129T050000-switchover-a",
        ]
        let now = Self.start + 60_000
        #expect(NodeRuntime.staleMarkerDrills(keys: keys, node: "a", running: [], leader: false, nowWallMs: now)
                == ["20261129T050000-switchover-a", "20261129T050100-isolation-a"])
        #expect(NodeRuntime.staleMarkerDrills(keys: keys, node: "a", running: ["20261129T050100-isolation-a"], leader: true, nowWallMs: now)
                == ["20261129T050000-switchover-a"])
        // b's drill is young: only b removes it, even when a leads.
        #expect(NodeRuntime.staleMarkerDrills(keys: keys, node: "w", running: [], leader: true, nowWallMs: now).isEmpty)
    }

    @Test func theLeaderSweepsAnyDrillOlderThanADrillCanLast() {
        let keys = [Self.prefix + "20261129T050000-observe-b/000001"]
        let limit = Int64(NodeRuntime.markerLifetime.components.seconds) * 1000
        #expect(NodeRuntime.staleMarkerDrills(keys: keys, node: "a", running: [], leader: true, nowWallMs: Self.start + limit).isEmpty)
        #expect(NodeRuntime.staleMarkerDrills(keys: keys, node: "a", running: [], leader: true, nowWallMs: Self.start + limit + 1)
                == ["20261129T050000-observe-b"])
        #expect(NodeRuntime.staleMarkerDrills(keys: keys, node: "a", running: [], leader: false, nowWallMs: Self.start + limit + 1).isEmpty)
    }
}
