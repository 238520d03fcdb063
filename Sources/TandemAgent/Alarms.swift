import TandemConfig
import TandemCore
import TandemStore

extension Event.Kind {
    public static let alarmRaised = Event.Kind("alarm_raised")
    public static let alarmCleared = Event.Kind("alarm_cleared")
}

/// An open alarm (DESIGN §8): raised when its condition starts, cleared when it ends, each
/// an event (so notifiers hear both). Kept by the node that sees the condition.
public struct Alarm: Codable, Sendable, Equatable {
    /// Kind and subject: "no_ready_standby:pbx", "link_down:b:2".
    public var id: String
    /// no_ready_standby, group_down, quorum_lost, link_down, replication_lag, self_demoted,
    /// version_mismatch, config_mismatch, config_not_applied.
    public var kind: String
    /// critical, major or minor.
    public var severity: String
    public var message: String
    public var sinceWallMilliseconds: Int64
}

extension NodeRuntime {
    /// How far behind (log entries) a replica may fall before its lag is an alarm.
    static let replicationLagAlarm: UInt64 = 1000

    /// The alarms the status `s` calls for, by id (without times).
    func alarmConditions(_ s: AgentStatus) -> [String: (kind: String, severity: String, message: String)] {
        var found: [String: (kind: String, severity: String, message: String)] = [:]
        func raise(_ kind: String, _ subject: String?, _ severity: String, _ message: String) {
            found[subject.map { "\(kind):\($0)" } ?? kind] = (kind, severity, message)
        }
        if !s.quorum {
            raise("quorum_lost", nil, "critical",
                  s.role == "leader" ? "\(s.node) leads without a quorum acknowledging it" : "\(s.node) hears no leader: no quorum is reachable from it")
        }
        for l in s.links where !l.up {
            raise("link_down", "\(l.peer):\(l.link)", "minor", "link \(l.link) between \(s.node) and \(l.peer) is down")
        }
        // The controller's view: only the leader knows every node's readiness and lag.
        if s.role == "leader" {
            for g in s.groups {
                if g.owner == nil {
                    raise("group_down", g.id, "critical", "no node runs \(g.id): \(g.reason.isEmpty ? "no eligible node" : g.reason)")
                } else if g.readyStandbys.isEmpty {
                    let why = g.notReady.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
                    raise("no_ready_standby", g.id, "major",
                          "\(g.id) runs on \(g.owner!) without a ready standby (unprotected)" + (why.isEmpty ? "" : " — \(why)"))
                }
            }
            for n in s.nodes where n.id != s.node {
                if let lag = n.lagEntries, lag > Self.replicationLagAlarm {
                    raise("replication_lag", n.id, "major", "\(n.id) is \(lag) log entries behind the leader")
                }
            }
            // A standby never proven, or not for too long (drills.max_age).
            if let maxAge = file.drills.maxAge {
                let limit = Int64(maxAge.components.seconds) * 1000
                for g in s.groups {
                    if let at = g.lastProvenWallMilliseconds {
                        let age = AgentClock.wallMilliseconds() - at
                        if age > limit {
                            raise("standby_unproven", g.id, "minor", "\(g.id)'s standby was last proven by drill \(g.lastProvenDrill ?? "?") \(age / 3_600_000) h ago (drills.max_age \(maxAge))")
                        }
                    } else {
                        raise("standby_unproven", g.id, "minor", "\(g.id)'s standby has never been proven by a drill that passed (drills.max_age \(maxAge)); run tandem drill run switchover")
                    }
                }
            }
            // What every node reported running (replicated, so the leader sees them all).
            let versions = Dictionary(grouping: s.nodes.filter { $0.software != nil }, by: { $0.software! })
            if versions.count > 1 {
                let list = versions.keys.sorted().map { "\($0) on \(versions[$0]!.map(\.id).joined(separator: ","))" }
                raise("version_mismatch", nil, "minor", "the nodes run different software versions: \(list.joined(separator: "; "))")
            }
            for n in s.nodes {
                if let revision = n.configRevision, revision != s.configRevision {
                    raise("config_mismatch", n.id, "major",
                          "\(n.id) runs configuration revision \(revision), the cluster's is \(s.configRevision)")
                }
            }
        }
        if let configProblem {
            raise("config_not_applied", s.node, "critical", configProblem)
        }
        for (group, message) in demotions {
            raise("self_demoted", group.name, "critical", message)
        }
        return found
    }

    /// Raises and clears alarms against the current status (every second).
    func evaluateAlarms(_ s: AgentStatus) {
        // The first seconds after a start are links coming up and an election: not alarms.
        guard s.uptimeSeconds >= 5 else { return }
        let wanted = alarmConditions(s)
        for (id, alarm) in openAlarms.sorted(by: { $0.key < $1.key }) where wanted[id] == nil {
            openAlarms[id] = nil
            recordLocal(.alarmCleared, reason: "cleared \(alarm.severity) alarm \(id): \(alarm.message)", evidence: "")
        }
        for (id, condition) in wanted.sorted(by: { $0.key < $1.key }) {
            if var open = openAlarms[id] {
                open.message = condition.message
                openAlarms[id] = open
                continue
            }
            openAlarms[id] = Alarm(
                id: id, kind: condition.kind, severity: condition.severity, message: condition.message,
                sinceWallMilliseconds: AgentClock.wallMilliseconds())
            recordLocal(.alarmRaised, reason: "\(condition.severity) alarm \(id): \(condition.message)", evidence: "")
        }
        // A self-demotion stays raised until a leader is heard again with a quorum.
        if s.quorum { demotions.removeAll() }
    }

    /// Notes a deactivation that prevented split brain (the standing ended, or the guard
    /// stopped the group at its deadline): raised as `self_demoted` at the next evaluation.
    func noteDemotion(_ events: [StoredEvent]) {
        for stored in events where stored.event.kind == .deactivated && stored.event.node == id {
            let reason = stored.event.reason
            guard reason.hasPrefix("standing ends") || reason.contains("standing guard stopped"), let group = stored.event.group else { continue }
            demotions[group] = "\(id) stopped \(group) itself to prevent split brain: \(reason)"
        }
    }
}
