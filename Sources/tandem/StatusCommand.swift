import ArgumentParser
import Foundation
import TandemAgent
import TandemConfig
import TandemCore

/// `tandem status [--json]`: what the local agent sees.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show roles, epochs, links and standby readiness, as the local agent sees them.")

    @Option(name: .long, help: "The agent's API as HOST:PORT (default: the lab cluster if one runs, else --config and --node).")
    var api: String?
    @Option(name: .long, help: "A configuration file: the API of --node in it is asked.")
    var config: String?
    @Option(name: .long, help: "With --config: which node to ask (default: the first that answers).")
    var node: String?
    @Flag(name: .long, help: "Print the agent's JSON instead of tables (stable for scripts).")
    var json = false

    func run() async throws {
        let endpoints = try resolveEndpoints(api: api, config: config, node: node)
        var problems: [String] = []
        for endpoint in endpoints {
            do {
                let answer = try HTTPClient.request("GET", host: endpoint.host, port: endpoint.port, path: "/v1/status", timeout: .seconds(3))
                guard answer.status == 200 else {
                    problems.append("\(endpoint): HTTP \(answer.status): \(answer.text)")
                    continue
                }
                if json {
                    print(answer.text)
                    return
                }
                let status = try JSONDecoder().decode(AgentStatus.self, from: Data(answer.body))
                print(StatusTable.render(status, color: isatty(1) != 0))
                return
            } catch {
                problems.append("\(endpoint): \(error)")
            }
        }
        throw CLIError("no agent answered:\n  " + problems.joined(separator: "\n  ") + "\nIs the agent running? (tandem lab starts a local cluster; systemctl status tandem on a node)")
    }
}

/// Where to ask: `--api`, else the lab's nodes when a lab runs, else the config's nodes.
func resolveEndpoints(api: String?, config: String?, node: String?) throws -> [Endpoint] {
    if let api {
        guard let colon = api.lastIndex(of: ":"), let port = Int(api[api.index(after: colon)...]) else {
            throw CLIError("--api must be HOST:PORT, got \(api.debugDescription)")
        }
        return [Endpoint(host: String(api[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port)]
    }
    let path = config ?? (Lab.isRunning() ? Lab.configPath : "/etc/tandem/tandem.yaml")
    let file = try loadConfig(path)
    var ids = file.cluster.nodes.map(\.id)
    if let node { ids = [NodeID(node)] }
    let endpoints = ids.compactMap { file.addresses[$0]?.api }
    guard !endpoints.isEmpty else { throw CLIError("\(path): no node has an api address to ask") }
    return endpoints
}

/// The human tables of `tandem status`.
enum StatusTable {
    static func render(_ s: AgentStatus, color: Bool) -> String {
        func paint(_ text: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
        let ok = { (t: String) in paint(t, "32") }
        let bad = { (t: String) in paint(t, "31") }
        var out = "cluster \(s.cluster) · asked \(s.node) (\(s.role), term \(s.term)) · leader \(s.leader ?? bad("none")) · config revision \(s.configRevision) · commit \(s.commitIndex) · timing \(s.timing)"
        if s.frozen { out += " · " + bad("FROZEN (no automatic moves)") }
        out += "\n\n"
        var rows = [["NODE", "KIND", "ROLE", "LINKS UP", "HEALTH", "MAINTENANCE"]]
        for n in s.nodes {
            let health = n.health.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value ? "ok" : "FAIL")" }.joined(separator: " ")
            rows.append([n.id, n.kind, n.role ?? "-", n.linksUp.map { $0.isEmpty ? "none" : $0.map(String.init).joined(separator: ",") } ?? "(this node)",
                         health.isEmpty ? "-" : health, n.maintenance ? "yes" : "no"])
        }
        out += table(rows) + "\n"
        rows = [["GROUP", "OWNER", "EPOCH", "HERE", "READY STANDBY", "NOT READY", "REASON"]]
        for g in s.groups {
            let notReady = g.notReady.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
            rows.append([g.id, g.owner ?? bad("none"), String(g.epoch), g.phase ?? "-",
                         g.readyStandbys.isEmpty ? bad("none") : ok(g.readyStandbys.joined(separator: ",")),
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
