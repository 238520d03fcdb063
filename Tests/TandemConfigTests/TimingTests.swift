import Testing
import TandemCore
@testable import TandemConfig

@Test(arguments: [("fast", Timing.fast), ("balanced", Timing.balanced), ("wan", Timing.wan)])
func test_parse_timingProfile_givesProfile(name: String, expected: Timing) {
    let file = parsed(minimalYAML("timing: \(name)\n"))
    #expect(file?.cluster.timing == expected)
    #expect(file?.cluster.timing.profile == name)
}

@Test func test_parse_explicitTiming_defaultsMarginAndRho() {
    let file = parsed(minimalYAML("timing: {heartbeat: 10ms, election_timeout: 60ms, lease: 45ms}\n"))
    #expect(file?.cluster.timing == Timing(
        heartbeat: .milliseconds(10), electionTimeout: .milliseconds(60), lease: .milliseconds(45),
        margin: .milliseconds(5), rho: 0.01, profile: nil))
}

@Test func test_parse_explicitTiming_withMarginAndRho() {
    let yaml = minimalYAML("""
        timing:
          heartbeat: 0.1s
          election_timeout: 1s
          lease: 600ms
          margin: 50ms
          rho: 0.02
        """)
    #expect(parsed(yaml)?.cluster.timing == Timing(
        heartbeat: .milliseconds(100), electionTimeout: .seconds(1), lease: .milliseconds(600),
        margin: .milliseconds(50), rho: 0.02))
}

@Test func test_defaultMargin_isLeaseOverNineRoundedToWholeMilliseconds() {
    #expect(FileParser.defaultMargin(lease: .milliseconds(45)) == .milliseconds(5))
    #expect(FileParser.defaultMargin(lease: .milliseconds(240)) == .milliseconds(27))  // 26.67
    #expect(FileParser.defaultMargin(lease: .milliseconds(2000)) == .milliseconds(222))  // 222.2
    #expect(FileParser.defaultMargin(lease: .microseconds(4500)) == .milliseconds(1))  // 0.5 → 1
    #expect(FileParser.defaultMargin(lease: .milliseconds(4)) == .milliseconds(1))  // 0.44 → 0 → at least 1
}

@Test func test_parse_timingViolatingRule5_reportsCoreMessageAtTimingLease() {
    let yaml = minimalYAML("""
        timing:
          heartbeat: 20ms
          election_timeout: 200ms
          lease: 190ms
          margin: 10ms
        """)
    expectProblem(yaml, key: "timing.lease", line: 10,
                  containing: ["rule 5", "lease/(1−ρ) + margin ≤ election_timeout/(1+ρ)", "shorten the lease to at most"])
}

@Test func test_parse_timingRule5_withDefaultMargin_flowForm_lineOfTiming() {
    expectProblem(minimalYAML("timing: {heartbeat: 10ms, election_timeout: 60ms, lease: 58ms}\n"),
                  key: "timing.lease", line: 7, containing: ["rule 5"])
}

@Test func test_parse_unknownProfile_suggests() {
    expectProblem(minimalYAML("timing: fsat\n"), key: "timing", line: 7,
                  containing: ["unknown timing profile 'fsat'", "did you mean 'fast'?", "fast, balanced or wan"])
}

@Test func test_parse_explicitTimingMissingLease() {
    expectProblem(minimalYAML("timing: {heartbeat: 10ms, election_timeout: 60ms}\n"), key: "timing.lease", line: 7,
                  containing: ["'lease' is missing"])
}

@Test func test_parse_timingPlainNumber_asksForUnit() {
    expectProblem(minimalYAML("timing:\n  heartbeat: 10\n  election_timeout: 60ms\n  lease: 45ms\n"),
                  key: "timing.heartbeat", line: 8, containing: ["no unit", "10ms"])
}

@Test func test_parse_timingZeroHeartbeat_coreMessage() {
    expectProblem(minimalYAML("timing: {heartbeat: 0ms, election_timeout: 60ms, lease: 45ms}\n"),
                  key: "timing.heartbeat", line: 7, containing: ["longer than zero"])
}

@Test func test_parse_timingUnknownKey_suggests() {
    expectProblem(minimalYAML("timing: {heartbeat: 10ms, election_timeout: 60ms, lease: 45ms, lese: 1ms}\n"),
                  key: "timing.lese", line: 7, containing: ["did you mean 'lease'?"])
}

@Test func test_parse_timingBadRho() {
    expectProblem(minimalYAML("timing: {heartbeat: 10ms, election_timeout: 60ms, lease: 45ms, rho: lots}\n"),
                  key: "timing.rho", line: 7, containing: ["0.01"])
    expectProblem(minimalYAML("timing: {heartbeat: 10ms, election_timeout: 60ms, lease: 45ms, rho: 0.5}\n"),
                  key: "timing.rho", line: 7, containing: ["[0, 0.1)"])
}
