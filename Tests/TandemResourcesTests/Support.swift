import Glibc
import Logging
import Synchronization
import TandemConfig
import TandemCore
import Testing
@testable import TandemResources

let testLogger = Logger(label: "tandem.resources.test")

func context(_ group: GroupID = "g", role: String = "active", epoch: Epoch = 7, reason: String = "test") -> ResourceContext {
    ResourceContext(group: group, role: role, epoch: epoch, node: "n1", reason: reason)
}

/// A fresh directory under /tmp, removed by `remove()`.
struct TempDir {
    let path: String
    init() {
        var template = Array("/tmp/tandem-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }
    func file(_ name: String) -> String { "\(path)/\(name)" }
    func write(_ name: String, _ text: String, executable: Bool = false) {
        let fd = open(file(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, executable ? 0o755 : 0o644)
        precondition(fd >= 0, "cannot write \(file(name))")
        _ = text.utf8CString.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
    }
    func read(_ name: String) -> String? { readSmallFile(file(name)) }
    func exists(_ name: String) -> Bool { access(file(name), F_OK) == 0 }
    func remove() { shSync("rm -rf '\(path)'") }
}

/// The state letter of a process ("S", "Z", …) and its parent, or nil when it is gone.
func processInfo(_ pid: pid_t) -> (state: Character, ppid: pid_t)? {
    guard let stat = readSmallFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 1, let state = fields[0].first, let ppid = pid_t(fields[1]) else { return nil }
    return (state, ppid)
}

/// Gone, or a zombie of someone else (orphans are reparented to a PID 1 that may not reap).
func isDead(_ pid: pid_t) -> Bool {
    guard let info = processInfo(pid) else { return true }
    return info.state == "Z" && info.ppid != getpid()
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
func eventually(_ timeout: Duration = .seconds(5), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

/// A TCP socket listening on 127.0.0.1 at a free port, answering each connection with
/// `respond(request)` from a thread of its own (the accept loop ends on `close()`).
final class TinyServer: Sendable {
    let fd: Int32
    let port: Int

    init(respond: (@Sendable (String) -> String)? = nil) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                precondition(bind(fd, $0, length) == 0)
                precondition(getsockname(fd, $0, &length) == 0)
            }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        precondition(listen(fd, 16) == 0)
        guard let respond else { return }  // a listener that never accepts: the backlog answers
        startThread {
            while true {
                let connection = accept(fd, nil, nil)
                guard connection >= 0 else { return }
                var request: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
                    if n <= 0 { break }
                    request += buffer[..<n]
                    if String(decoding: request, as: UTF8.self).contains("\r\n\r\n") { break }
                }
                let response = Array(respond(String(decoding: request, as: UTF8.self)).utf8)
                _ = response.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                Glibc.close(connection)
            }
        }
    }

    func close() {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
func closedPort() -> Int {
    let server = TinyServer()
    server.close()
    return server.port
}

/// Collects a HealthMonitor's events as they come.
actor EventLog {
    private(set) var events: [HealthEvent] = []
    func append(_ event: HealthEvent) { events.append(event) }
    func contains(_ event: HealthEvent) -> Bool { events.contains(event) }
    func checkEvents(passing: Bool) -> [HealthEvent] {
        events.filter { if case .check(_, _, let p, _) = $0 { return p == passing } else { return false } }
    }
}

/// Runs `/bin/sh -c command` synchronously (test set-up and clean-up only); its exit code.
@discardableResult
func shSync(_ command: String) -> Int32 {
    var pid: pid_t = 0
    let words: [String] = ["/bin/sh", "-c", command]
    var argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) }
    argv.append(nil)
    defer { argv.forEach { free($0) } }
    guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    return status & 0x7f == 0 ? (status >> 8) & 0xff : -1
}

/// A network namespace with a veth pair v0 ↔ v1, both up; removed by `remove()`.
struct TestNamespace {
    let name: String

    /// Whether this machine lets the tests make one: root, `ip`, network namespaces and veth.
    static let usable: Bool = {
        guard getuid() == 0 else { return false }
        let probe = "tandem-probe-\(getpid())"
        defer { shSync("ip netns del \(probe) 2>/dev/null") }
        return shSync("ip netns add \(probe) && ip -n \(probe) link add v0 type veth peer name v1") == 0
    }()

    static let hasTcpdump = shSync("command -v tcpdump >/dev/null") == 0

    init(_ suffix: String) throws {
        name = "tandem-test-\(getpid())-\(suffix)"
        shSync("ip netns del \(name) 2>/dev/null")
        let rc = shSync("""
            ip netns add \(name) && ip -n \(name) link add v0 type veth peer name v1 && \
            ip -n \(name) link set lo up && ip -n \(name) link set v0 up && ip -n \(name) link set v1 up
            """)
        try #require(rc == 0, "cannot set up network namespace \(name)")
    }

    func remove() { shSync("ip netns del \(name)") }

    /// `ip -o addr show dev DEVICE` in the namespace.
    func addresses(_ device: String = "v0") async -> String {
        await runShell("ip -n \(name) -o addr show dev \(device)", timeout: .seconds(5)).output
    }

    /// Starts tcpdump on v1 (the peer of v0) for `count` packets matching `filter`, waits until
    /// it listens, and returns the task that yields its output; nil (with a note) without tcpdump.
    func capture(_ filter: String, count: Int, in dir: TempDir) async -> Task<String, Never>? {
        guard Self.hasTcpdump else {
            print("note: tcpdump not installed; announcements are sent but not captured")
            return nil
        }
        let out = dir.file("capture.txt")
        let err = dir.file("capture.err")
        let task = Task {
            _ = await runShell("ip netns exec \(name) tcpdump -i v1 -n -e -v -l -c \(count) '\(filter)' > \(out) 2> \(err)",
                               timeout: .seconds(5))
            return readSmallFile(out) ?? ""
        }
        let listening = await eventually(.seconds(5)) { (readSmallFile(err) ?? "").contains("listening on") }
        if !listening {
            print("note: tcpdump did not start: \(readSmallFile(err) ?? "")")
            task.cancel()
            return nil
        }
        return task
    }
}
