import Testing
import TandemCore
@testable import TandemConfig

/// The example of the file format (issue 4), with the group `other` that its anti-affinity
/// names, so that it is a valid file.
private let exampleYAML = """
    cluster: pbx                        # name, bound into every sealed message
    key_file: /etc/tandem/cluster.key
    data_dir: /var/lib/tandem
    timing: balanced
    revision: 1
    snapshot_threshold: 1000
    nodes:
      a: {links: ["10.0.0.1:7400", "192.168.9.1:7400"], api: "10.0.0.1:7480", priority: 100}
      b: {links: ["10.0.0.2:7400", "192.168.9.2:7400"], api: "10.0.0.2:7480", priority: 90, site: dc2, capacity: 2}
      w: {links: ["10.0.0.3:7400"], api: "10.0.0.3:7480", witness: true}
    groups:
      pbx:
        prefer: [a, b]
        failback: manual
        anti_affinity: [other]
        resources:
          - vip: 10.0.0.100/24 dev eth0
          - systemd: asterisk.service
          - exec: {start: /usr/local/sbin/pbx-up, stop: /usr/local/sbin/pbx-down, monitor: /usr/local/sbin/pbx-ok, timeout: 10s}
          - exec: {run: "/usr/bin/myservice --port 80"}
        checks:
          - {tcp: "127.0.0.1:5060", interval: 1s, timeout: 500ms, rise: 2, fall: 3}
          - {http: "http://127.0.0.1:8080/health", status: 200, body: "ok"}
          - {exec: "/usr/local/bin/check-db"}
          - {interface: eth0}
          - {upstream: 10.0.0.254}
          - {disk: /var/lib/pbx, min_free: 1GB}
      other:
        prefer: [b, a]
        failback: auto after 5m
        anti_affinity: [pbx]
        resources:
          - vip: fd00::100/64 dev eth0
    notify:
      - {exec: /usr/local/sbin/alarm, timeout: 10s}
    fence: {exec: /usr/local/sbin/fence-peer, timeout: 10s}
    api: {token_file: /etc/tandem/tokens, read: open}
    events: {keep: 100000}
    drills:
      max_age: 30d
      schedule:
        - {scenario: switchover, group: pbx, every: 7d, window: "02:00-04:00", probe: "udp://10.0.0.100:9000", max_interruption: 500ms}
    """

/// What `exampleYAML` and docs/examples/pbx.yaml describe.
private let expectedFile = TandemFile(
    cluster: ClusterConfig(
        name: "pbx", revision: 1, timing: .balanced,
        nodes: [
            NodeConfig("a", priority: 100, links: 2),
            NodeConfig("b", priority: 90, site: "dc2", capacity: 2, links: 2),
            NodeConfig("w", kind: .witness, links: 1),
        ],
        groups: [
            GroupConfig("pbx", prefer: ["a", "b"], failback: .manual, antiAffinity: ["other"]),
            GroupConfig("other", prefer: ["b", "a"], failback: .auto(holdDown: .seconds(300)), antiAffinity: ["pbx"]),
        ],
        snapshotThreshold: 1000),
    keyFiles: ["/etc/tandem/cluster.key"],
    dataDir: "/var/lib/tandem",
    addresses: [
        "a": NodeAddresses(
            links: [Endpoint(host: "10.0.0.1", port: 7400), Endpoint(host: "192.168.9.1", port: 7400)],
            api: Endpoint(host: "10.0.0.1", port: 7480)),
        "b": NodeAddresses(
            links: [Endpoint(host: "10.0.0.2", port: 7400), Endpoint(host: "192.168.9.2", port: 7400)],
            api: Endpoint(host: "10.0.0.2", port: 7480)),
        "w": NodeAddresses(links: [Endpoint(host: "10.0.0.3", port: 7400)], api: Endpoint(host: "10.0.0.3", port: 7480)),
    ],
    groupSpecs: [
        "pbx": GroupSpec(
            resources: [
                .vip(VIPSpec(address: "10.0.0.100", prefixLength: 24, device: "eth0", isIPv6: false)),
                .systemd(unit: "asterisk.service", timeout: .seconds(30)),
                .exec(ExecSpec(
                    start: "/usr/local/sbin/pbx-up", stop: "/usr/local/sbin/pbx-down",
                    monitor: "/usr/local/sbin/pbx-ok", timeout: .seconds(10))),
                .exec(ExecSpec(run: "/usr/bin/myservice --port 80")),
            ],
            checks: [
                CheckSpec(kind: .tcp(Endpoint(host: "127.0.0.1", port: 5060))),
                CheckSpec(kind: .http(url: "http://127.0.0.1:8080/health", status: 200, body: "ok")),
                CheckSpec(kind: .exec(command: "/usr/local/bin/check-db")),
                CheckSpec(kind: .interface(device: "eth0")),
                CheckSpec(kind: .upstream(host: "10.0.0.254", port: nil)),
                CheckSpec(kind: .disk(path: "/var/lib/pbx", minFreeBytes: 1_000_000_000)),
            ]),
        "other": GroupSpec(resources: [
            .vip(VIPSpec(address: "fd00::100", prefixLength: 64, device: "eth0", isIPv6: true)),
        ]),
    ],
    notify: [.exec(command: "/usr/local/sbin/alarm", timeout: .seconds(10))],
    fence: FenceSpec(command: "/usr/local/sbin/fence-peer", timeout: .seconds(10)),
    api: APISettings(tokenFile: "/etc/tandem/tokens", reads: .open), eventRetention: 100_000,
    drills: DrillSettings(maxAge: .seconds(30 * 86_400), schedule: [
        ScheduledDrill(scenario: "switchover", group: "pbx", every: .seconds(7 * 86_400), window: (120, 240),
                       probe: "udp://10.0.0.100:9000", maxInterruption: .milliseconds(500)),
    ]))

/// Compares field by field (for readable failures), then as a whole.
private func expectExample(_ file: TandemFile) {
    #expect(file.cluster.name == "pbx")
    #expect(file.cluster.revision == 1)
    #expect(file.cluster.timing == .balanced)
    #expect(file.cluster.snapshotThreshold == 1000)
    #expect(file.cluster.nodes == expectedFile.cluster.nodes)
    #expect(file.cluster.groups == expectedFile.cluster.groups)
    #expect(file.cluster.voters == ["a", "b", "w"])
    #expect(file.keyFiles == ["/etc/tandem/cluster.key"])
    #expect(file.dataDir == "/var/lib/tandem")
    #expect(file.addresses == expectedFile.addresses)
    #expect(file.groupSpecs["pbx"]?.resources == expectedFile.groupSpecs["pbx"]?.resources)
    #expect(file.groupSpecs["pbx"]?.checks == expectedFile.groupSpecs["pbx"]?.checks)
    #expect(file.groupSpecs["other"] == expectedFile.groupSpecs["other"])
    #expect(file.notify == expectedFile.notify)
    #expect(file.fence == expectedFile.fence)
    #expect(file.api == expectedFile.api)
    #expect(file == expectedFile)
}

@Test func test_parse_fullExample_givesExpectedFile() {
    guard let file = parsed(exampleYAML) else { return }
    expectExample(file)
}

@Test func test_parse_fullExample_checkScopesAndDefaults() {
    guard let checks = parsed(exampleYAML)?.groupSpecs["pbx"]?.checks else { return }
    #expect(checks.map(\.scope) == [.active, .active, .active, .always, .always, .always])
    #expect(checks.allSatisfy { $0.interval == .seconds(1) && $0.timeout == .milliseconds(500) })
    #expect(checks.allSatisfy { $0.rise == 2 && $0.fall == 3 })
    #expect(checks.filter(\.kind.isUpstream).count == 1)
}

@Test func test_parse_fullExample_vipDefaults() {
    guard let resources = parsed(exampleYAML)?.groupSpecs["pbx"]?.resources,
          case .vip(let vip) = resources.first
    else {
        Issue.record("no vip")
        return
    }
    #expect(vip.announceCount == 3)
    #expect(vip.announceInterval == .milliseconds(200))
}

@Test func test_load_docsExample_givesExpectedFile() throws {
    let path = packageRoot() + "/docs/examples/pbx.yaml"
    let file = try ConfigFile.load(path: path)
    expectExample(file)
}

@Test func test_parse_minimalFile_usesDefaults() {
    guard let file = parsed(minimalYAML()) else { return }
    #expect(file.cluster.timing == .balanced)
    #expect(file.cluster.revision == 1)
    #expect(file.cluster.snapshotThreshold == 1000)
    #expect(file.dataDir == "/var/lib/tandem")
    #expect(file.cluster.groups.isEmpty)
    #expect(file.groupSpecs.isEmpty)
    #expect(file.notify.isEmpty)
    #expect(file.fence == nil)
    #expect(file.addresses["w"]?.api == nil)
    #expect(file.cluster.nodes.map(\.kind) == [.node, .node, .witness])
}

@Test func test_parse_learnerAndMapForms() {
    let yaml = minimalYAML("""
        revision: 7
        snapshot_threshold: 50
        data_dir: /srv/tandem
        groups:
          g:
            resources:
              - {vip: 10.0.0.100/24 dev eth0, announce: 5, announce_interval: 1.5s}
              - {systemd: x.service, timeout: 1m}
              - exec: {start: up, timeout: 2s}
            checks:
              - {upstream: "10.0.0.254:443", on: active}
              - {tcp: "db.example.net:5432", on: always, interval: 2s, timeout: 1s, rise: 1, fall: 5}
              - {upstream: "[fd00::1]:443"}
              - {upstream: "fd00::1"}
              - {http: "http://[fd00::2]/x"}
        """).replacingFirst("w: {links: [\"10.0.0.3:7400\"], witness: true}", with: "w: {links: [\"10.0.0.3:7400\"], learner: true}")
    guard let file = parsed(yaml) else { return }
    #expect(file.cluster.revision == 7)
    #expect(file.cluster.snapshotThreshold == 50)
    #expect(file.dataDir == "/srv/tandem")
    #expect(file.cluster.node("w")?.kind == .learner)
    #expect(file.cluster.groups.first?.prefer == [])
    let spec = file.groupSpecs["g"]
    #expect(spec?.resources == [
        .vip(VIPSpec(address: "10.0.0.100", prefixLength: 24, device: "eth0", isIPv6: false, announceCount: 5,
                     announceInterval: .milliseconds(1500))),
        .systemd(unit: "x.service", timeout: .seconds(60)),
        .exec(ExecSpec(start: "up", timeout: .seconds(2))),
    ])
    #expect(spec?.checks == [
        CheckSpec(kind: .upstream(host: "10.0.0.254", port: 443), scope: .active),
        CheckSpec(kind: .tcp(Endpoint(host: "db.example.net", port: 5432)), scope: .always, interval: .seconds(2),
                  timeout: .seconds(1), rise: 1, fall: 5),
        CheckSpec(kind: .upstream(host: "fd00::1", port: 443)),
        CheckSpec(kind: .upstream(host: "fd00::1", port: nil)),
        CheckSpec(kind: .http(url: "http://[fd00::2]/x", status: 200, body: nil)),
    ])
}

@Test func test_parse_ipv6Links_andNamedAPI() {
    let yaml = """
        cluster: v6
        key_file: /k
        nodes:
          a: {links: ["[fd00::1]:7400", "[2001:db8::1]:7400"], api: "node-a.example.net:7480"}
          b: {links: ["[fd00::2]:7400", "[2001:db8::2]:7400"], api: "[fd00::2]:7480"}
        """
    guard let file = parsed(yaml) else { return }
    #expect(file.addresses["a"]?.links == [Endpoint(host: "fd00::1", port: 7400), Endpoint(host: "2001:db8::1", port: 7400)])
    #expect(file.addresses["a"]?.api == Endpoint(host: "node-a.example.net", port: 7480))
    #expect(file.addresses["b"]?.api?.description == "[fd00::2]:7480")
    #expect(file.cluster.node("b")?.links == 2)
}

extension String {
    /// The text with the first occurrence of `target` replaced (the test must find it).
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = firstRange(of: target) else {
            Issue.record("'\(target)' not found")
            return self
        }
        var copy = self
        copy.replaceSubrange(range, with: replacement)
        return copy
    }
}
