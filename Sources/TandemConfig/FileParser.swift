import TandemCore
import Yams

/// Turns the YAML tree into a `TandemFile`, section by section, reporting every problem to
/// the `Reader`; then runs the cross-checks that span sections and the core's
/// `ClusterConfig.validate()`. It returns a file even when problems were found (parts that
/// did not parse are left out or defaulted); the caller throws when there are any.
struct FileParser {
    let reader: Reader

    /// Where the agent keeps its store when the file does not say.
    static let defaultDataDir = "/var/lib/tandem"
    /// The default timeout of a `systemd` resource.
    static let defaultSystemdTimeout: Duration = .seconds(30)
    /// The default timeout of an `exec` resource, a notifier and the fence hook.
    static let defaultHookTimeout: Duration = .seconds(10)

    static let topKeys = [
        "cluster", "key_file", "key_files", "data_dir", "timing", "revision", "snapshot_threshold",
        "nodes", "groups", "notify", "fence", "api", "events", "drills",
    ]

    /// How many events the store keeps when `events.keep` is not given.
    static let defaultEventRetention = 100_000

    // MARK: - The whole file

    func file(_ root: Node) -> TandemFile? {
        let at = Located(node: root, path: "")
        guard let top = reader.mapping(
            at, allowed: Self.topKeys, expected: "a mapping of settings (cluster:, key_file:, nodes:, groups:, …)")
        else { return nil }

        let name = reader.require(top, "cluster", hint: "name the cluster, such as 'cluster: pbx'")
            .flatMap { reader.text($0) }?.trimmingSpaces ?? ""
        let keyFiles = self.keyFiles(top)
        let dataDir = optional(top, "data_dir", Self.defaultDataDir) { reader.value($0, Values.absolutePath) }
        let timing = optional(top, "timing", Timing.balanced) { self.timing($0) }
        let revision = optional(top, "revision", UInt64(1)) { self.revision($0) }
        let snapshotThreshold = optional(top, "snapshot_threshold", 1000) { reader.value($0, Values.integer) }
        let nodes = reader.require(top, "nodes", hint: "list the nodes, such as 'nodes: {a: {links: [\"10.0.0.1:7400\"]}}'")
            .map { self.nodes($0) } ?? []
        let groups = top["groups"].map { self.groups($0) } ?? []
        let notify = top["notify"].map { self.notifiers($0) } ?? []
        let fence = top["fence"].flatMap { self.fence($0) }
        let api = top["api"].flatMap { self.api($0) } ?? APISettings()
        let eventRetention = top["events"].flatMap { self.eventRetention($0) } ?? Self.defaultEventRetention
        let drills = top["drills"].flatMap { self.drills($0, groups: groups.map(\.config.id)) } ?? DrillSettings()

        checkLinks(nodes)
        checkVIPs(groups)

        let cluster = ClusterConfig(
            name: name, revision: revision ?? 1, timing: timing ?? .balanced, nodes: nodes.map(\.config),
            groups: groups.map(\.config), snapshotThreshold: snapshotThreshold ?? 1000)
        addCoreProblems(cluster)

        return TandemFile(
            cluster: cluster, keyFiles: keyFiles, dataDir: dataDir ?? Self.defaultDataDir,
            addresses: Dictionary(nodes.map { ($0.config.id, $0.addresses) }, uniquingKeysWith: { first, _ in first }),
            groupSpecs: Dictionary(groups.map { ($0.config.id, $0.spec) }, uniquingKeysWith: { first, _ in first }),
            notify: notify, fence: fence, api: api, eventRetention: eventRetention, drills: drills)
    }

    /// Runs `ClusterConfig.validate()` and reports its problems at the file's key paths and
    /// lines; a problem at a key that already has a problem from the file's own rules is left
    /// out (it would say the same thing twice).
    private func addCoreProblems(_ cluster: ClusterConfig) {
        do {
            try cluster.validate()
        } catch {
            let reported = Set(error.problems.map(\.key).filter { reader.hasProblem(at: $0) })
            for problem in error.problems where !reported.contains(problem.key) {
                reader.report(problem.key, line: reader.line(forKey: problem.key), problem.message)
            }
        }
    }

    // MARK: - Cluster settings

    /// `key_file: PATH` or `key_files: [NEW, OLD]`: exactly one of the two.
    private func keyFiles(_ top: Fields) -> [String] {
        let keygen = "create a key with 'tandem keygen'"
        switch (top["key_file"], top["key_files"]) {
        case (nil, nil):
            let written = top.has("key_file") ? "key_file" : top.has("key_files") ? "key_files" : nil
            reader.report(written ?? "key_file", line: written.flatMap { top.line(of: $0) },
                          "no cluster key is configured; add 'key_file: /etc/tandem/cluster.key' (\(keygen)), or 'key_files: [NEW, OLD]' while rotating keys")
            return []
        case (.some, .some(let list)):
            reader.report(list, "both key_file and key_files are given; use key_file for one key, or key_files: [NEW, OLD] while rotating keys, not both")
            return []
        case (.some(let single), nil):
            return reader.value(single, Values.absolutePath).map { [$0] } ?? []
        case (nil, .some(let list)):
            guard let paths = reader.texts(
                list, expected: "a list of one or two key files, newest first, such as [/etc/tandem/new.key, /etc/tandem/old.key]")
            else { return [] }
            guard (1...2).contains(paths.count) else {
                reader.report(list, "key_files lists \(paths.count) files; give one, or two while rotating (the new key first, then the old one)")
                return []
            }
            if paths.count == 2, paths[0].text == paths[1].text {
                reader.report(paths[1].at, "the same key file is listed twice; list the new key, then the old one")
            }
            return paths.compactMap { reader.value($0.at, Values.absolutePath) }
        }
    }

    private func revision(_ at: Located) -> UInt64? {
        reader.value(at) { (text: String) throws(ValueError) -> UInt64 in
            guard let value = UInt64(text.trimmingSpaces) else {
                throw ValueError("revision must be a whole number of at least 1, got '\(text)'; raise it with every change")
            }
            return value
        }
    }

    // MARK: - Timing

    static let timingKeys = ["heartbeat", "election_timeout", "lease", "margin", "rho"]

    /// A profile name (`fast`, `balanced`, `wan`) or `{heartbeat, election_timeout, lease,
    /// margin?, rho?}`. An omitted margin is lease/9 rounded to the nearest whole millisecond
    /// (at least 1ms); an omitted rho is 0.01. Rule 5 is left to the core.
    private func timing(_ at: Located) -> Timing? {
        if case .scalar = at.node {
            guard let name = reader.text(at)?.trimmingSpaces else { return nil }
            if let timing = Timing.named(name) { return timing }
            var message = "unknown timing profile '\(name)'"
            if let suggestion = Suggestion.nearest(to: name, among: Timing.profileNames) {
                message += "; did you mean '\(suggestion)'?"
            }
            reader.report(at, message + "; use fast, balanced or wan, or give {heartbeat, election_timeout, lease} explicitly")
            return nil
        }
        guard let fields = reader.mapping(
            at, allowed: Self.timingKeys,
            expected: "a profile (fast, balanced, wan) or {heartbeat: 10ms, election_timeout: 60ms, lease: 45ms}")
        else { return nil }
        func required(_ key: String, _ what: String) -> Duration? {
            reader.require(fields, key, hint: "give the \(what), such as \(key): 50ms, or use a profile (fast, balanced, wan)")
                .flatMap { reader.duration($0, positive: false, what: what) }
        }
        let heartbeat = required("heartbeat", "heartbeat interval")
        let electionTimeout = required("election_timeout", "election timeout")
        let lease = required("lease", "lease")
        let margin = optional(fields, "margin", lease.map(Self.defaultMargin) ?? .zero) {
            reader.duration($0, positive: false, what: "margin")
        }
        let rho = optional(fields, "rho", 0.01) { reader.value($0, Self.rho) }
        guard let heartbeat, let electionTimeout, let lease, let margin, let rho else { return nil }
        return Timing(heartbeat: heartbeat, electionTimeout: electionTimeout, lease: lease, margin: margin, rho: rho)
    }

    /// lease/9, rounded to the nearest whole millisecond, at least 1ms.
    static func defaultMargin(lease: Duration) -> Duration {
        let nanoseconds = lease.attoseconds / 1_000_000_000
        let milliseconds = (nanoseconds * 2 + 9_000_000) / 18_000_000
        return .milliseconds(Int64(max(1, milliseconds)))
    }

    /// The clock-rate bound: a plain decimal number such as 0.01.
    private static func rho(_ text: String) throws(ValueError) -> Double {
        guard let value = Double(text.trimmingSpaces), value.isFinite else {
            throw ValueError("rho must be a number such as 0.01 (the clocks' rate error bound), got '\(text)'")
        }
        return value
    }

    // MARK: - Nodes

    /// One node as read: its core part, its addresses, and where each address was written.
    struct ParsedNode {
        var config: NodeConfig
        var addresses: NodeAddresses
        var links: [(endpoint: Endpoint, at: Located)] = []
        var api: (endpoint: Endpoint, at: Located)?
    }

    static let nodeKeys = ["links", "api", "priority", "site", "capacity", "witness", "learner"]

    private func nodes(_ at: Located) -> [ParsedNode] {
        guard let fields = reader.mapping(
            at, expected: "a mapping of node ids to their settings, such as 'a: {links: [\"10.0.0.1:7400\"], api: \"10.0.0.1:7480\"}'")
        else { return [] }
        return fields.entries.map { node(id: $0.key, $0.value) }
    }

    private func node(id: String, _ at: Located) -> ParsedNode {
        var node = ParsedNode(config: NodeConfig(NodeID(id)), addresses: NodeAddresses(links: [], api: nil))
        guard let fields = reader.mapping(
            at, allowed: Self.nodeKeys,
            expected: "the node's settings, such as {links: [\"10.0.0.1:7400\"], api: \"10.0.0.1:7480\", priority: 100}")
        else { return node }

        if let linksAt = reader.require(fields, "links", hint: "list the node's address on every link, such as links: [\"10.0.0.1:7400\"]") {
            let items = reader.texts(linksAt, expected: "a list of link addresses, such as [\"10.0.0.1:7400\", \"192.168.9.1:7400\"]")
            node.config.links = items?.count ?? 0
            let links = items ?? []
            node.links = links.compactMap { item in
                reader.value(item.at) { (text: String) throws(ValueError) in try Values.endpoint(text, hosts: .bindableAddress) }
                    .map { ($0, item.at) }
            }
            if items?.isEmpty == true {
                reader.report(linksAt, "a node needs at least one link address, such as \"10.0.0.1:7400\"")
            } else if links.count > 8 {
                reader.report(linksAt, "the node lists \(links.count) link addresses, but at most 8 links are supported; remove some")
            }
        } else {
            node.config.links = 0
        }
        if let apiAt = fields["api"] {
            node.api = reader.value(apiAt) { (text: String) throws(ValueError) in try Values.endpoint(text, hosts: .addressOrName) }
                .map { ($0, apiAt) }
        }
        node.addresses = NodeAddresses(links: node.links.map(\.endpoint), api: node.api?.endpoint)

        if let value = fields["priority"].flatMap({ reader.value($0, Values.integer) }) { node.config.priority = value }
        if let value = fields["capacity"].flatMap({ reader.value($0, Values.integer) }) { node.config.capacity = value }
        if let value = fields["site"].flatMap({ reader.text($0) }) { node.config.site = value.trimmingSpaces }
        let witness = fields["witness"].flatMap { reader.value($0, Values.flag) } ?? false
        let learner = fields["learner"].flatMap { reader.value($0, Values.flag) } ?? false
        if witness && learner, let learnerAt = fields["learner"] {
            reader.report(learnerAt, "a node is either a witness (votes, never runs groups) or a learner (runs, never votes), not both; remove one")
        }
        node.config.kind = witness ? .witness : learner ? .learner : .node
        return node
    }

    /// Link addresses are unique across the cluster, a node's API does not reuse one of its
    /// link addresses, and the k-th link of every node (one network path) has one address family.
    private func checkLinks(_ nodes: [ParsedNode]) {
        var used: [String: String] = [:]
        for node in nodes {
            for link in node.links {
                let key = link.endpoint.description.lowercased()
                if let first = used[key] {
                    reader.report(link.at, "the link address \(link.endpoint) is already used by \(first); every link address in the cluster must be different")
                } else {
                    used[key] = link.at.path
                }
            }
            if let api = node.api, let link = node.links.first(where: { $0.endpoint.description.lowercased() == api.endpoint.description.lowercased() }) {
                reader.report(api.at, "the api address \(api.endpoint) is the same as the link address \(link.at.path); give the API its own port")
            }
        }
        let positions = nodes.map(\.links.count).max() ?? 0
        for position in 0..<positions {
            let links = nodes.compactMap { $0.links.count > position ? $0.links[position] : nil }
            guard let first = links.first else { continue }
            let firstIsIPv6 = Values.isIPv6(first.endpoint.host)
            for link in links.dropFirst() where Values.isIPv6(link.endpoint.host) != firstIsIPv6 {
                reader.report(link.at, "link \(position + 1) is \(firstIsIPv6 ? "IPv6" : "IPv4") at \(first.at.path) but \(firstIsIPv6 ? "IPv4" : "IPv6") here; the k-th link of every node is one network path, so use one address family for it (or reorder the links)")
            }
        }
    }

    // MARK: - Groups

    /// One group as read: its core part, its runtime part, and where each vip was written.
    struct ParsedGroup {
        var config: GroupConfig
        var spec: GroupSpec
        var vips: [(vip: VIPSpec, at: Located)] = []
    }

    static let groupKeys = ["prefer", "failback", "anti_affinity", "resources", "checks"]

    private func groups(_ at: Located) -> [ParsedGroup] {
        guard let fields = reader.mapping(
            at, expected: "a mapping of group ids to their settings, such as 'pbx: {prefer: [a, b], resources: [...]}'")
        else { return [] }
        return fields.entries.map { group(id: $0.key, $0.value) }
    }

    private func group(id: String, _ at: Located) -> ParsedGroup {
        var group = ParsedGroup(config: GroupConfig(GroupID(id), prefer: []), spec: GroupSpec())
        guard let fields = reader.mapping(
            at, allowed: Self.groupKeys, expected: "the group's settings, such as {prefer: [a, b], resources: [...], checks: [...]}")
        else { return group }
        if let preferAt = fields["prefer"] {
            group.config.prefer = reader.texts(preferAt, expected: "a list of node ids, most preferred first, such as [a, b]")
                .map { $0.map { NodeID($0.text) } } ?? []
        }
        if let failbackAt = fields["failback"], let failback = reader.value(failbackAt, Self.failback) {
            group.config.failback = failback
        }
        if let avoidAt = fields["anti_affinity"] {
            group.config.antiAffinity = reader.texts(avoidAt, expected: "a list of group ids, such as [other]")
                .map { $0.map { GroupID($0.text) } } ?? []
        }
        if let resourcesAt = fields["resources"] {
            for item in reader.sequence(resourcesAt, expected: "a list of resources, started in order") ?? [] {
                guard let resource = resource(item) else { continue }
                group.spec.resources.append(resource)
                if case .vip(let vip) = resource { group.vips.append((vip, item)) }
            }
        }
        if let checksAt = fields["checks"] {
            group.spec.checks = (reader.sequence(checksAt, expected: "a list of checks") ?? []).compactMap(check)
        }
        return group
    }

    /// `manual` or `auto after DURATION`.
    static func failback(_ text: String) throws(ValueError) -> GroupConfig.Failback {
        let words = text.split(whereSeparator: \.isWhitespace)
        if words == ["manual"] { return .manual }
        if words.first == "auto" {
            guard words.count == 3, words[1] == "after" else {
                throw ValueError("automatic failback needs a hold-down: write it as 'auto after 5m' (the preferred node must stay healthy that long before the group moves back)")
            }
            return .auto(holdDown: try Values.duration(String(words[2])))
        }
        throw ValueError("'\(text)' is not a failback policy; write 'manual' or 'auto after 5m'")
    }

    /// No virtual address is configured twice, in one group or in two.
    private func checkVIPs(_ groups: [ParsedGroup]) {
        var used: [String: String] = [:]
        for group in groups {
            for (vip, at) in group.vips {
                let key = vip.address.lowercased()
                if let first = used[key] {
                    reader.report(at, "the vip address \(vip.address) is already configured at \(first); each virtual address belongs to one group, once")
                } else {
                    used[key] = at.path
                }
            }
        }
    }

    // MARK: - Kinds of list items

    /// The kind key of a list item (such as `vip` or `tcp`): exactly one of `kinds` must be
    /// present. Reports and returns nil otherwise; `what` names the item ("resource").
    private func kind(of fields: Fields, among kinds: [String], what: String, unsupported: [String] = []) -> String? {
        let present = fields.entries.map(\.key).filter { kinds.contains($0) || unsupported.contains($0) }
        let list = kinds.joined(separator: ", ")
        guard let first = present.first else {
            var message = "this \(what) has no kind; it needs one of \(list)"
            let nearest = fields.entries.compactMap { entry in
                Suggestion.nearest(to: entry.key, among: kinds).map { "'\($0)' for '\(entry.key)'" }
            }
            if let nearest = nearest.first { message += "; did you mean \(nearest)?" }
            reader.report(fields.at, message)
            return nil
        }
        if present.count > 1 {
            let entry = fields.entries.first { $0.key == present[1] }!
            reader.report(entry.value.path, line: entry.keyLine,
                          "this \(what) has both \(first) and \(present[1]); each list item is one \(what), so make them two items")
            return nil
        }
        if unsupported.contains(first) {
            reader.report(fields.at.path(of: first), line: fields.line(of: first),
                          "\(first) \(what)s are not supported yet; use one of \(list) (an exec \(what) can call curl, logger or snmptrap)")
            return nil
        }
        return first
    }

    /// The value of an optional key read by `read`: `fallback` when absent, nil when present
    /// but invalid (already reported).
    private func optional<T>(_ fields: Fields, _ key: String, _ fallback: T, _ read: (Located) -> T?) -> T? {
        guard let at = fields[key] else { return fallback }
        return read(at)
    }

    /// A shell command line: any non-empty text.
    private func command(_ fields: Fields, _ key: String, hint: String) -> String? {
        reader.require(fields, key, hint: hint).flatMap { reader.text($0) }
    }

    // MARK: - Resources

    static let resourceKinds = ["vip", "systemd", "exec"]

    private func resource(_ at: Located) -> ResourceSpec? {
        guard let fields = reader.mapping(
            at, expected: "a resource such as 'vip: 10.0.0.100/24 dev eth0', 'systemd: asterisk.service' or 'exec: {start: ..., stop: ...}'"),
            let kind = kind(of: fields, among: Self.resourceKinds, what: "resource")
        else { return nil }
        switch kind {
        case "vip": return vip(fields)
        case "systemd": return systemd(fields)
        default: return exec(fields)
        }
    }

    /// `vip: ADDRESS/PREFIX dev DEVICE`, optionally with `announce` and `announce_interval`.
    private func vip(_ fields: Fields) -> ResourceSpec? {
        reader.checkKeys(fields, allowed: ["vip", "announce", "announce_interval"], kind: "vip resource")
        let spec = reader.require(fields, "vip", hint: "write it as 'vip: 10.0.0.100/24 dev eth0'")
            .flatMap { reader.value($0, Values.vip) }
        let count = optional(fields, "announce", 3) { reader.integer($0, in: 0...100, what: "announce (the number of announcements)") }
        let interval = optional(fields, "announce_interval", .milliseconds(200)) { reader.duration($0, what: "announce_interval") }
        guard var spec, let count, let interval else { return nil }
        spec.announceCount = count
        spec.announceInterval = interval
        return .vip(spec)
    }

    /// `systemd: UNIT`, optionally with `timeout` (default 30s).
    private func systemd(_ fields: Fields) -> ResourceSpec? {
        reader.checkKeys(fields, allowed: ["systemd", "timeout"], kind: "systemd resource")
        let unit = reader.require(fields, "systemd", hint: "name the unit, such as 'systemd: asterisk.service'")
            .flatMap { reader.value($0, Values.unit) }
        let timeout = optional(fields, "timeout", Self.defaultSystemdTimeout) { reader.duration($0, what: "timeout") }
        guard let unit, let timeout else { return nil }
        return .systemd(unit: unit, timeout: timeout)
    }

    static let execKeys = ["start", "stop", "monitor", "run", "timeout"]

    /// `exec: {start, stop?, monitor?, timeout?}` or `exec: {run, timeout?}`.
    private func exec(_ fields: Fields) -> ResourceSpec? {
        reader.checkKeys(fields, allowed: ["exec"], kind: "exec resource")
        let shape = "write exec: {start: CMD, stop: CMD, monitor: CMD} or exec: {run: CMD}"
        guard let at = reader.require(fields, "exec", hint: shape),
              let body = reader.mapping(at, allowed: Self.execKeys, expected: "{start: ..., stop: ..., monitor: ...} or {run: ...}")
        else { return nil }
        var commands: [String: String] = [:]
        var unreadable = false
        for key in ["start", "stop", "monitor", "run"] {
            guard let at = body[key] else { continue }
            if let command = reader.text(at) { commands[key] = command } else { unreadable = true }
        }
        var spec = ExecSpec(start: commands["start"], stop: commands["stop"], monitor: commands["monitor"], run: commands["run"])
        let timeout = optional(body, "timeout", Self.defaultHookTimeout) { reader.duration($0, what: "timeout") }
        let scripts = ["start", "stop", "monitor"].filter { body.has($0) }
        if body.has("run"), !scripts.isEmpty {
            reader.report(at.path(of: "run"), line: body.line(of: "run"),
                          "run is a long-running command the agent starts and stops itself, so it cannot be combined with \(scripts.joined(separator: ", ")); use either run, or start/stop/monitor")
            return nil
        }
        guard body.has("run") || body.has("start") else {
            reader.report(at, "an exec resource needs start (and usually stop and monitor) or run; \(shape)")
            return nil
        }
        guard !unreadable, let timeout else { return nil }
        spec.timeout = timeout
        return .exec(spec)
    }

    // MARK: - Checks

    static let checkKinds = ["tcp", "http", "exec", "interface", "upstream", "disk"]
    static let checkCommonKeys = ["interval", "timeout", "rise", "fall", "on"]

    private func check(_ at: Located) -> CheckSpec? {
        guard let fields = reader.mapping(
            at, expected: "a check such as {tcp: \"127.0.0.1:5060\"}, {http: \"http://127.0.0.1/health\"} or {exec: CMD}"),
            let kind = kind(of: fields, among: Self.checkKinds, what: "check")
        else { return nil }
        let extra = kind == "http" ? ["status", "body"] : kind == "disk" ? ["min_free"] : []
        reader.checkKeys(fields, allowed: [kind] + Self.checkCommonKeys + extra, kind: "\(kind) check")

        let checkKind = self.checkKind(kind, fields)
        let defaults = CheckSpec(kind: .exec(command: ""))
        let interval = optional(fields, "interval", defaults.interval) { reader.duration($0, what: "interval") }
        let timeout = optional(fields, "timeout", defaults.timeout) { reader.duration($0, what: "timeout") }
        let rise = optional(fields, "rise", defaults.rise) { reader.integer($0, in: 1...Int.max, what: "rise") }
        let fall = optional(fields, "fall", defaults.fall) { reader.integer($0, in: 1...Int.max, what: "fall") }
        let scope = optional(fields, "on", CheckSpec.Scope?.none) { at in
            reader.value(at) { (text: String) throws(ValueError) -> CheckSpec.Scope? in
                guard let scope = CheckSpec.Scope(rawValue: text.trimmingSpaces) else {
                    throw ValueError("'\(text)' is not a check scope; write 'on: active' (only where the group runs) or 'on: always' (on every node)")
                }
                return scope
            }
        }
        if let interval, let timeout, timeout >= interval {
            let given = fields["timeout"] != nil ? "" : " (the default)"
            reader.report(fields.at.path(of: "timeout"), line: fields.line(of: fields["timeout"] != nil ? "timeout" : "interval"),
                          "timeout \(Values.format(timeout))\(given) must be shorter than interval \(Values.format(interval)); shorten the timeout or lengthen the interval")
            return nil
        }
        guard let checkKind, let interval, let timeout, let rise, let fall, let scope else { return nil }
        return CheckSpec(kind: checkKind, scope: scope, interval: interval, timeout: timeout, rise: rise, fall: fall)
    }

    /// What a check probes, from its kind key and the keys that belong to that kind.
    private func checkKind(_ kind: String, _ fields: Fields) -> CheckSpec.Kind? {
        guard let at = reader.require(fields, kind, hint: "say what the \(kind) check probes") else { return nil }
        switch kind {
        case "tcp":
            return reader.value(at) { (text: String) throws(ValueError) in try Values.endpoint(text, hosts: .addressOrName) }
                .map { .tcp($0) }
        case "http":
            let url = reader.value(at, Values.httpURL)
            let status = optional(fields, "status", 200) { reader.integer($0, in: 100...599, what: "status") }
            let body = optional(fields, "body", String?.none) { reader.text($0).map { Optional($0) } }
            guard let url, let status, let body else { return nil }
            return .http(url: url, status: status, body: body)
        case "exec":
            return reader.text(at).map { .exec(command: $0) }
        case "interface":
            return reader.value(at, Values.device).map { .interface(device: $0) }
        case "upstream":
            return reader.value(at, Self.upstream).map { .upstream(host: $0.host, port: $0.port) }
        default:
            let path = reader.value(at, Values.absolutePath)
            let minFree = optional(fields, "min_free", UInt64(0)) { reader.value($0, Values.size) }
            guard let path, let minFree else { return nil }
            return .disk(path: path, minFreeBytes: minFree)
        }
    }

    /// `HOST` (ICMP echo) or `HOST:PORT` (TCP connect); IPv6 as `fd00::1` or `[fd00::1]:443`.
    static func upstream(_ text: String) throws(ValueError) -> (host: String, port: Int?) {
        let trimmed = text.trimmingSpaces
        let (host, port) = try Values.splitHostAndPort(trimmed, portRequired: false)
        try Values.checkHost(host, of: trimmed, rule: .addressOrName)
        return (host, port)
    }

    // MARK: - Notifiers and fence

    private func notifiers(_ at: Located) -> [NotifierSpec] {
        (reader.sequence(at, expected: "a list of notifiers, such as [{exec: /usr/local/sbin/alarm}]") ?? []).compactMap { item in
            guard let fields = reader.mapping(
                item, expected: "a notifier such as {exec: /usr/local/sbin/alarm}, {webhook: \"https://alarms.example/tandem\"} or {syslog: daemon}"),
                let kind = kind(of: fields, among: ["exec", "webhook", "syslog"], what: "notifier")
            else { return nil }
            switch kind {
            case "webhook":
                reader.checkKeys(fields, allowed: ["webhook", "timeout", "retries"], kind: "webhook notifier")
                let url = command(fields, "webhook", hint: "give the URL to POST every event to").flatMap { text -> String? in
                    let trimmed = text.trimmingSpaces
                    guard trimmed.hasPrefix("http://") || trimmed.hasPrefix("https://"), trimmed.count > 8, !trimmed.contains(" ") else {
                        reader.report(fields["webhook"]!, "a webhook is an http:// or https:// URL, not \(text.debugDescription)")
                        return nil
                    }
                    return trimmed
                }
                let timeout = optional(fields, "timeout", Duration.seconds(5)) { reader.duration($0, what: "timeout") }
                let retries = optional(fields, "retries", 5) { at in
                    reader.value(at, Values.integer).flatMap { n -> Int? in
                        guard (0...100).contains(n) else {
                            reader.report(at, "retries must be from 0 to 100, not \(n)")
                            return nil
                        }
                        return n
                    }
                }
                guard let url, let timeout, let retries else { return nil }
                return .webhook(WebhookSpec(url: url, timeout: timeout, retries: retries))
            case "syslog":
                reader.checkKeys(fields, allowed: ["syslog", "socket"], kind: "syslog notifier")
                let facility = fields["syslog"].flatMap { at in
                    reader.text(at).flatMap { name -> Int? in
                        guard let number = SyslogSpec.facilities[name.trimmingSpaces] else {
                            reader.report(at, "unknown syslog facility \(name.debugDescription); use daemon, user, local0 … local7 (or another RFC 3164 name)")
                            return nil
                        }
                        return number
                    }
                }
                let socket = optional(fields, "socket", "/dev/log") { reader.value($0, Values.absolutePath) }
                guard let facility, let socket else { return nil }
                return .syslog(SyslogSpec(facility: facility, socket: socket))
            default:
                reader.checkKeys(fields, allowed: ["exec", "timeout"], kind: "exec notifier")
                let command = command(fields, "exec", hint: "give the command to run for every event")
                let timeout = optional(fields, "timeout", Self.defaultHookTimeout) { reader.duration($0, what: "timeout") }
                guard let command, let timeout else { return nil }
                return .exec(command: command, timeout: timeout)
            }
        }
    }

    private func fence(_ at: Located) -> FenceSpec? {
        guard let fields = reader.mapping(
            at, allowed: ["exec", "timeout"], expected: "{exec: /usr/local/sbin/fence-peer, timeout: 10s}")
        else { return nil }
        let command = command(fields, "exec", hint: "give the command that powers off the unreachable node, such as exec: /usr/local/sbin/fence-peer")
        let timeout = optional(fields, "timeout", Self.defaultHookTimeout) { reader.duration($0, what: "timeout") }
        guard let command, let timeout else { return nil }
        return FenceSpec(command: command, timeout: timeout)
    }

    // MARK: - API and events

    /// `api: {token_file: PATH, read: open|token, tls: {cert_file: PATH, key_file: PATH}}`.
    private func api(_ at: Located) -> APISettings? {
        guard let fields = reader.mapping(
            at, allowed: ["token_file", "read", "tls"], expected: "{token_file: /etc/tandem/tokens, read: open}")
        else { return nil }
        let tokenFile = fields["token_file"].flatMap { reader.value($0, Values.absolutePath) }
        var reads = APISettings.Reads.open
        if let readAt = fields["read"], let text = reader.text(readAt) {
            if let value = APISettings.Reads(rawValue: text.trimmingSpaces) {
                reads = value
            } else {
                reader.report(readAt, "read must be open (anyone who reaches the address may read) or token (reads need a token too), not \(text.debugDescription)")
            }
        }
        if reads == .token && tokenFile == nil && !fields.has("token_file") {
            reader.report(fields.at.path(of: "read"), line: fields.line(of: "read"),
                          "read: token needs api.token_file (the tokens that may read)")
        }
        var tls: APITLSSettings?
        if fields.has("tls") {
            tls = reader.require(fields, "tls", hint: "give {cert_file: /etc/tandem/api.crt, key_file: /etc/tandem/api.key}, or remove it to serve plain HTTP")
                .flatMap { apiTLS($0) }
        }
        return APISettings(tokenFile: tokenFile, reads: reads, tls: tls)
    }

    /// `api.tls: {cert_file: PATH, key_file: PATH}`: both absolute paths of PEM files (read
    /// and checked when the agent starts).
    private func apiTLS(_ at: Located) -> APITLSSettings? {
        guard let fields = reader.mapping(
            at, allowed: ["cert_file", "key_file"], expected: "{cert_file: /etc/tandem/api.crt, key_file: /etc/tandem/api.key}")
        else { return nil }
        let certFile = reader.require(
            fields, "cert_file", hint: "give the server's certificate (PEM, then any intermediate certificates), such as cert_file: /etc/tandem/api.crt")
            .flatMap { reader.value($0, Values.absolutePath) }
        let keyFile = reader.require(
            fields, "key_file", hint: "give the certificate's private key (PEM, mode 0600), such as key_file: /etc/tandem/api.key")
            .flatMap { reader.value($0, Values.absolutePath) }
        guard let certFile, let keyFile else { return nil }
        return APITLSSettings(certFile: certFile, keyFile: keyFile)
    }

    /// `drills: {max_age: 30d, schedule: [{scenario, group, every, window, probe, max_interruption}]}`.
    private func drills(_ at: Located, groups: [GroupID]) -> DrillSettings? {
        guard let fields = reader.mapping(
            at, allowed: ["max_age", "schedule"], expected: "{max_age: 30d, schedule: [{scenario: switchover, every: 7d}]}")
        else { return nil }
        let maxAge = fields["max_age"].flatMap { reader.duration($0, what: "max_age") }
        var schedule: [ScheduledDrill] = []
        if let list = fields["schedule"], let items = reader.sequence(list, expected: "a list of drills, such as [{scenario: switchover, every: 7d}]") {
            for item in items {
                guard let entry = reader.mapping(
                    item, allowed: ["scenario", "group", "every", "window", "probe", "max_interruption"],
                    expected: "{scenario: switchover, group: pbx, every: 7d, window: \"02:00-04:00\"}")
                else { continue }
                var ok = true
                let scenario = reader.require(entry, "scenario", hint: "name one of \(ScheduledDrill.scenarios.joined(separator: ", "))")
                    .flatMap { reader.text($0) }?.trimmingSpaces
                if let scenario, !ScheduledDrill.scenarios.contains(scenario), let scenarioAt = entry["scenario"] {
                    reader.report(scenarioAt, "a scheduled drill is one of \(ScheduledDrill.scenarios.joined(separator: ", ")), not \(scenario.debugDescription) (observe needs a person)")
                    ok = false
                }
                var group: GroupID?
                if let groupAt = entry["group"], let name = reader.text(groupAt)?.trimmingSpaces {
                    group = GroupID(name)
                    if !groups.contains(GroupID(name)) {
                        reader.report(groupAt, "there is no group \(name.debugDescription); the groups are \(groups.map(\.name).joined(separator: ", "))")
                        ok = false
                    }
                }
                let every = reader.require(entry, "every", hint: "say how often, such as every: 7d").flatMap { reader.duration($0, what: "every") }
                if let every, every < .seconds(60), let everyAt = entry["every"] {
                    reader.report(everyAt, "every must be at least 1m (a drill moves the service)")
                    ok = false
                }
                var window: (from: Int, to: Int)?
                if let windowAt = entry["window"], let text = reader.text(windowAt) {
                    window = Self.window(text)
                    if window == nil {
                        reader.report(windowAt, "window must be HH:MM-HH:MM in UTC, such as \"02:00-04:00\", not \(text.debugDescription)")
                        ok = false
                    }
                }
                var probe: String?
                if let probeAt = entry["probe"], let text = reader.text(probeAt)?.trimmingSpaces {
                    if ["tcp://", "http://", "udp://"].contains(where: { text.hasPrefix($0) }) {
                        probe = text
                    } else {
                        reader.report(probeAt, "probe must be tcp://HOST:PORT, http://HOST:PORT/PATH or udp://HOST:PORT, not \(text.debugDescription)")
                        ok = false
                    }
                }
                let maxInterruption = entry["max_interruption"].flatMap { reader.duration($0, positive: false, what: "max_interruption") }
                guard ok, let scenario, let every else { continue }
                schedule.append(ScheduledDrill(
                    scenario: scenario, group: group, every: every, window: window, probe: probe, maxInterruption: maxInterruption))
            }
        }
        return DrillSettings(maxAge: maxAge, schedule: schedule)
    }

    /// "02:00-04:00" as minutes after midnight.
    static func window(_ text: String) -> (from: Int, to: Int)? {
        let parts = text.trimmingSpaces.split(separator: "-")
        guard parts.count == 2 else { return nil }
        func minutes(_ s: Substring) -> Int? {
            let hm = s.split(separator: ":")
            guard hm.count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0...24).contains(h), (0..<60).contains(m), h * 60 + m <= 1440 else { return nil }
            return h * 60 + m
        }
        guard let from = minutes(parts[0]), let to = minutes(parts[1]), from != to else { return nil }
        return (from, to)
    }

    /// `events: {keep: N}`: how many events the store keeps (the oldest are deleted).
    private func eventRetention(_ at: Located) -> Int? {
        guard let fields = reader.mapping(at, allowed: ["keep"], expected: "{keep: 100000}") else { return nil }
        guard let keepAt = fields["keep"], let keep = reader.value(keepAt, Values.integer) else { return nil }
        guard keep >= 100 else {
            reader.report(keepAt, "keep must be at least 100 events (got \(keep)): the status page and drills read the recent ones")
            return nil
        }
        return keep
    }
}
