import TandemCore

/// The whole configuration file, one identical file on every node (`tandem agent --config
/// FILE --node ID` says which node this is). `cluster` is what the core replicates and
/// validates; the rest is what only the runtime needs: addresses, keys, resources, checks.
public struct TandemFile: Sendable, Equatable {
    /// The core's part: name, timing, nodes (kind, priority, site, link count), groups.
    public var cluster: ClusterConfig
    /// The cluster key files, newest first: one, or two while rotating (`key_files: [new, old]`).
    public var keyFiles: [String]
    /// Where the node keeps its SQLite store and run files.
    public var dataDir: String
    /// Per node: its link addresses (the k-th link of every node is path k) and API address.
    public var addresses: [NodeID: NodeAddresses]
    /// Per group: what runs where the group is active, and how its health is judged.
    public var groupSpecs: [GroupID: GroupSpec]
    /// Who hears about every event.
    public var notify: [NotifierSpec]
    /// Run by the controller before it reassigns a group away from an unreachable node.
    public var fence: FenceSpec?
    /// Who may use the HTTP API, and how.
    public var api: APISettings
    /// How many events each node's store keeps (`events.keep`); older ones are deleted.
    public var eventRetention: Int
    /// Scheduled drills and how old a group's last passed drill may be (`drills:`).
    public var drills: DrillSettings

    public init(
        cluster: ClusterConfig, keyFiles: [String], dataDir: String, addresses: [NodeID: NodeAddresses],
        groupSpecs: [GroupID: GroupSpec], notify: [NotifierSpec] = [], fence: FenceSpec? = nil,
        api: APISettings = APISettings(), eventRetention: Int = 100_000, drills: DrillSettings = DrillSettings()
    ) {
        self.cluster = cluster
        self.keyFiles = keyFiles
        self.dataDir = dataDir
        self.addresses = addresses
        self.groupSpecs = groupSpecs
        self.notify = notify
        self.fence = fence
        self.api = api
        self.eventRetention = eventRetention
        self.drills = drills
    }
}

/// A host and port, as written in the file ("10.0.0.1:7400", "[fd00::1]:7400").
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// An IPv4 or IPv6 literal, or a host name (API addresses only).
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Where a node listens: one address per link (UDP and TCP on the same port) and its API.
public struct NodeAddresses: Sendable, Equatable {
    public var links: [Endpoint]
    public var api: Endpoint?
    public init(links: [Endpoint], api: Endpoint?) {
        self.links = links
        self.api = api
    }
}

/// The runtime side of a group: resources started in order and stopped in reverse, and checks.
public struct GroupSpec: Sendable, Equatable {
    public var resources: [ResourceSpec]
    public var checks: [CheckSpec]
    public init(resources: [ResourceSpec] = [], checks: [CheckSpec] = []) {
        self.resources = resources
        self.checks = checks
    }
}

/// One resource of a group.
public enum ResourceSpec: Sendable, Equatable {
    /// `vip: 10.0.0.100/24 dev eth0`: an address added to an interface while active, announced
    /// by gratuitous ARP (IPv4) or unsolicited neighbour advertisement (IPv6).
    case vip(VIPSpec)
    /// `systemd: asterisk.service`: a unit started and stopped with systemctl.
    case systemd(unit: String, timeout: Duration)
    /// `exec: {start, stop, monitor, timeout}` scripts with OCF-style exit codes, or
    /// `exec: {run: COMMAND}`: a long-running command the agent starts and stops itself.
    case exec(ExecSpec)
}

public struct VIPSpec: Sendable, Equatable {
    /// The address without prefix ("10.0.0.100", "fd00::100").
    public var address: String
    public var prefixLength: Int
    public var device: String
    public var isIPv6: Bool
    /// How many announcements are sent after adding the address, and how far apart.
    public var announceCount: Int
    public var announceInterval: Duration
    public init(address: String, prefixLength: Int, device: String, isIPv6: Bool, announceCount: Int = 3,
                announceInterval: Duration = .milliseconds(200)) {
        self.address = address
        self.prefixLength = prefixLength
        self.device = device
        self.isIPv6 = isIPv6
        self.announceCount = announceCount
        self.announceInterval = announceInterval
    }
}

public struct ExecSpec: Sendable, Equatable {
    /// Shell command lines (`/bin/sh -c`). Either `run`, or `start` (and usually `stop`).
    public var start: String?
    public var stop: String?
    /// OCF style: exit 0 = running, 7 = not running, anything else = failed.
    public var monitor: String?
    /// A long-running command: started on activation, sent SIGTERM (then SIGKILL after
    /// `timeout`) on deactivation; its exit while active counts as a failed check.
    public var run: String?
    /// For each of start, stop and monitor.
    public var timeout: Duration
    public init(start: String? = nil, stop: String? = nil, monitor: String? = nil, run: String? = nil,
                timeout: Duration = .seconds(10)) {
        self.start = start
        self.stop = stop
        self.monitor = monitor
        self.run = run
        self.timeout = timeout
    }
}

/// A health check of a group, judged with rise/fall hysteresis.
public struct CheckSpec: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A command line; exit 0 = healthy.
        case exec(command: String)
        /// A TCP connect succeeds.
        case tcp(Endpoint)
        /// An HTTP GET answers `status` (and its body contains `body`, when given).
        case http(url: String, status: Int, body: String?)
        /// The interface exists, is up and has carrier.
        case interface(device: String)
        /// A gateway answers (ICMP echo, or a TCP connect when a port is given).
        case upstream(host: String, port: Int?)
        /// The path is writable and its file system has at least `minFreeBytes` free.
        case disk(path: String, minFreeBytes: UInt64)
    }
    /// Where the check runs: `active` checks test the service, so they run only where the
    /// group is active (a standby is not failed for a service it does not run); `always`
    /// checks test the node (interface, upstream, disk) and run everywhere.
    public enum Scope: String, Sendable, Equatable {
        case active, always
    }
    public var kind: Kind
    public var scope: Scope
    public var interval: Duration
    public var timeout: Duration
    /// Consecutive successes to become healthy, failures to become unhealthy.
    public var rise: Int
    public var fall: Int
    public init(kind: Kind, scope: Scope? = nil, interval: Duration = .seconds(1), timeout: Duration = .milliseconds(500),
                rise: Int = 2, fall: Int = 3) {
        self.kind = kind
        self.scope = scope ?? kind.defaultScope
        self.interval = interval
        self.timeout = timeout
        self.rise = rise
        self.fall = fall
    }
}

extension CheckSpec.Kind {
    /// Service checks (exec, tcp, http) run where the group is active; node checks everywhere.
    public var defaultScope: CheckSpec.Scope {
        switch self {
        case .exec, .tcp, .http: .active
        case .interface, .upstream, .disk: .always
        }
    }
    /// `upstream` checks report the node's reachability of its clients (the core's upstream
    /// input); every other kind reports the group's health.
    public var isUpstream: Bool {
        if case .upstream = self { return true }
        return false
    }
}

/// Who hears about events and alarms.
public enum NotifierSpec: Sendable, Equatable {
    /// A command line run for every event, with TANDEM_* in its environment.
    case exec(command: String, timeout: Duration)
    /// A JSON POST of every event to `url` (http or https), in order, retried with back-off.
    case webhook(WebhookSpec)
    /// A line per event to the local syslog socket (RFC 3164), with a severity by kind.
    case syslog(SyslogSpec)
}

public struct WebhookSpec: Sendable, Equatable {
    public var url: String
    /// Per attempt.
    public var timeout: Duration
    /// Attempts after the first; waits 0.5 s, 1 s, 2 s, … (at most 30 s) between them.
    public var retries: Int
    public init(url: String, timeout: Duration = .seconds(5), retries: Int = 5) {
        self.url = url
        self.timeout = timeout
        self.retries = retries
    }
}

public struct SyslogSpec: Sendable, Equatable {
    /// The facility's number (daemon = 3, local0 = 16, …).
    public var facility: Int
    /// The datagram socket of the local syslog daemon.
    public var socket: String
    public init(facility: Int = 3, socket: String = "/dev/log") {
        self.facility = facility
        self.socket = socket
    }

    /// RFC 3164's facility names.
    public static let facilities: [String: Int] = [
        "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7, "uucp": 8,
        "cron": 9, "authpriv": 10, "ftp": 11, "local0": 16, "local1": 17, "local2": 18, "local3": 19,
        "local4": 20, "local5": 21, "local6": 22, "local7": 23,
    ]
}

/// `fence: {exec: ..., timeout: 10s}`: run by the controller before reassigning from an
/// unreachable node. Exit 0 lets it skip the standing wait; anything else never does.
public struct FenceSpec: Sendable, Equatable {
    public var command: String
    public var timeout: Duration
    public init(command: String, timeout: Duration = .seconds(10)) {
        self.command = command
        self.timeout = timeout
    }
}

/// `drills: {max_age: 30d, schedule: [...]}`.
public struct DrillSettings: Sendable, Equatable {
    /// A group whose newest passed drill is older than this (or that has none) raises the
    /// alarm `standby_unproven`; nil: no such alarm.
    public var maxAge: Duration?
    public var schedule: [ScheduledDrill]
    public init(maxAge: Duration? = nil, schedule: [ScheduledDrill] = []) {
        self.maxAge = maxAge
        self.schedule = schedule
    }
}

/// One drill the cluster's leader runs by itself, every `every`, inside `window` if given.
public struct ScheduledDrill: Sendable, Equatable {
    /// switchover, active-failure, service-failure, link-failure, isolation or recovery.
    public var scenario: String
    public var group: GroupID?
    public var every: Duration
    /// Minutes after midnight UTC: the drill starts only between `from` and `to` (which may
    /// wrap past midnight).
    public var window: (from: Int, to: Int)?
    public var probe: String?
    public var maxInterruption: Duration?

    public init(scenario: String, group: GroupID? = nil, every: Duration, window: (from: Int, to: Int)? = nil,
                probe: String? = nil, maxInterruption: Duration? = nil) {
        self.scenario = scenario
        self.group = group
        self.every = every
        self.window = window
        self.probe = probe
        self.maxInterruption = maxInterruption
    }

    public static func == (a: ScheduledDrill, b: ScheduledDrill) -> Bool {
        a.scenario == b.scenario && a.group == b.group && a.every == b.every && a.window?.from == b.window?.from
            && a.window?.to == b.window?.to && a.probe == b.probe && a.maxInterruption == b.maxInterruption
    }

    /// Whether `minute` (after midnight UTC) is inside the window (always, without one).
    public func allows(minute: Int) -> Bool {
        guard let window else { return true }
        return window.from <= window.to ? (minute >= window.from && minute < window.to) : (minute >= window.from || minute < window.to)
    }

    /// The scenarios a schedule may name (`observe` needs a person).
    public static let scenarios = ["switchover", "active-failure", "service-failure", "link-failure", "isolation", "recovery"]
}
