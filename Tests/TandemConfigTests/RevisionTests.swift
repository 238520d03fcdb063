import Foundation
import Testing
import TandemCore
@testable import TandemConfig

// MARK: - Revisions made on a running cluster

@Test func test_documentWithRevision_replacesTheTopLevelLineKeepingItsComment() {
    let text = "# lab\ncluster: lab\nrevision: 3   # raise with every change\nnodes: {}\n"
    #expect(ConfigRevisions.document(text, withRevision: 7) == "# lab\ncluster: lab\nrevision: 7  # raise with every change\nnodes: {}\n")
}

@Test func test_documentWithRevision_withoutALine_addsOneAtTheTop() {
    #expect(ConfigRevisions.document("cluster: lab\n", withRevision: 2) == "revision: 2\ncluster: lab\n")
    // An indented `revision:` (a key inside something else) is not the file's revision.
    #expect(ConfigRevisions.document("x:\n  revision: 1\n", withRevision: 2) == "revision: 2\nx:\n  revision: 1\n")
}

@Test func test_documentWithRevision_parsesToThatRevision() throws {
    let text = ConfigRevisions.document(groupYAML("prefer: [a, b]\n"), withRevision: 9)
    #expect(try ConfigFile.parse(yaml: text, source: "t").cluster.revision == 9)
}

@Test func test_restartOnlyChanges_groupsChecksAndPriorities_areLive() {
    let before = parsed(groupYAML("prefer: [a, b]\nresources:\n  - vip: 10.0.0.100/24 dev eth0\n"))!
    let after = parsed(groupYAML("prefer: [b, a]\nresources:\n  - vip: 10.0.0.101/24 dev eth0\nchecks:\n  - tcp: 10.0.0.100:5060\n")
        .replacingOccurrences(of: "priority: 50", with: "priority: 60"))!
    #expect(ConfigRevisions.restartOnlyChanges(from: before, to: after) == [])
}

@Test func test_restartOnlyChanges_addressesNodesKeysDataDirAndAPI_needARestart() {
    let before = parsed(minimalYAML())!
    let cases: [(String, String)] = [
        (minimalYAML().replacingOccurrences(of: "10.0.0.2:7480", with: "10.0.0.2:7481"), "nodes.b"),
        (minimalYAML().replacingOccurrences(of: "10.0.0.3:7400", with: "10.0.0.4:7400"), "nodes.w"),
        (minimalYAML().replacingOccurrences(of: "  w: {links: [\"10.0.0.3:7400\"], witness: true}\n", with: "  w: {links: [\"10.0.0.3:7400\"], witness: true}\n  c: {links: [\"10.0.0.5:7400\"]}\n"), "nodes:"),
        (minimalYAML().replacingOccurrences(of: "/etc/tandem/cluster.key", with: "/etc/tandem/new.key"), "key_files"),
        (minimalYAML("data_dir: /srv/tandem\n"), "data_dir"),
        (minimalYAML("api: {token_file: /etc/tandem/tokens}\n"), "api:"),
    ]
    for (yaml, expected) in cases {
        guard let after = parsed(yaml) else {
            Issue.record("does not parse: \(yaml)")
            continue
        }
        let found = ConfigRevisions.restartOnlyChanges(from: before, to: after)
        #expect(found.count == 1 && found[0].hasPrefix(expected), "\(expected): \(found)")
    }
}

// MARK: - drills:

@Test func test_parse_drills_scheduleAndMaxAge() {
    let file = parsed(groupYAML("prefer: [a, b]\n") + "drills:\n  max_age: 30d\n  schedule:\n    - {scenario: switchover, group: g, every: 7d, window: \"23:00-01:30\", probe: \"udp://10.0.0.9:9000\", max_interruption: 500ms}\n")
    #expect(file?.drills.maxAge == .seconds(30 * 86_400))
    let entry = file?.drills.schedule.first
    #expect(entry?.scenario == "switchover" && entry?.group == "g" && entry?.every == .seconds(7 * 86_400))
    #expect(entry?.maxInterruption == .milliseconds(500) && entry?.probe == "udp://10.0.0.9:9000")
    // The window wraps past midnight.
    #expect(entry?.allows(minute: 23 * 60 + 30) == true && entry?.allows(minute: 60) == true && entry?.allows(minute: 120) == false)
}

@Test func test_parse_drills_badEntries_eachNamed() {
    let yaml = groupYAML("prefer: [a, b]\n") + """
    drills:
      schedule:
        - {scenario: observe, every: 7d}
        - {scenario: switchover, group: nope, every: 7d}
        - {scenario: switchover, every: 10s}
        - {scenario: switchover, every: 1d, window: "25:00-26:00"}
        - {scenario: switchover, every: 1d, probe: "ftp://x:1"}

    """
    #expect(problem(yaml, key: "drills.schedule[0].scenario")?.message.contains("observe needs a person") == true)
    #expect(problem(yaml, key: "drills.schedule[1].group")?.message.contains("no group \"nope\"") == true)
    #expect(problem(yaml, key: "drills.schedule[2].every")?.message.contains("at least 1m") == true)
    #expect(problem(yaml, key: "drills.schedule[3].window")?.message.contains("HH:MM-HH:MM") == true)
    #expect(problem(yaml, key: "drills.schedule[4].probe")?.message.contains("udp://") == true)
}
