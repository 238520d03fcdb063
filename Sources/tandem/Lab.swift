import ArgumentParser
import Foundation
import Hummingbird
import TandemAgent
import TandemConfig
import TandemCore
import TandemWire

/// `tandem lab`: a complete local cluster without root — nodes a and b and witness w as
/// separate agent processes on loopback (two links each: 127.0.0.1 and 127.0.0.2), and a
/// demo group `web` whose service is a page on 127.0.0.1:18080, served by `tandem lab web`
/// only where the group is active, counting visits in the replicated KV store.
enum Lab {
    static var directory: String {
        ProcessInfo.processInfo.environment["TANDEM_LAB_DIR"] ?? "/tmp/tandem-lab-\(getuid())"
    }
    static var configPath: String { directory + "/tandem.yaml" }
    static let nodes = ["a", "b", "w"]
    static let webPort = 18080
    /// The agents' `api.token_file`, and the lab's own tokens (each alone in a file, for
    /// `--token-file`): an admin token the CLI uses when it talks to the lab, and an operate
    /// token for the demo page's KV writes.
    static var tokenFilePath: String { directory + "/tokens" }
    static var adminTokenPath: String { directory + "/admin.token" }
    static var webTokenPath: String { directory + "/web.token" }
    static func pidPath(_ node: String) -> String { "\(directory)/\(node).pid" }
    static func logPath(_ node: String) -> String { "\(directory)/\(node).log" }

    /// The lab's ports, moved by TANDEM_LAB_PORT_BASE (default 17400) so that several labs
    /// (tests) can run at once.
    static var portBase: Int { ProcessInfo.processInfo.environment["TANDEM_LAB_PORT_BASE"].flatMap(Int.init) ?? 17400 }
    /// The demo page's port: `webPort`, or TANDEM_LAB_WEB_PORT.
    static var webPortInUse: Int { ProcessInfo.processInfo.environment["TANDEM_LAB_WEB_PORT"].flatMap(Int.init) ?? webPort }

    static func pid(_ node: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: pidPath(node), encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func isRunning() -> Bool { nodes.contains { pid($0).map(Processes.isAlive) ?? false } }

    static func configText(executable: String, timing: String) -> String {
        let base = portBase
        let web = webPortInUse
        return """
        # The tandem lab: three agents on loopback (written by `tandem lab`).
        cluster: lab
        key_file: \(directory)/cluster.key
        data_dir: \(directory)/data
        timing: \(timing)
        api: {token_file: \(tokenFilePath)}
        nodes:
          a: {links: ["127.0.0.1:\(base + 10)", "127.0.0.2:\(base + 10)"], api: "127.0.0.1:\(base + 81)", priority: 100}
          b: {links: ["127.0.0.1:\(base + 20)", "127.0.0.2:\(base + 20)"], api: "127.0.0.1:\(base + 82)", priority: 90}
          w: {links: ["127.0.0.1:\(base + 30)", "127.0.0.2:\(base + 30)"], api: "127.0.0.1:\(base + 83)", witness: true}
        groups:
          web:
            prefer: [a, b]
            failback: manual
            resources:
              - exec: {run: "\(executable) lab web --config \(directory)/tandem.yaml --port \(web) --token-file \(webTokenPath)", timeout: 5s}
            checks:
              - {http: "http://127.0.0.1:\(web)/health", status: 200, body: "ok", interval: 500ms, timeout: 300ms, rise: 1, fall: 2}

        """
    }

    /// The lab's key and tokens, made once.
    static func makeSecrets() throws {
        _ = try createSecretFile(directory + "/cluster.key", ClusterKey.generate().fileText)
        guard !FileManager.default.fileExists(atPath: tokenFilePath) else { return }
        func random() -> String {
            var generator = SystemRandomNumberGenerator()
            return (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        }
        let (admin, web) = (random(), random())
        _ = try createSecretFile(adminTokenPath, admin + "\n")
        _ = try createSecretFile(webTokenPath, web + "\n")
        _ = try createSecretFile(tokenFilePath, "# NAME ROLE TOKEN (written by tandem lab)\nlab-admin admin \(admin)\nlab-web operate \(web)\n")
    }

    static func startAgent(_ node: String) throws {
        let pid = try Processes.spawnDetached(
            [Processes.selfExecutable(), "agent", "--config", configPath, "--node", node], logPath: logPath(node))
        try "\(pid)\n".write(toFile: pidPath(node), atomically: true, encoding: .utf8)
    }

    static func wait(for condition: () -> Bool, seconds: Double) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(100_000)
        }
        return condition()
    }

    static func status(of node: String) -> AgentStatus? {
        guard let file = try? ConfigFile.load(path: configPath), let api = file.addresses[NodeID(node)]?.api,
              let answer = try? HTTPClient.request("GET", host: api.host, port: api.port, path: "/v1/status", timeout: .seconds(1)),
              answer.status == 200
        else { return nil }
        return try? JSONDecoder().decode(AgentStatus.self, from: Data(answer.body))
    }
}

struct LabCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab", abstract: "A complete local cluster on loopback, without root, to try Tandem.",
        subcommands: [Start.self, Kill.self, Restart.self, Stop.self, Web.self], defaultSubcommand: Start.self)

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start nodes a, b and witness w and the demo service (the default).")
        @Option(help: "Timing profile: fast, balanced or wan.") var timing = "balanced"

        func run() async throws {
            let dir = Lab.directory
            if Lab.isRunning() {
                print("the lab is already running (files in \(dir)); `tandem status` shows it, `tandem lab stop` stops it")
                return
            }
            try makeDirectory(dir)
            try Lab.makeSecrets()
            try Lab.configText(executable: Processes.selfExecutable(), timing: timing)
                .write(toFile: Lab.configPath, atomically: true, encoding: .utf8)
            _ = try loadConfig(Lab.configPath)
            for node in Lab.nodes { try Lab.startAgent(node) }
            let web = Lab.webPortInUse
            // Settled means: all three agents answer, one runs the group, and the page itself answers.
            let up = Lab.wait(for: {
                let statuses = Lab.nodes.compactMap(Lab.status(of:))
                guard statuses.count == 3,
                      statuses.contains(where: { s in s.groups.contains { $0.activeHere && $0.phase == "running" } })
                else { return false }
                return (try? HTTPClient.request("GET", host: "127.0.0.1", port: web, path: "/health", timeout: .seconds(1)))?.status == 200
            }, seconds: 30)
            print("""
            Tandem lab cluster "lab" is \(up ? "running" : "starting (not settled after 30 s — see the logs)"): agents a, b and witness w on loopback.
              service:        http://127.0.0.1:\(web)/   (answered by whichever node is active; counts visits in the replicated KV store)
              status:         tandem status    (tables; --json for scripts)
              logs:           \(dir)/a.log, b.log, w.log
              crash a node:   tandem lab kill a      (kill -9: the guard stops its service, b takes over)
              bring it back:  tandem lab restart a   (rejoins as standby; failback is manual)
              move it:        tandem switchover web          (the CLI uses the lab's admin token, \(Lab.adminTokenPath))
              events:         tandem events --follow
              metrics, API:   http://127.0.0.1:\(Lab.portBase + 81)/metrics (Prometheus), /v1/openapi.json
              stop it all:    tandem lab stop
            """)
        }
    }

    struct Kill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "kill -9 one node's agent, as a crash.")
        @Argument(help: "a, b or w") var node: String
        func run() async throws {
            guard Lab.nodes.contains(node) else { throw CLIError("the lab has nodes a, b and w, not \(node.debugDescription)") }
            guard let pid = Lab.pid(node), Processes.isAlive(pid) else { throw CLIError("node \(node) is not running") }
            kill(pid, SIGKILL)
            print("killed \(node) (pid \(pid)) with SIGKILL; `tandem status` shows the take-over, `tandem lab restart \(node)` brings it back")
        }
    }

    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start one node again (after kill), or restart it.")
        @Argument(help: "a, b or w") var node: String
        func run() async throws {
            guard Lab.nodes.contains(node) else { throw CLIError("the lab has nodes a, b and w, not \(node.debugDescription)") }
            if let pid = Lab.pid(node), Processes.isAlive(pid) {
                kill(pid, SIGTERM)
                _ = Lab.wait(for: { !Processes.isAlive(pid) }, seconds: 40)
            }
            try Lab.startAgent(node)
            print("started \(node); it rejoins as a standby")
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop every lab agent (SIGTERM: each hands over first).")
        func run() async throws {
            var stopped: [String] = []
            for node in Lab.nodes {
                if let pid = Lab.pid(node), Processes.isAlive(pid) {
                    kill(pid, SIGTERM)
                    stopped.append(node)
                }
            }
            for node in stopped {
                if let pid = Lab.pid(node), !Lab.wait(for: { !Processes.isAlive(pid) }, seconds: 40) { kill(pid, SIGKILL) }
            }
            print(stopped.isEmpty ? "no lab agent was running" : "stopped \(stopped.joined(separator: ", ")) (files kept in \(Lab.directory))")
        }
    }

    /// The demo service: run by the `web` group's exec resource on the active node only.
    struct Web: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Internal: the lab's demo page.", shouldDisplay: false)
        @Option var config: String
        @Option var port: Int = Lab.webPort
        @Option var tokenFile: String?

        func run() async throws {
            let file = try loadConfig(config)
            let env = ProcessInfo.processInfo.environment
            guard let node = env["TANDEM_NODE"], let api = file.addresses[NodeID(node)]?.api else {
                throw CLIError("lab web runs as the web group's resource: TANDEM_NODE names a node with an api")
            }
            let epoch = env["TANDEM_EPOCH"] ?? "?"
            let token = try tokenFile.map(readTokenFile)
            let router = Router()
            router.get("/health") { _, _ in "ok" }
            router.get("/") { _, _ -> Response in
                let visits: Int
                do {
                    visits = try countVisit(api, token: token)
                } catch {
                    // Say why, instead of a bare 500: the visit count lives in the replicated store.
                    return Response(status: .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                                    body: .init(byteBuffer: ByteBuffer(string: "node \(node) cannot count this visit: \(error)\n")))
                }
                let html = """
                <!doctype html><html><head><meta charset="utf-8"><title>tandem lab</title></head>
                <body style="font-family: sans-serif; margin: 3em">
                <h1>Served by node \(node)</h1>
                <p>epoch \(epoch) · visit number <b>\(visits)</b> (kept in the replicated KV store: it survives failover)</p>
                <p>Try <code>tandem lab kill \(node)</code>, then reload.</p>
                </body></html>
                """
                return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .init("X-Tandem-Node")!: node],
                                body: .init(byteBuffer: ByteBuffer(string: html)))
            }
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "tandem-lab-\(node)"))
            try await app.runService()
        }
    }
}

/// Adds one to `lab/visits` with compare-and-set through the local agent, retrying a race.
func countVisit(_ api: Endpoint, token: String?) throws -> Int {
    let auth = token.map { ["Authorization": "Bearer \($0)"] } ?? [:]
    for _ in 0..<20 {
        let current = try HTTPClient.request("GET", host: api.host, port: api.port, path: "/v1/kv/lab/visits", headers: auth)
        var count = 0
        var revision: UInt64 = 0
        if current.status == 200, let body = try? JSONSerialization.jsonObject(with: Data(current.body)) as? [String: Any] {
            count = Int(body["value"] as? String ?? "0") ?? 0
            revision = (body["modRevision"] as? NSNumber)?.uint64Value ?? 0
        } else if current.status != 404 {
            throw CLIError("the agent answered \(current.status): \(current.text)")
        }
        let put = try HTTPClient.request(
            "PUT", host: api.host, port: api.port, path: "/v1/kv/lab/visits", headers: auth.merging(["If-Match": String(revision)]) { a, _ in a },
            body: Array(String(count + 1).utf8))
        if put.status == 200 { return count + 1 }
        if put.status != 412 { throw CLIError("the agent answered \(put.status): \(put.text)") }
    }
    throw CLIError("too many concurrent visits; try again")
}
