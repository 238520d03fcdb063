import Foundation
import TandemAgent
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The suites that run agent processes (clusters, the lab, the API). Their tests are
/// synchronous and block a thread of Swift's cooperative pool while they wait (two threads
/// on two cores): one such test at a time, so that the asynchronous suites beside them
/// (timers, checks, transports) keep a thread.
@Suite(.serialized) enum AgentProcesses {}

/// A real cluster of `tandem agent` processes on loopback, for tests without root: a key,
/// a configuration, one process per node, a journal of resource starts and stops written by
/// the group's exec scripts (so a test can prove that no two nodes ever ran it at once).
final class ProcessCluster: @unchecked Sendable {
    let directory: String
    let portBase: Int
    let binary: String
    var processes: [String: pid_t] = [:]

    /// The `tandem` executable built beside the test bundle.
    static var tandemBinary: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = n > 0 ? String(cString: Array(buffer[0..<n]) + [0]) : CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // swift-testing runs .../debug/TandemPackageTests.xctest; XCTest may nest deeper.
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("tandem").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return "tandem"
    }

    /// `extra`: more top-level configuration (e.g. a fence hook); `$DIR` in it is the cluster's directory.
    /// `service`: one more resource line of group svc (e.g. a `tandem echo` to probe).
    init(timing: String = "balanced", nodes: [String] = ["a", "b", "w"], service: String = "", extra: String = "") throws {
        directory = NSTemporaryDirectory() + "tandem-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        // Below the kernel's ephemeral ports (32768 and up): a socket another test opens on an
        // ephemeral port can then never take one of the cluster's (seen: "Address already in use").
        portBase = Int.random(in: 200...320) * 100
        binary = Self.tandemBinary
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        try run([binary, "keygen", directory + "/cluster.key"])
        let journal = directory + "/journal"
        let start = "echo \\\"$(date +%s%N) start $TANDEM_NODE $TANDEM_EPOCH\\\" >> \(journal)"
        let stop = "echo \\\"$(date +%s%N) stop $TANDEM_NODE $TANDEM_EPOCH\\\" >> \(journal)"
        let config = """
        cluster: test
        key_file: \(directory)/cluster.key
        data_dir: \(directory)/data
        timing: \(timing)
        nodes:
        \(Self.loopbackNodes(portBase: portBase))
        groups:
          svc:
            prefer: [a, b]
            failback: manual
            resources:
              - exec: {start: "\(start)", stop: "\(stop)", timeout: 5s}
        \(service.isEmpty ? "" : "      - " + service)
        \(extra.replacingOccurrences(of: "$DIR", with: directory))
        """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    var configPath: String { directory + "/tandem.yaml" }
    func apiPort(_ node: String) -> Int { portBase + ["a": 81, "b": 82, "w": 83][node]! }

    /// The `nodes:` entries of a test cluster on loopback: a and b (priorities 100 and 90) and
    /// witness w, each with two links (127.0.0.1 and 127.0.0.2) on port `portBase`+10, +20,
    /// +30 and its API on `portBase`+81, +82, +83. Indented for a top-level `nodes:` key.
    static func loopbackNodes(portBase: Int) -> String {
        [("a", 10, 81, "priority: 100"), ("b", 20, 82, "priority: 90"), ("w", 30, 83, "witness: true")]
            .map { node, link, api, role in
                "  \(node): {links: [\"127.0.0.1:\(portBase + link)\", \"127.0.0.2:\(portBase + link)\"], api: \"127.0.0.1:\(portBase + api)\", \(role)}"
            }
            .joined(separator: "\n")
    }
    func logPath(_ node: String) -> String { "\(directory)/\(node).log" }

    func start(_ node: String, extra: [String] = [], environment: [String: String] = [:]) throws {
        let pid = try spawn([binary, "agent", "--config", configPath, "--node", node] + extra, log: logPath(node),
                            environment: environment)
        processes[node] = pid
        try "\(pid)\n".write(toFile: "\(directory)/\(node).pid", atomically: true, encoding: .utf8)
    }

    func startAll() throws {
        for node in ["a", "b", "w"] { try start(node) }
    }

    func signal(_ node: String, _ signal: Int32) {
        if let pid = processes[node] { kill(pid, signal) }
    }

    /// Waits for the process to exit and returns its exit status (nil: still running at the limit).
    func waitExit(_ node: String, seconds: Double) -> Int32? {
        guard let pid = processes[node] else { return nil }
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                processes[node] = nil
                return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            }
            usleep(20_000)
        }
        return nil
    }

    func status(_ node: String) -> AgentStatus? {
        guard let data = try? httpGet(port: apiPort(node), path: "/v1/status") else { return nil }
        return try? JSONDecoder().decode(AgentStatus.self, from: data)
    }

    /// Polls until `condition` holds (true) or the limit passes (false).
    func wait(seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// Which node runs the group, as that node itself reports (nil: none or several).
    func runningNodes(_ group: String = "svc") -> [String] {
        ["a", "b", "w"].filter { node in
            status(node)?.groups.contains { $0.id == group && $0.phase == "running" } ?? false
        }
    }

    struct JournalLine: Equatable {
        var at: UInt64
        var kind: String
        var node: String
        var epoch: UInt64
    }

    func journal() -> [JournalLine] {
        let text = (try? String(contentsOfFile: directory + "/journal", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 4, let at = UInt64(parts[0]), let epoch = UInt64(parts[3]) else { return nil }
            return JournalLine(at: at, kind: String(parts[1]), node: String(parts[2]), epoch: epoch)
        }
    }

    /// The safety property, from the resources' own records: the intervals during which
    /// different nodes ran the group never overlap, and every epoch was started once.
    func overlaps() -> [String] {
        var open: [String: JournalLine] = [:]
        var problems: [String] = []
        var epochs: Set<UInt64> = []
        for line in journal().sorted(by: { $0.at < $1.at }) {
            if line.kind == "start" {
                for (other, since) in open where other != line.node {
                    problems.append("\(line.node) started epoch \(line.epoch) while \(other) ran epoch \(since.epoch)")
                }
                if !epochs.insert(line.epoch).inserted { problems.append("epoch \(line.epoch) started twice") }
                open[line.node] = line
            } else {
                open[line.node] = nil
            }
        }
        return problems
    }

    func logs() -> String {
        ["a", "b", "w"].map { node in
            let text = (try? String(contentsOfFile: logPath(node), encoding: .utf8)) ?? ""
            return "---- \(node).log (last 40 lines)\n" + text.split(separator: "\n").suffix(40).joined(separator: "\n")
        }.joined(separator: "\n") + "\n---- journal\n" + ((try? String(contentsOfFile: directory + "/journal", encoding: .utf8)) ?? "")
    }

    func stopAll() {
        for (_, pid) in processes {
            kill(pid, SIGCONT)
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        processes.removeAll()
        // The guards end when their agent's pipe closes; give them a moment to tear down.
        usleep(300_000)
    }

    deinit {
        stopAll()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

func run(_ argv: [String]) throws {
    let result = try runCapturing(argv)
    guard result.status == 0 else {
        throw TestFailure("\(argv.joined(separator: " ")) exited with \(result.status): \(result.output)")
    }
}

/// Runs a command to completion (posix_spawn and waitpid: Foundation's Process can miss the
/// exit of a child here) and returns its exit status and output (stdout and stderr).
func runCapturing(_ argv: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let outputPath = NSTemporaryDirectory() + "tandem-run-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
    defer { unlink(outputPath) }
    let pid = try spawn(argv, log: outputPath, environment: environment)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (code, output)
}

func spawn(_ argv: [String], log: String, environment: [String: String] = [:]) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    var cEnv: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer {
        for p in cArgs { free(p) }
        for p in cEnv { free(p) }
    }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, &cEnv)
    guard rc == 0 else { throw TestFailure("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
    return pid
}

/// A blocking GET on loopback (the test's own client, independent of the CLI's).
func httpGet(port: Int, path: String, timeout: Double = 1) throws -> Data {
    try httpRequest("GET", port: port, path: path, timeout: timeout)
}

/// A blocking request on loopback; throws unless the answer is 200.
func httpRequest(_ method: String, port: Int, path: String, body: [UInt8] = [], timeout: Double = 1) throws -> Data {
    let answer = try httpCall(method, port: port, path: path, body: body, timeout: timeout)
    guard answer.status == 200 else {
        throw TestFailure("HTTP answer: \(answer.status) \(String(decoding: answer.body.prefix(300), as: UTF8.self))")
    }
    return answer.body
}

/// An HTTP answer: status, header lines (lowercased names) and the de-chunked body.
struct HTTPAnswer {
    var status: Int
    var headers: [String: String]
    var body: Data
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
}

/// Connects to 127.0.0.1:`port` and sends one request (`Connection: close`).
func httpSend(_ method: String, port: Int, path: String, headers: [String: String] = [:], body: [UInt8] = [], timeout: Double) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket") }
    var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(fd)
        throw TestFailure("connect \(port): \(String(cString: strerror(errno)))")
    }
    var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
    for (name, value) in headers { head += "\(name): \(value)\r\n" }
    let request = Array((head + "\r\n").utf8) + body
    var offset = 0
    while offset < request.count {
        let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
        guard n > 0 else {
            close(fd)
            throw TestFailure("send to \(port): \(String(cString: strerror(errno)))")
        }
        offset += n
    }
    return fd
}

/// A blocking request on loopback: the whole answer, whatever its status.
func httpCall(
    _ method: String, port: Int, path: String, headers: [String: String] = [:], body: [UInt8] = [], timeout: Double = 1
) throws -> HTTPAnswer {
    let fd = try httpSend(method, port: port, path: path, headers: headers, body: body, timeout: timeout)
    defer { close(fd) }
    var data = Data()
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &chunk, chunk.count, 0)
        if n <= 0 { break }
        data.append(contentsOf: chunk[0..<n])
    }
    guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { throw TestFailure("no HTTP answer from \(port)") }
    let lines = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
    let parts = lines[0].split(separator: " ")
    guard parts.count >= 2, let status = Int(parts[1]) else { throw TestFailure("bad status line \(lines[0])") }
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    var body = Data(data[split.upperBound...])
    if headers["transfer-encoding"]?.lowercased() == "chunked" { body = dechunk(body) }
    return HTTPAnswer(status: status, headers: headers, body: body)
}

/// Strips chunk framing (enough for complete answers in these tests).
func dechunk(_ body: Data) -> Data {
    var out = Data()
    var rest = body
    while let lineEnd = rest.range(of: Data("\r\n".utf8)) {
        let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self), radix: 16) ?? 0
        if size == 0 || lineEnd.upperBound + size > rest.endIndex { break }
        out.append(rest[lineEnd.upperBound..<(lineEnd.upperBound + size)])
        rest = Data(rest[min(rest.endIndex, lineEnd.upperBound + size + 2)...])
    }
    return out
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
