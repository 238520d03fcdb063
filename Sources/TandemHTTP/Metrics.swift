import Foundation
import Prometheus
import TandemAgent

/// `GET /metrics`: this node's view in the Prometheus text format (swift-prometheus), read
/// from the status at each scrape. Names follow Prometheus conventions: `_seconds`,
/// `_ratio`, `_total` for counters; every node labels nothing with itself (Prometheus adds
/// `instance`), except `tandem_info`.
final class AgentMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    /// One scrape at a time: counters are set from totals (reset, then increment).
    private let lock = NSLock()

    private func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge {
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    private func counter(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Counter {
        registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "total", helpText: help), labels: labels)
    }

    func render(_ s: AgentStatus) -> String {
        lock.withLock {
            update(s)
            return registry.emitToString()
        }
    }

    private func update(_ s: AgentStatus) {
        gauge("tandem_info", "Always 1; the labels name the cluster, this node and its software version.",
              [("cluster", s.cluster), ("node", s.node), ("version", s.version)]).set(to: 1)
        gauge("tandem_leader", "1 when this node is the cluster's leader (controller).").set(to: s.role == "leader" ? 1 : 0)
        gauge("tandem_term", "The consensus term this node is in.").set(to: Double(s.term))
        gauge("tandem_quorum", "1 when a quorum is reachable (the leader: acknowledged within the lease; others: a leader is heard).")
            .set(to: s.quorum ? 1 : 0)
        gauge("tandem_frozen", "1 while automatic moves are frozen by an operator.").set(to: s.frozen ? 1 : 0)
        gauge("tandem_config_revision", "The cluster's configuration revision (committed through the log).").set(to: Double(s.configRevision))
        for n in s.nodes {
            guard let revision = n.configRevision else { continue }
            gauge("tandem_node_config_revision", "The configuration revision each node reports running (its runtime applied it).",
                  [("node", n.id)]).set(to: Double(revision))
        }
        gauge("tandem_commit_index", "The highest log index this node knows committed.").set(to: Double(s.commitIndex))
        gauge("tandem_applied_index", "The highest log index this node has applied.").set(to: Double(s.appliedIndex))
        gauge("tandem_kv_revision", "The revision of the replicated KV store on this node.").set(to: Double(s.kvRevision))
        gauge("tandem_uptime_seconds", "Seconds since this agent started.").set(to: s.uptimeSeconds)
        for g in s.groups {
            gauge("tandem_group_active", "1 when the group's resources are running on this node.", [("group", g.id)])
                .set(to: g.phase == "running" ? 1 : 0)
            gauge("tandem_epoch", "The group's current epoch (it grows with every change of owner).", [("group", g.id)])
                .set(to: Double(g.epoch))
            gauge("tandem_group_ready_standbys", "How many nodes could take the group over now (0: running unprotected).",
                  [("group", g.id)]).set(to: Double(g.readyStandbys.count))
            for n in s.nodes where n.kind != "witness" {
                gauge("tandem_group_owner", "1 for the node that owns the group, 0 for the others.", [("group", g.id), ("node", n.id)])
                    .set(to: g.owner == n.id ? 1 : 0)
            }
        }
        for l in s.links {
            let labels = [("peer", l.peer), ("link", String(l.link))]
            gauge("tandem_link_up", "1 when the link to the peer is up (probes answered).", labels).set(to: l.up ? 1 : 0)
            gauge("tandem_link_rtt_seconds", "Smoothed round-trip time of the link's probes.", labels)
                .set(to: (l.rttMilliseconds ?? 0) / 1000)
            gauge("tandem_link_loss_ratio", "Share of the link's recent probes not answered (0 to 1).", labels).set(to: l.loss)
            gauge("tandem_link_last_heard_seconds", "Seconds since anything was heard from the peer on the link.", labels)
                .set(to: (l.lastSeenMillisecondsAgo ?? 0) / 1000)
        }
        for n in s.nodes {
            guard let lag = n.lagEntries, n.id != s.node else { continue }
            gauge("tandem_replication_lag_entries", "On the leader: log entries the replica is behind.", [("replica", n.id)])
                .set(to: Double(lag))
        }
        for change in s.ownerChanges {
            let c = counter("tandem_failovers", "Changes of a group's owner decided by this node as controller since it started, by reason (failover, switchover, failback, released, initial, rollback, other); sum over the nodes for the cluster's total.",
                            [("group", change.group), ("reason", change.reason)])
            c.reset()
            c.increment(by: Int64(change.count))
        }
        for (reason, count) in s.rejected {
            let c = counter("tandem_rejected_packets", "Packets dropped since start, by reason (forged, replayed, duplicate, foreign cluster, ...).",
                            [("reason", reason)])
            c.reset()
            c.increment(by: Int64(count))
        }
        for severity in ["critical", "major", "minor"] {
            gauge("tandem_alarms", "Alarms open on this node, by severity.", [("severity", severity)])
                .set(to: Double(s.alarms.filter { $0.severity == severity }.count))
        }
        let stalls = counter("tandem_stalls", "Times this agent noticed it was stalled (its tick came late).")
        stalls.reset()
        stalls.increment(by: Int64(s.stalls))
    }
}
