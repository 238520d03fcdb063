import Testing
import TandemCore
@testable import TandemConfig

// Line numbers: minimalYAML is lines 1-6 (cluster, key_file, nodes, a, b, w) and its extra
// starts at line 7; groupYAML puts "groups:" on line 7, "  g:" on line 8 and the body from 9.

// MARK: - Reading and syntax

@Test func test_load_missingFile_namesPathAndErrno() {
    do {
        _ = try ConfigFile.load(path: "/nonexistent/tandem.yaml")
        Issue.record("loaded a missing file")
    } catch {
        #expect(error.source == "/nonexistent/tandem.yaml")
        #expect(error.problems.count == 1)
        #expect(error.problems.first?.line == nil)
        #expect(error.problems.first?.message.contains("/nonexistent/tandem.yaml") == true)
        #expect(error.problems.first?.message.contains("No such file or directory") == true)
        #expect(error.description.hasPrefix("/nonexistent/tandem.yaml: cannot open /nonexistent/tandem.yaml: No such file"))
    }
}

@Test func test_load_directory_namesErrno() {
    do {
        _ = try ConfigFile.load(path: "/")
        Issue.record("loaded a directory")
    } catch {
        #expect(error.problems.first?.message.contains("Is a directory") == true)
    }
}

@Test func test_parse_syntaxError_givesLineAndColumn() {
    expectProblem("cluster: pbx\nnodes: x\n  bad: indentation\n", key: "", line: 3,
                  containing: ["YAML syntax error at column", "mapping values are not allowed"])
}

@Test func test_parse_unterminatedFlowList_isSyntaxError() {
    let found = problems("cluster: pbx\nnodes:\n  a: {links: [\"10.0.0.1:7400\"\n  b: {}\n")
    #expect(found.count == 1)
    #expect(found.first?.key == "")
    #expect(found.first?.line != nil)
    #expect(found.first?.message.contains("YAML syntax error") == true)
}

@Test func test_parse_duplicateKey_givesLine() {
    expectProblem(minimalYAML("cluster: again\n"), key: "", line: 1, containing: ["'cluster'", "more than once"])
}

@Test func test_parse_emptyFile_isRefused() {
    expectProblem("# nothing here\n", key: "", line: nil, containing: ["empty"])
}

@Test func test_parse_rootNotAMapping() {
    expectProblem("- a\n- b\n", key: "", line: 1, containing: ["expected a mapping of settings"])
}

// MARK: - Unknown keys

@Test func test_parse_unknownGroupKey_suggestsNearest() {
    let found = problem(groupYAML("prefered: [a, b]"), key: "groups.g.prefered")
    #expect(found?.line == 9)
    #expect(found?.message == "unknown key 'prefered' in groups.g; did you mean 'prefer'?")
}

@Test func test_parse_unknownTopLevelKey_listsAllowedKeys() {
    expectProblem(minimalYAML("colour: red\n"), key: "colour", line: 7,
                  containing: ["unknown key 'colour' at the top level", "the keys allowed here are: cluster, key_file"])
}

@Test func test_parse_unknownNodeKey_suggests() {
    let yaml = minimalYAML().replacingFirst("priority: 50", with: "priorty: 50")
    expectProblem(yaml, key: "nodes.b.priorty", line: 5, containing: ["did you mean 'priority'?"])
}

@Test func test_parse_keyOfAnotherCheckKind_isUnknown() {
    expectProblem(groupYAML("checks:\n  - {tcp: \"127.0.0.1:1\", status: 200}"), key: "groups.g.checks[0].status", line: 10,
                  containing: ["unknown key 'status' in groups.g.checks[0] (tcp check)"])
}

// MARK: - Cluster settings

@Test func test_parse_missingCluster_andNodes() {
    let found = problems("key_file: /k\n")
    #expect(found.map(\.key) == ["cluster", "nodes"])
    #expect(found.first?.message.contains("'cluster' is missing from the top level") == true)
}

@Test func test_parse_badClusterName_coreProblemAtLine1() {
    expectProblem(minimalYAML().replacingFirst("cluster: lab", with: "cluster: Lab!"), key: "cluster", line: 1,
                  containing: ["may contain only a-z"])
}

@Test func test_parse_revisionZero_coreProblem_negative_fileProblem() {
    expectProblem(minimalYAML("revision: 0\n"), key: "revision", line: 7, containing: ["at least 1"])
    expectProblem(minimalYAML("revision: -3\n"), key: "revision", line: 7, containing: ["whole number of at least 1"])
}

@Test func test_parse_snapshotThresholdZero() {
    expectProblem(minimalYAML("snapshot_threshold: 0\n"), key: "snapshot_threshold", line: 7, containing: ["at least 1"])
}

@Test func test_parse_relativeDataDir() {
    expectProblem(minimalYAML("data_dir: var/tandem\n"), key: "data_dir", line: 7, containing: ["absolute path"])
}

// MARK: - Key files

@Test func test_parse_keyFiles_rotation() {
    let yaml = minimalYAML().replacingFirst("key_file: /etc/tandem/cluster.key", with: "key_files: [/etc/tandem/new.key, /etc/tandem/old.key]")
    #expect(parsed(yaml)?.keyFiles == ["/etc/tandem/new.key", "/etc/tandem/old.key"])
}

@Test func test_parse_keyFileAndKeyFiles_isError() {
    expectProblem(minimalYAML("key_files: [/a, /b]\n"), key: "key_files", line: 7, containing: ["both key_file and key_files"])
}

@Test func test_parse_noKeyFile_isError() {
    let yaml = minimalYAML().replacingFirst("key_file: /etc/tandem/cluster.key\n", with: "")
    expectProblem(yaml, key: "key_file", line: nil, containing: ["no cluster key", "tandem keygen"])
}

@Test func test_parse_keyFilesCountAndDuplicates() {
    let base = minimalYAML().replacingFirst("key_file: /etc/tandem/cluster.key", with: "key_files: LIST")
    expectProblem(base.replacingFirst("LIST", with: "[/a, /b, /c]"), key: "key_files", line: 2, containing: ["lists 3 files"])
    expectProblem(base.replacingFirst("LIST", with: "[]"), key: "key_files", line: 2, containing: ["lists 0 files"])
    expectProblem(base.replacingFirst("LIST", with: "[/a, /a]"), key: "key_files[1]", line: 2, containing: ["twice"])
    expectProblem(base.replacingFirst("LIST", with: "/a"), key: "key_files", line: 2, containing: ["expected a list"])
}

@Test func test_parse_relativeKeyFile() {
    let yaml = minimalYAML().replacingFirst("key_file: /etc/tandem/cluster.key", with: "key_file: cluster.key")
    expectProblem(yaml, key: "key_file", line: 2, containing: ["'cluster.key' is not an absolute path"])
}

// MARK: - Nodes and links

@Test func test_parse_linkHostName_isRefused() {
    let yaml = minimalYAML().replacingFirst("10.0.0.1:7400", with: "node-a:7400")
    expectProblem(yaml, key: "nodes.a.links[0]", line: 4, containing: ["must be IP literals"])
}

@Test func test_parse_linkBadPorts() {
    expectProblem(minimalYAML().replacingFirst("10.0.0.1:7400", with: "10.0.0.1:0"), key: "nodes.a.links[0]", line: 4,
                  containing: ["'0' in '10.0.0.1:0' is not a port", "1 to 65535"])
    expectProblem(minimalYAML().replacingFirst("10.0.0.1:7400", with: "10.0.0.1:70000"), key: "nodes.a.links[0]", line: 4,
                  containing: ["not a port"])
    expectProblem(minimalYAML().replacingFirst("10.0.0.1:7400", with: "10.0.0.1"), key: "nodes.a.links[0]", line: 4,
                  containing: ["has no port"])
}

@Test func test_parse_linkUnbracketedIPv6_saysUseBrackets() {
    expectProblem(minimalYAML().replacingFirst("10.0.0.1:7400", with: "fd00::1:7400"), key: "nodes.a.links[0]", line: 4,
                  containing: ["brackets", "[fd00::1]:7400"])
}

@Test func test_parse_linkUnspecifiedAddress_isRefused() {
    expectProblem(minimalYAML().replacingFirst("10.0.0.1:7400", with: "0.0.0.0:7400"), key: "nodes.a.links[0]", line: 4,
                  containing: ["unspecified address"])
    expectProblem(minimalYAML().replacingFirst("10.0.0.1:7400", with: "[::]:7400"), key: "nodes.a.links[0]", line: 4,
                  containing: ["unspecified address"])
}

@Test func test_parse_linkBadIPv4() {
    expectProblem(minimalYAML().replacingFirst("10.0.0.1:7400", with: "10.0.0.300:7400"), key: "nodes.a.links[0]", line: 4,
                  containing: ["not a valid IPv4 address"])
}

@Test func test_parse_duplicateLinkEndpoint_acrossNodes() {
    expectProblem(minimalYAML().replacingFirst("10.0.0.2:7400", with: "10.0.0.1:7400"), key: "nodes.b.links[0]", line: 5,
                  containing: ["already used by nodes.a.links[0]"])
}

@Test func test_parse_apiEqualToOwnLink() {
    expectProblem(minimalYAML().replacingFirst("10.0.0.1:7480", with: "10.0.0.1:7400"), key: "nodes.a.api", line: 4,
                  containing: ["same as the link address nodes.a.links[0]"])
}

@Test func test_parse_badAPIName() {
    expectProblem(minimalYAML().replacingFirst("10.0.0.1:7480", with: "bad_name!:7480"), key: "nodes.a.api", line: 4,
                  containing: ["neither an IP address nor a host name"])
}

@Test func test_parse_linkFamiliesDifferOnOnePath() {
    expectProblem(minimalYAML().replacingFirst("10.0.0.2:7400", with: "[fd00::2]:7400"), key: "nodes.b.links[0]", line: 5,
                  containing: ["link 1 is IPv4 at nodes.a.links[0] but IPv6 here"])
}

@Test func test_parse_emptyAndMissingLinks() {
    expectProblem(minimalYAML().replacingFirst("[\"10.0.0.1:7400\"]", with: "[]"), key: "nodes.a.links", line: 4,
                  containing: ["at least one link address"])
    expectProblem(minimalYAML().replacingFirst("links: [\"10.0.0.1:7400\"], ", with: ""), key: "nodes.a.links", line: 4,
                  containing: ["'links' is missing from nodes.a"])
}

@Test func test_parse_tooManyLinks() {
    let links = (1...9).map { "\"10.0.\($0).1:7400\"" }.joined(separator: ", ")
    expectProblem(minimalYAML().replacingFirst("[\"10.0.0.1:7400\"]", with: "[\(links)]"), key: "nodes.a.links", line: 4,
                  containing: ["at most 8"])
}

@Test func test_parse_witnessAndLearner() {
    expectProblem(minimalYAML().replacingFirst("witness: true", with: "witness: true, learner: true"), key: "nodes.w.learner",
                  line: 6, containing: ["not both"])
    expectProblem(minimalYAML().replacingFirst("witness: true", with: "witness: yes please"), key: "nodes.w.witness",
                  line: 6, containing: ["true or false"])
}

@Test func test_parse_corePriorityAndCapacity_mappedToLines() {
    expectProblem(minimalYAML().replacingFirst("priority: 100", with: "priority: 2000"), key: "nodes.a.priority", line: 4,
                  containing: ["0...1000"])
    expectProblem(minimalYAML().replacingFirst("witness: true", with: "witness: true, capacity: 1"), key: "nodes.w.capacity",
                  line: 6, containing: ["witness never owns a group"])
    expectProblem(minimalYAML().replacingFirst("priority: 100", with: "priority: high"), key: "nodes.a.priority", line: 4,
                  containing: ["not a whole number"])
}

@Test func test_parse_blockFormNode_linesOfEachKey() {
    let yaml = """
        cluster: lab
        key_file: /k
        nodes:
          a:
            links:
              - "10.0.0.1:7400"
              - "10.0.0.1:7400"
            priority: 5000
          b:
            links: ["10.0.0.2:7400"]
        """
    let found = problems(yaml)
    #expect(found.map(\.key) == ["nodes.a.links[1]", "nodes.a.priority"])
    #expect(found.map(\.line) == [7, 8])
}

// MARK: - Groups

@Test func test_parse_coreGroupProblems_mappedToLines() {
    expectProblem(groupYAML("prefer: [a, x]"), key: "groups.g.prefer[1]", line: 9, containing: ["unknown node \"x\""])
    expectProblem(groupYAML("prefer: [a, w]"), key: "groups.g.prefer[1]", line: 9, containing: ["witness"])
    expectProblem(groupYAML("anti_affinity: [nope]"), key: "groups.g.anti_affinity[0]", line: 9, containing: ["unknown group"])
    expectProblem(groupYAML("prefer: [a]\nfailback: auto after 0s"), key: "groups.g.failback", line: 10,
                  containing: ["hold-down longer than zero"])
}

@Test func test_parse_badFailback() {
    expectProblem(groupYAML("failback: sometimes"), key: "groups.g.failback", line: 9, containing: ["'manual' or 'auto after 5m'"])
    expectProblem(groupYAML("failback: auto"), key: "groups.g.failback", line: 9, containing: ["auto after 5m"])
    expectProblem(groupYAML("failback: auto after 5"), key: "groups.g.failback", line: 9, containing: ["no unit"])
}

@Test func test_parse_badGroupID_coreProblem() {
    expectProblem(minimalYAML("groups:\n  Bad: {}\n"), key: "groups.Bad", line: 8, containing: ["may contain only"])
}

// MARK: - Resources

@Test func test_parse_vipProblems() {
    func vip(_ text: String) -> String { groupYAML("resources:\n  - vip: \(text)") }
    let key = "groups.g.resources[0].vip"
    expectProblem(vip("10.0.0.100/33 dev eth0"), key: key, line: 10, containing: ["0 to 32"])
    expectProblem(vip("fd00::100/129 dev eth0"), key: key, line: 10, containing: ["0 to 128"])
    expectProblem(vip("10.0.0.100/24"), key: key, line: 10, containing: ["names no device"])
    expectProblem(vip("10.0.0.100 dev eth0"), key: key, line: 10, containing: ["no prefix length", "10.0.0.100/24"])
    expectProblem(vip("10.0.0.300/24 dev eth0"), key: key, line: 10, containing: ["not an IPv4 or IPv6 address"])
    expectProblem(vip("10.0.0.100/24 dev averyverylongname0"), key: key, line: 10, containing: ["at most 15"])
    expectProblem(vip("10.0.0.100/24 dev eth0:1"), key: key, line: 10, containing: ["not a valid interface name"])
    expectProblem(vip("10.0.0.100/24 on eth0"), key: key, line: 10, containing: ["ADDRESS/PREFIX dev DEVICE"])
}

@Test func test_parse_vipMapFormProblems() {
    expectProblem(groupYAML("resources:\n  - {vip: 10.0.0.1/24 dev eth0, announce: -1}"), key: "groups.g.resources[0].announce",
                  line: 10, containing: ["from 0 to 100"])
    expectProblem(groupYAML("resources:\n  - {vip: 10.0.0.1/24 dev eth0, announce_interval: 0ms}"),
                  key: "groups.g.resources[0].announce_interval", line: 10, containing: ["longer than zero"])
    expectProblem(groupYAML("resources:\n  - {vip: 10.0.0.1/24 dev eth0, timeout: 1s}"),
                  key: "groups.g.resources[0].timeout", line: 10, containing: ["(vip resource)"])
}

@Test func test_parse_duplicateVIP_acrossGroups() {
    let yaml = minimalYAML("""
        groups:
          g: {resources: [vip: 10.0.0.100/24 dev eth0]}
          h: {resources: [vip: 10.0.0.100/24 dev eth1]}
        """)
    expectProblem(yaml, key: "groups.h.resources[0]", line: 9, containing: ["already configured at groups.g.resources[0]"])
}

@Test func test_parse_execResourceProblems() {
    expectProblem(groupYAML("resources:\n  - exec: {run: x, start: y}"), key: "groups.g.resources[0].exec.run", line: 10,
                  containing: ["cannot be combined with start"])
    expectProblem(groupYAML("resources:\n  - exec: {stop: y}"), key: "groups.g.resources[0].exec", line: 10,
                  containing: ["needs start", "or run"])
    expectProblem(groupYAML("resources:\n  - exec: /usr/bin/thing"), key: "groups.g.resources[0].exec", line: 10,
                  containing: ["expected {start"])
    expectProblem(groupYAML("resources:\n  - exec: {start: x, timeout: 10}"), key: "groups.g.resources[0].exec.timeout",
                  line: 10, containing: ["no unit"])
    expectProblem(groupYAML("resources:\n  - exec: {start: x, stat: y}"), key: "groups.g.resources[0].exec.stat",
                  line: 10, containing: ["did you mean 'start'?"])
}

@Test func test_parse_systemdProblems() {
    expectProblem(groupYAML("resources:\n  - systemd: my unit"), key: "groups.g.resources[0].systemd", line: 10,
                  containing: ["not a systemd unit name"])
    expectProblem(groupYAML("resources:\n  - {systemd: x.service, timeout: 0s}"), key: "groups.g.resources[0].timeout",
                  line: 10, containing: ["longer than zero"])
}

@Test func test_parse_resourceKinds() {
    expectProblem(groupYAML("resources:\n  - {systmd: x.service}"), key: "groups.g.resources[0]", line: 10,
                  containing: ["no kind", "did you mean 'systemd' for 'systmd'?"])
    expectProblem(groupYAML("resources:\n  - {vip: 10.0.0.1/24 dev eth0, systemd: x.service}"),
                  key: "groups.g.resources[0].systemd", line: 10, containing: ["both vip and systemd", "two items"])
    expectProblem(groupYAML("resources:\n  - just text"), key: "groups.g.resources[0]", line: 10,
                  containing: ["expected a resource"])
}

// MARK: - Checks

@Test func test_parse_checkDurationWithoutUnit() {
    expectProblem(groupYAML("checks:\n  - {tcp: \"127.0.0.1:5060\", interval: 10}"), key: "groups.g.checks[0].interval",
                  line: 10, containing: ["the duration '10' has no unit", "10s"])
}

@Test func test_parse_checkTimeoutNotShorterThanInterval() {
    expectProblem(groupYAML("checks:\n  - {tcp: \"127.0.0.1:5060\", interval: 500ms, timeout: 500ms}"),
                  key: "groups.g.checks[0].timeout", line: 10, containing: ["timeout 500ms must be shorter than interval 500ms"])
    expectProblem(groupYAML("checks:\n  - tcp: \"127.0.0.1:5060\"\n    interval: 300ms"),
                  key: "groups.g.checks[0].timeout", line: 11, containing: ["timeout 500ms (the default) must be shorter than interval 300ms"])
}

@Test func test_parse_checkCountsAndScope() {
    expectProblem(groupYAML("checks:\n  - {exec: x, rise: 0}"), key: "groups.g.checks[0].rise", line: 10, containing: ["at least 1"])
    expectProblem(groupYAML("checks:\n  - {exec: x, fall: -2}"), key: "groups.g.checks[0].fall", line: 10, containing: ["at least 1"])
    expectProblem(groupYAML("checks:\n  - {exec: x, on: sometimes}"), key: "groups.g.checks[0].on", line: 10,
                  containing: ["on: active", "on: always"])
    expectProblem(groupYAML("checks:\n  - {exec: x, interval: 0s}"), key: "groups.g.checks[0].interval", line: 10,
                  containing: ["longer than zero"])
}

@Test func test_parse_httpCheckProblems() {
    expectProblem(groupYAML("checks:\n  - {http: \"https://127.0.0.1/health\"}"), key: "groups.g.checks[0].http", line: 10,
                  containing: ["TLS checks are not", "http://"])
    expectProblem(groupYAML("checks:\n  - {http: \"ftp://127.0.0.1/x\"}"), key: "groups.g.checks[0].http", line: 10,
                  containing: ["not an http URL"])
    expectProblem(groupYAML("checks:\n  - {http: \"http:///x\"}"), key: "groups.g.checks[0].http", line: 10,
                  containing: ["no host"])
    expectProblem(groupYAML("checks:\n  - {http: \"http://127.0.0.1:99999/x\"}"), key: "groups.g.checks[0].http", line: 10,
                  containing: ["not a port"])
    expectProblem(groupYAML("checks:\n  - {http: \"http://127.0.0.1/\", status: 999}"), key: "groups.g.checks[0].status",
                  line: 10, containing: ["from 100 to 599"])
}

@Test func test_parse_otherCheckProblems() {
    expectProblem(groupYAML("checks:\n  - {tcp: \"127.0.0.1\"}"), key: "groups.g.checks[0].tcp", line: 10, containing: ["no port"])
    expectProblem(groupYAML("checks:\n  - {interface: \"eth 0\"}"), key: "groups.g.checks[0].interface", line: 10,
                  containing: ["not a valid interface name"])
    expectProblem(groupYAML("checks:\n  - {upstream: \"10.0.0.254:0\"}"), key: "groups.g.checks[0].upstream", line: 10,
                  containing: ["not a port"])
    expectProblem(groupYAML("checks:\n  - {disk: var/lib}"), key: "groups.g.checks[0].disk", line: 10, containing: ["absolute path"])
    expectProblem(groupYAML("checks:\n  - {disk: /var, min_free: 1000}"), key: "groups.g.checks[0].min_free", line: 10,
                  containing: ["the size '1000' has no unit"])
    expectProblem(groupYAML("checks:\n  - {disk: /var, min_free: 1gb}"), key: "groups.g.checks[0].min_free", line: 10,
                  containing: ["unknown size unit 'gb'"])
    expectProblem(groupYAML("checks:\n  - {tpc: \"127.0.0.1:1\"}"), key: "groups.g.checks[0]", line: 10,
                  containing: ["did you mean 'tcp' for 'tpc'?"])
    expectProblem(groupYAML("checks:\n  - {tcp: \"127.0.0.1:1\", exec: x}"), key: "groups.g.checks[0].exec", line: 10,
                  containing: ["both tcp and exec"])
}

// MARK: - Notifiers and fence

@Test func test_parse_notifiers_allThreeKinds() {
    let file = parsed(minimalYAML("""
        notify:
          - {exec: /usr/local/sbin/alarm, timeout: 3s}
          - {webhook: "https://alarms.example/tandem", timeout: 2s, retries: 3}
          - {webhook: "http://10.0.0.9:8080/hook"}
          - {syslog: local3}
          - {syslog: daemon, socket: /run/log}

        """))
    #expect(file?.notify == [
        .exec(command: "/usr/local/sbin/alarm", timeout: .seconds(3)),
        .webhook(WebhookSpec(url: "https://alarms.example/tandem", timeout: .seconds(2), retries: 3)),
        .webhook(WebhookSpec(url: "http://10.0.0.9:8080/hook", timeout: .seconds(5), retries: 5)),
        .syslog(SyslogSpec(facility: 19, socket: "/dev/log")),
        .syslog(SyslogSpec(facility: 3, socket: "/run/log")),
    ])
}

@Test func test_parse_notifierProblems() {
    expectProblem(minimalYAML("notify:\n  - {webhook: \"ftp://x\"}\n"), key: "notify[0].webhook", line: 8,
                  containing: ["http:// or https:// URL"])
    expectProblem(minimalYAML("notify:\n  - {webhook: \"http://x.example\", retries: 1000}\n"), key: "notify[0].retries", line: 8,
                  containing: ["from 0 to 100"])
    expectProblem(minimalYAML("notify:\n  - {syslog: daemons}\n"), key: "notify[0].syslog", line: 8,
                  containing: ["unknown syslog facility \"daemons\""])
    expectProblem(minimalYAML("notify:\n  - {exec: x, timeout: 10}\n"), key: "notify[0].timeout", line: 8, containing: ["no unit"])
    expectProblem(minimalYAML("notify: {exec: x}\n"), key: "notify", line: 7, containing: ["expected a list of notifiers"])
}

@Test func test_parse_fenceProblems() {
    expectProblem(minimalYAML("fence: {timeout: 5s}\n"), key: "fence.exec", line: 7, containing: ["'exec' is missing from fence"])
    expectProblem(minimalYAML("fence: {exec: x, timeot: 5s}\n"), key: "fence.timeot", line: 7, containing: ["did you mean 'timeout'?"])
    #expect(parsed(minimalYAML("fence: {exec: /x}\n"))?.fence == FenceSpec(command: "/x", timeout: .seconds(10)))
}

// MARK: - Several problems

@Test func test_parse_severalProblems_allReportedInLineOrder() {
    let yaml = minimalYAML("""
        colour: red
        groups:
          g:
            prefer: [a, ghost]
            checks:
              - {tcp: "127.0.0.1:5060", interval: 1s, timeout: 2s}
              - {http: "https://x/"}
        """)
        .replacingFirst("priority: 100", with: "priority: -5")
        .replacingFirst("10.0.0.2:7400", with: "b.example:7400")
    let found = problems(yaml)
    #expect(found.map(\.key) == [
        "nodes.a.priority", "nodes.b.links[0]", "colour", "groups.g.prefer[1]", "groups.g.checks[0].timeout",
        "groups.g.checks[1].http",
    ])
    #expect(found.map(\.line) == [4, 5, 7, 10, 12, 13])
    #expect(found.allSatisfy { $0.source == "test.yaml" })
}

@Test func test_error_description_format() {
    let problem = ConfigFileError.Problem(key: "timing.lease", line: 12, message: "too long", source: "/etc/tandem.yaml")
    #expect(problem.description == "/etc/tandem.yaml:12: timing.lease: too long")
    let noLine = ConfigFileError.Problem(key: "key_file", line: nil, message: "missing", source: "f.yaml")
    #expect(noLine.description == "f.yaml: key_file: missing")
    let noKey = ConfigFileError.Problem(key: "", line: 3, message: "syntax", source: "f.yaml")
    #expect(noKey.description == "f.yaml:3: syntax")
    let error = ConfigFileError(source: "f.yaml", problems: [problem, noLine])
    #expect(error.description == "/etc/tandem.yaml:12: timing.lease: too long\nf.yaml: key_file: missing")
    #expect(error.keys == ["timing.lease", "key_file"])
}

@Test func test_parse_problemDescriptions_carrySource() {
    do {
        _ = try ConfigFile.parse(yaml: minimalYAML("colour: red\n"), source: "/etc/tandem/tandem.yaml")
        Issue.record("parsed")
    } catch {
        #expect(error.description.hasPrefix("/etc/tandem/tandem.yaml:7: colour: unknown key 'colour'"))
    }
}
