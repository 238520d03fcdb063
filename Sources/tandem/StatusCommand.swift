import ArgumentParser
import Foundation
import TandemAgent
import TandemConfig
import TandemCore

/// `tandem status [--json] [--watch]`: what the local agent sees.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show roles, epochs, links and standby readiness, as the local agent sees them.")

    @OptionGroup var options: APIOptions
    @Flag(name: .long, help: "Print the agent's JSON instead of tables (stable for scripts).")
    var json = false
    @Flag(name: .long, help: "Redraw every second until interrupted.")
    var watch = false

    func run() async throws {
        let client = try options.client()
        let color = isatty(1) != 0
        repeat {
            let answer = try client.call("GET", "/v1/status", timeout: .seconds(3))
            var text: String
            if json {
                text = answer.text
            } else {
                let status: AgentStatus
                do {
                    status = try JSONDecoder().decode(AgentStatus.self, from: Data(answer.body))
                } catch {
                    throw CLIError("the agent's status is not what this version of tandem reads (\(error)); are the CLI and agent the same version?")
                }
                text = StatusTable.render(status, color: color)
            }
            if watch, color { text = "\u{1B}[H\u{1B}[2J" + text }
            print(text)
            if watch { try await Task.sleep(for: .seconds(1)) }
        } while watch
    }
}

/// The human tables of `tandem status`.
enum StatusTable {
    static func render(_ s: AgentStatus, color: Bool) -> String {
        func paint(_ text: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
        let ok = { (t: String) in paint(t, "32") }
        let bad = { (t: String) in paint(t, "31") }
        var out = "cluster \(s.cluster) · asked \(s.node) (\(s.role), term \(s.term)) · leader \(s.leader ?? bad("none")) · config revision \(s.configRevision) · commit \(s.commitIndex) · timing \(s.timing)"
        if s.frozen { out += " · " + bad("FROZEN (no automatic moves)") }
        out += " · version \(s.version)\n\n"
        if !s.alarms.isEmpty {
            out += "ALARMS (seen by \(s.node)):\n"
            for alarm in s.alarms {
                out += "  " + (alarm.severity == "minor" ? alarm.severity.uppercased() : bad(alarm.severity.uppercased())) + " \(alarm.message)\n"
            }
            out += "\n"
        }
        var rows = [["NODE", "KIND", "ROLE", "LINKS UP", "HEALTH", "MAINTENANCE", "VERSION", "CONFIG"]]
        let versions = Set(s.nodes.compactMap(\.software))
        for n in s.nodes {
            let health = n.health.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value ? "ok" : "FAIL")" }.joined(separator: " ")
            let version = n.software.map { versions.count > 1 ? bad($0) : $0 } ?? "-"
            let revision = n.configRevision.map { $0 == s.configRevision ? String($0) : bad(String($0)) } ?? "-"
            rows.append([n.id, n.kind, n.role ?? "-", n.linksUp.map { $0.isEmpty ? "none" : $0.map(String.init).joined(separator: ",") } ?? "(this node)",
                         health.isEmpty ? "-" : health, n.maintenance ? "yes" : "no", version, revision])
        }
        out += table(rows) + "\n"
        rows = [["GROUP", "OWNER", "EPOCH", "SINCE", "HERE", "READY STANDBY", "PROVEN", "NOT READY", "REASON"]]
        let clock = DateFormatter()
        clock.dateFormat = "yyyy-MM-dd HH:mm:ss"
        for g in s.groups {
            let notReady = (g.notReady.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
                + g.mismatched.sorted { $0.key < $1.key }.map { "\($0.key) (ready, but) \($0.value)" }).joined(separator: "; ")
            let since = g.ownerSinceWallMilliseconds.map { clock.string(from: Date(timeIntervalSince1970: Double($0) / 1000)) }
                ?? (g.ownerSinceIndex > 0 ? "log index \(g.ownerSinceIndex)" : "-")
            rows.append([g.id, g.owner ?? bad("none"), String(g.epoch), since, g.phase ?? "-",
                         g.readyStandbys.isEmpty ? bad("none") : ok(g.readyStandbys.joined(separator: ",")),
                         g.lastProvenWallMilliseconds.map { clock.string(from: Date(timeIntervalSince1970: Double($0) / 1000)) } ?? "never",
                         notReady.isEmpty ? "-" : notReady, g.reason])
        }
        out += table(rows) + "\n"
        rows = [["PEER", "LINK", "STATE", "RTT", "LOSS", "LAST HEARD"]]
        for l in s.links {
            rows.append([l.peer, String(l.link) + (l.stream ? " (stream)" : ""), l.up ? ok("up") : bad("down"),
                         l.rttMilliseconds.map { String(format: "%.2f ms", $0) } ?? "-",
                         String(format: "%.0f%%", l.loss * 100),
                         l.lastSeenMillisecondsAgo.map { String(format: "%.0f ms ago", $0) } ?? "never"])
        }
        out += table(rows)
        if !s.rejected.isEmpty {
            out += "\nrejected packets: " + s.rejected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        if s.stalls > 0 { out += "\nstalls: \(s.stalls), longest \(String(format: "%.1f", s.longestStallMilliseconds)) ms" }
        if !s.events.isEmpty {
            out += "\n\nrecent events:\n"
            let formatter = DateFormatter()
            formatter.dateFormat = "HH:mm:ss.SSS"
            for e in s.events.suffix(8) {
                let when = formatter.string(from: Date(timeIntervalSince1970: Double(e.wallMilliseconds) / 1000))
                out += "  \(when) \(e.node) \(e.kind)\(e.group.map { " \($0)" } ?? "")\(e.epoch.map { " epoch \($0)" } ?? ""): \(e.reason)\n"
            }
        }
        return out
    }

    /// Left-aligned columns; widths ignore colour escapes.
    static func table(_ rows: [[String]]) -> String {
        func visible(_ s: String) -> Int {
            var count = 0
            var inEscape = false
            for c in s {
                if c == "\u{1B}" { inEscape = true } else if inEscape { if c == "m" { inEscape = false } } else { count += 1 }
            }
            return count
        }
        let columns = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], visible(cell)) } }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - visible(cell) + 2)
            }.joined()
        }.joined(separator: "\n") + "\n"
    }
}
