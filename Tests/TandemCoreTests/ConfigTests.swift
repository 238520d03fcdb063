import Testing
@testable import TandemCore

// MARK: - Fixtures

/// Two nodes and a witness, two groups: the smallest valid pair deployment.
private func goodConfig(timing: Timing = .balanced) -> ClusterConfig {
    ClusterConfig(
        name: "lab-1",
        timing: timing,
        nodes: [
            NodeConfig("a", priority: 100, site: "dc1"),
            NodeConfig("b", priority: 50, site: "dc2"),
            NodeConfig("w", kind: .witness),
        ],
        groups: [
            GroupConfig("pbx", prefer: ["a", "b"], failback: .auto(holdDown: .seconds(30))),
            GroupConfig("sip", prefer: ["b", "a"], antiAffinity: ["pbx"]),
        ]
    )
}

/// The problems `validate()` reports, or none.
private func problems(_ config: ClusterConfig) -> [ConfigProblem] {
    do {
        try config.validate()
        return []
    } catch {
        return error.problems
    }
}

private func keys(_ config: ClusterConfig) -> [String] {
    problems(config).map(\.key)
}

private func ms(_ value: Duration) -> Double { value.milliseconds }

/// Within 0.1 ms of the documented figure (docs/PROTOCOL.md, Timing).
private func close(_ actual: Duration, _ expectedMilliseconds: Double) -> Bool {
    abs(actual.milliseconds - expectedMilliseconds) <= 0.1
}

private func explicitTiming(lease: Int) -> Timing {
    Timing(
        heartbeat: .milliseconds(20), electionTimeout: .milliseconds(200),
        lease: .milliseconds(lease), margin: .milliseconds(10))
}

// MARK: - Good configurations

@Test func test_validate_goodConfigWithEachProfile_passes() throws {
    for timing in [Timing.fast, .balanced, .wan] {
        let config = goodConfig(timing: timing)
        #expect(problems(config) == [], "profile \(timing.profile ?? "nil")")
        try config.validate()
    }
}

@Test func test_validate_explicitTiming20_200_150_10_passes() {
    let timing = explicitTiming(lease: 150)
    #expect(timing.profile == nil)
    #expect(timing.rho == 0.01)
    #expect(timing.problems(keyPrefix: "timing") == [])
    #expect(problems(goodConfig(timing: timing)) == [])
}

@Test func test_validate_explicitTimingLease190_namesTimingLease() {
    let found = problems(goodConfig(timing: explicitTiming(lease: 190)))
    #expect(found.map(\.key) == ["timing.lease"])
    #expect(found.first?.message.contains("rule 5") == true)
    #expect(explicitTiming(lease: 190).rule5Slack < .zero)
}

@Test func test_validate_learnersInPreferList_passes() {
    var config = goodConfig()
    config.nodes.append(NodeConfig("l", kind: .learner))
    config.groups[0].prefer.append("l")
    #expect(problems(config) == [])
}

@Test func test_validate_moreLearnersThanVoters_passes() {
    let config = ClusterConfig(
        name: "c",
        nodes: [NodeConfig("a"), NodeConfig("l1", kind: .learner), NodeConfig("l2", kind: .learner)],
        groups: [GroupConfig("g", prefer: ["a"])])
    #expect(problems(config) == [])
}

// MARK: - Profiles and derived figures

@Test func test_fastProfile_derivedFigures_matchProtocolTable() {
    let t = Timing.fast
    #expect(t.profile == "fast")
    #expect(t.heartbeat == .milliseconds(10) && t.electionTimeout == .milliseconds(60))
    #expect(t.lease == .milliseconds(45) && t.margin == .milliseconds(5) && t.rho == 0.01)
    #expect(close(t.echoWait, 51.0), "W1 \(ms(t.echoWait))")
    #expect(close(t.officeWait, 36.9), "W2 \(ms(t.officeWait))")
    #expect(close(t.rule5Slack, 8.9), "slack \(ms(t.rule5Slack))")
}

@Test func test_balancedProfile_derivedFigures_matchProtocolTable() {
    let t = Timing.balanced
    #expect(t.profile == "balanced")
    #expect(t.heartbeat == .milliseconds(50) && t.electionTimeout == .milliseconds(300))
    #expect(t.lease == .milliseconds(240) && t.margin == .milliseconds(20))
    #expect(close(t.echoWait, 265.0), "W1 \(ms(t.echoWait))")
    #expect(close(t.officeWait, 209.9), "W2 \(ms(t.officeWait))")
    #expect(close(t.rule5Slack, 34.6), "slack \(ms(t.rule5Slack))")
}

@Test func test_wanProfile_derivedFigures_matchProtocolTable() {
    let t = Timing.wan
    #expect(t.profile == "wan")
    #expect(t.heartbeat == .milliseconds(250) && t.electionTimeout == .milliseconds(2500))
    #expect(t.lease == .milliseconds(2000) && t.margin == .milliseconds(100))
    #expect(close(t.echoWait, 2141.4), "W1 \(ms(t.echoWait))")
    #expect(close(t.officeWait, 1681.8), "W2 \(ms(t.officeWait))")
    #expect(close(t.rule5Slack, 355.0), "slack \(ms(t.rule5Slack))")
}

@Test func test_derivedWaits_exactNanoseconds_roundedUp() {
    // W1 = 1.01 · (240e6/0.99 + 20e6) = 265_048_484.8… ns, rounded up.
    #expect(Timing.balanced.echoWait == .nanoseconds(265_048_485))
    // slack = 300e6/1.01 − 240e6/0.99 − 20e6 = 34_605_460.5… ns, rounded down.
    #expect(Timing.balanced.rule5Slack == .nanoseconds(34_605_460))
}

@Test func test_officeWait_shortLease_isZero() {
    let t = Timing(heartbeat: .milliseconds(10), electionTimeout: .milliseconds(1000),
                   lease: .milliseconds(50), margin: .milliseconds(5))
    #expect(t.officeWait == .zero)
}

@Test func test_named_knownAndUnknownProfiles_returnProfileOrNil() {
    #expect(Timing.named("fast") == .fast)
    #expect(Timing.named("balanced") == .balanced)
    #expect(Timing.named("wan") == .wan)
    #expect(Timing.named("slow") == nil)
    #expect(ClusterConfig(name: "c", nodes: [], groups: []).timing == .balanced)
}

// MARK: - Cluster-level rules

@Test func test_validate_emptyName_namesCluster() {
    var config = goodConfig()
    config.name = ""
    #expect(keys(config) == ["cluster"])
}

@Test func test_validate_nameWithUppercase_namesCluster() {
    var config = goodConfig()
    config.name = "Lab 1"
    #expect(keys(config) == ["cluster"])
}

@Test func test_validate_revisionZero_namesRevision() {
    var config = goodConfig()
    config.revision = 0
    #expect(keys(config) == ["revision"])
    #expect(goodConfig().revision == 1)
}

@Test func test_validate_snapshotThresholdZero_namesSnapshotThreshold() {
    var config = goodConfig()
    config.snapshotThreshold = 0
    #expect(keys(config) == ["snapshot_threshold"])
    #expect(goodConfig().snapshotThreshold == 1000)
}

// MARK: - Timing rules

@Test func test_validate_zeroHeartbeat_namesTimingHeartbeat() {
    var config = goodConfig()
    config.timing.heartbeat = .zero
    #expect(keys(config) == ["timing.heartbeat"])
}

@Test func test_validate_negativeElectionTimeout_namesTimingElectionTimeout() {
    var config = goodConfig()
    config.timing.electionTimeout = .milliseconds(-300)
    #expect(keys(config) == ["timing.election_timeout"])
}

@Test func test_validate_zeroLease_namesTimingLease() {
    var config = goodConfig()
    config.timing.lease = .zero
    #expect(keys(config) == ["timing.lease"])
}

@Test func test_validate_zeroMargin_namesTimingMargin() {
    var config = goodConfig()
    config.timing.margin = .zero
    #expect(keys(config) == ["timing.margin"])
}

@Test func test_validate_heartbeatNotBelowElectionTimeout_namesTimingElectionTimeout() {
    var config = goodConfig()
    config.timing = Timing(heartbeat: .milliseconds(100), electionTimeout: .milliseconds(100),
                           lease: .milliseconds(10), margin: .milliseconds(1))
    #expect(keys(config).contains("timing.election_timeout"))
}

@Test func test_validate_leaseBelowTwoHeartbeats_namesTimingLease() {
    var config = goodConfig()
    config.timing = Timing(heartbeat: .milliseconds(50), electionTimeout: .milliseconds(300),
                           lease: .milliseconds(90), margin: .milliseconds(20))
    let found = problems(config)
    #expect(found.map(\.key) == ["timing.lease"])
    #expect(found.first?.message.contains("two heartbeats") == true)
}

@Test func test_validate_marginNotBelowLease_namesTimingMargin() {
    var config = goodConfig()
    config.timing = Timing(heartbeat: .milliseconds(10), electionTimeout: .milliseconds(1000),
                           lease: .milliseconds(40), margin: .milliseconds(40))
    #expect(keys(config) == ["timing.margin"])
}

@Test func test_validate_rhoOutOfRange_namesTimingRho() {
    for rho in [-0.01, 0.1, 0.5, Double.nan] {
        var config = goodConfig()
        config.timing.rho = rho
        #expect(keys(config) == ["timing.rho"], "rho \(rho)")
    }
    var config = goodConfig()
    config.timing.rho = 0
    #expect(keys(config) == [])
}

@Test func test_validate_leaseTooLongForElectionTimeout_namesTimingLease() {
    var config = goodConfig()
    config.timing.lease = .milliseconds(280)
    let found = problems(config)
    #expect(found.map(\.key) == ["timing.lease"])
    let message = found.first?.message ?? ""
    #expect(message.hasPrefix(
        "lease 280ms is too long for election timeout 300ms: rule 5 needs lease/(1−ρ) + margin ≤ election_timeout/(1+ρ), that is 282.8ms + 20ms ≤ 297.0ms"),
        "\(message)")
    #expect(message.contains("shorten the lease to at most 274.2ms"), "\(message)")
    #expect(message.contains("election timeout to at least 305.9ms"), "\(message)")
}

@Test func test_validate_leaseExactlyAtRule5Bound_passesAndSlackIsSmall() {
    // The longest lease the balanced ET and margin allow (rounded down to 0.1 ms).
    var config = goodConfig()
    config.timing.lease = .microseconds(274_200)
    #expect(keys(config) == [])
    #expect(config.timing.rule5Slack >= .zero)
    config.timing.lease = .microseconds(274_300)
    #expect(keys(config) == ["timing.lease"])
}

@Test func test_validate_unknownProfileName_namesTimingProfile() {
    var config = goodConfig()
    config.timing.profile = "turbo"
    #expect(keys(config) == ["timing.profile"])
}

// MARK: - Node rules

@Test func test_validate_noNodes_namesNodes() {
    let config = ClusterConfig(name: "c", nodes: [], groups: [])
    #expect(keys(config) == ["nodes"])
}

@Test func test_validate_duplicateNodeID_namesNodesA() {
    var config = goodConfig()
    config.nodes.append(NodeConfig("a"))
    let found = problems(config)
    #expect(found.map(\.key) == ["nodes.a"])
    #expect(found.first?.message.hasPrefix("duplicate node id") == true)
}

@Test func test_validate_nodeIDTripled_reportsOnce() {
    var config = goodConfig()
    config.nodes += [NodeConfig("a"), NodeConfig("a")]
    #expect(keys(config) == ["nodes.a"])
}

@Test func test_validate_emptyNodeID_namesNodesIndex() {
    var config = goodConfig()
    config.nodes.append(NodeConfig(""))
    #expect(keys(config) == ["nodes[3]"])
}

@Test func test_validate_nodeIDWithInvalidCharacters_namesNode() {
    var config = goodConfig()
    config.nodes.append(NodeConfig("Node C"))
    #expect(keys(config) == ["nodes.Node C"])
}

@Test func test_validate_priorityOutOfRange_namesNodePriority() {
    var config = goodConfig()
    config.nodes[1].priority = 1001
    #expect(keys(config) == ["nodes.b.priority"])
    config.nodes[1].priority = -1
    #expect(keys(config) == ["nodes.b.priority"])
    config.nodes[1].priority = 1000
    #expect(keys(config) == [])
}

@Test func test_validate_linksOutOfRange_namesNodeLinks() {
    var config = goodConfig()
    config.nodes[0].links = 0
    #expect(keys(config) == ["nodes.a.links"])
    config.nodes[0].links = 9
    #expect(keys(config) == ["nodes.a.links"])
    config.nodes[0].links = 8
    #expect(keys(config) == [])
}

@Test func test_validate_capacityZero_namesNodeCapacity() {
    var config = goodConfig()
    config.nodes[0].capacity = 0
    #expect(keys(config) == ["nodes.a.capacity"])
}

@Test func test_validate_witnessWithCapacity_namesNodeCapacity() {
    var config = goodConfig()
    config.nodes[2].capacity = 1
    let found = problems(config)
    #expect(found.map(\.key) == ["nodes.w.capacity"])
    #expect(found.first?.message.contains("witness") == true)
}

@Test func test_validate_onlyLearners_namesNodesTwice() {
    let config = ClusterConfig(
        name: "c", nodes: [NodeConfig("l", kind: .learner)], groups: [GroupConfig("g", prefer: ["l"])])
    let found = problems(config)
    #expect(found.map(\.key) == ["nodes", "nodes"])
    #expect(found[0].message.contains("voter"))
}

@Test func test_validate_onlyWitness_namesNodes() {
    let config = ClusterConfig(name: "c", nodes: [NodeConfig("w", kind: .witness)], groups: [])
    let found = problems(config)
    #expect(found.map(\.key) == ["nodes"])
    #expect(found.first?.message.contains("kind node") == true)
}

// MARK: - Group rules

@Test func test_validate_duplicateGroupID_namesGroup() {
    var config = goodConfig()
    config.groups.append(GroupConfig("pbx", prefer: ["a"]))
    let found = problems(config)
    #expect(found.map(\.key) == ["groups.pbx"])
    #expect(found.first?.message.hasPrefix("duplicate group id") == true)
}

@Test func test_validate_emptyGroupID_namesGroupsIndex() {
    var config = goodConfig()
    config.groups.append(GroupConfig("", prefer: ["a"]))
    #expect(keys(config) == ["groups[2]"])
}

@Test func test_validate_groupIDWithInvalidCharacters_namesGroup() {
    var config = goodConfig()
    config.groups.append(GroupConfig("PBX/2", prefer: ["a"]))
    #expect(keys(config) == ["groups.PBX/2"])
}

@Test func test_validate_emptyPrefer_acceptedAsEveryNodeByPriority() {
    var config = goodConfig()
    config.groups[0].prefer = []
    #expect(keys(config) == [])
    let nodesByPriority = config.nodes.filter { $0.kind == .node }.sorted { $0.priority > $1.priority }.map(\.id)
    #expect(config.candidates(for: config.groups[0]) == nodesByPriority)
}

@Test func test_validate_preferUnknownNode_namesPreferEntry() {
    var config = goodConfig()
    config.groups[0].prefer = ["a", "c"]
    let found = problems(config)
    #expect(found.map(\.key) == ["groups.pbx.prefer[1]"])
    #expect(found.first?.message.hasPrefix("unknown node \"c\"") == true)
    #expect(found.first?.description.hasPrefix("groups.pbx.prefer[1]: unknown node \"c\"") == true)
}

@Test func test_validate_preferDuplicateNode_namesPreferEntry() {
    var config = goodConfig()
    config.groups[1].prefer = ["b", "a", "b"]
    #expect(keys(config) == ["groups.sip.prefer[2]"])
}

@Test func test_validate_witnessInPrefer_namesPreferEntry() {
    var config = goodConfig()
    config.groups[0].prefer = ["a", "w"]
    let found = problems(config)
    #expect(found.map(\.key) == ["groups.pbx.prefer[1]"])
    #expect(found.first?.message.contains("a witness never owns a group") == true)
}

@Test func test_validate_autoFailbackZeroHoldDown_namesGroupFailback() {
    var config = goodConfig()
    config.groups[0].failback = .auto(holdDown: .zero)
    #expect(keys(config) == ["groups.pbx.failback"])
}

@Test func test_validate_antiAffinityUnknownGroup_namesAntiAffinityEntry() {
    var config = goodConfig()
    config.groups[0].antiAffinity = ["db"]
    #expect(keys(config) == ["groups.pbx.anti_affinity[0]"])
}

@Test func test_validate_antiAffinityWithItself_namesAntiAffinityEntry() {
    var config = goodConfig()
    config.groups[0].antiAffinity = ["sip", "pbx"]
    #expect(keys(config) == ["groups.pbx.anti_affinity[1]"])
}

@Test func test_validate_capacitiesTooSmallForGroups_namesGroups() {
    var config = goodConfig()
    config.nodes[0].capacity = 1
    config.nodes[1].capacity = 1
    config.groups.append(GroupConfig("db", prefer: ["a", "b"]))
    let found = problems(config)
    #expect(found.map(\.key) == ["groups"])
    #expect(found.first?.message.contains("3 groups") == true)
}

@Test func test_validate_capacitiesEnoughForGroups_passes() {
    var config = goodConfig()
    config.nodes[0].capacity = 1
    config.nodes[1].capacity = 1
    #expect(keys(config) == [])
}

@Test func test_validate_boundedNodesButUnboundedNodeInPrefer_passes() {
    var config = goodConfig()
    config.nodes[0].capacity = 1
    config.nodes[1].capacity = 1
    config.nodes.append(NodeConfig("c"))
    config.groups.append(GroupConfig("db", prefer: ["a", "b", "c"]))
    #expect(keys(config) == [])
}

// MARK: - Collecting problems and accessors

@Test func test_validate_severalProblems_reportsAllInOneError() {
    var config = goodConfig()
    config.name = ""
    config.timing.lease = .milliseconds(280)
    config.nodes[1].priority = 5000
    config.groups[0].prefer = ["a", "c"]
    config.groups[1].antiAffinity = ["sip"]
    do {
        try config.validate()
        Issue.record("validate accepted a broken configuration")
    } catch {
        #expect(error.problems.map(\.key) == [
            "cluster", "timing.lease", "nodes.b.priority", "groups.pbx.prefer[1]", "groups.sip.anti_affinity[0]",
        ])
        #expect(error.description.split(separator: "\n").count == 5)
        #expect(error.description.hasPrefix("cluster: "))
    }
}

@Test func test_accessors_goodConfig_votersLearnersQuorumLookups() {
    var config = goodConfig()
    config.nodes.insert(NodeConfig("l", kind: .learner), at: 1)
    #expect(config.voters == ["a", "b", "w"])
    #expect(config.learners == ["l"])
    #expect(config.quorum == 2)
    #expect(config.node("b")?.priority == 50)
    #expect(config.node("x") == nil)
    #expect(config.group("sip")?.antiAffinity == ["pbx"])
    #expect(config.group("x") == nil)
    config.nodes.append(NodeConfig("c"))
    #expect(config.quorum == 3)
}

@Test func test_nodeConfig_defaults_matchSpecification() {
    let node = NodeConfig("a")
    #expect(node.kind == .node && node.priority == 0 && node.site == nil)
    #expect(node.capacity == nil && node.links == 1)
    let group = GroupConfig("g", prefer: ["a"])
    #expect(group.failback == .manual && group.antiAffinity == [])
    #expect(NodeConfig.Kind(rawValue: "witness") == .witness)
}

@Test func test_configProblem_description_isKeyColonMessage() {
    let problem = ConfigProblem(key: "timing.lease", message: "too long")
    #expect(problem.description == "timing.lease: too long")
}

@Test func test_formatters_variousValues_formatMilliseconds() {
    #expect(ConfigFormat.compactMilliseconds(.milliseconds(280)) == "280ms")
    #expect(ConfigFormat.compactMilliseconds(.microseconds(1500)) == "1.5ms")
    #expect(ConfigFormat.compactMilliseconds(.nanoseconds(1)) == "0.000001ms")
    #expect(ConfigFormat.compactMilliseconds(.milliseconds(-5)) == "-5ms")
    #expect(ConfigFormat.compactMilliseconds(.seconds(2.5)) == "2500ms")
    #expect(ConfigFormat.tenthMilliseconds(282_828_282.8) == "282.8ms")
    #expect(ConfigFormat.tenthMilliseconds(297_029_702.9) == "297.0ms")
    #expect(ConfigFormat.tenthMilliseconds(-8_950_000) == "-9.0ms")
    #expect(ConfigFormat.tenthMilliseconds(274_269_000, rounding: .down) == "274.2ms")
}

@Test func test_validate_nodeIdLongerThan64Bytes_namesTheNode() {
    var config = goodConfig()
    let long = String(repeating: "n", count: 65)
    config.nodes.append(NodeConfig(NodeID(long), priority: 10))
    let found = problems(config).filter { $0.message.contains("65 characters long") }
    #expect(found.count == 1)
    #expect(found.first?.key.contains(long) == true)
}
