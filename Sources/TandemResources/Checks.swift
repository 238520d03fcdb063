import Glibc
import TandemConfig
import TandemCore

/// The result of one run of a check.
public enum CheckOutcome: Sendable, Equatable {
    case ok
    /// The reason names the check and what failed: "tcp 127.0.0.1:5060: connection refused".
    case failed(String)

    public var isOK: Bool { self == .ok }
}

extension CheckSpec.Kind {
    /// What the check tests, in the words of the config: "tcp 127.0.0.1:5060", "disk /var/lib".
    public var name: String {
        switch self {
        case .exec(let command): "exec `\(shortened(command))`"
        case .tcp(let endpoint): "tcp \(endpoint)"
        case .http(let url, _, _): "http \(url)"
        case .interface(let device): "interface \(device)"
        case .upstream(let host, let port?): "upstream \(Endpoint(host: host, port: port))"
        case .upstream(let host, nil): "upstream \(host)"
        case .disk(let path, _): "disk \(path)"
        }
    }
}

/// Runs one check once, within `timeout` (a check never holds its caller much longer: what
/// cannot be interrupted is left to finish in the background). `environment` is added to the
/// environment of `exec` checks (the TANDEM_* variables of the group).
///
/// - exec: `/bin/sh -c COMMAND` exits 0.
/// - tcp: a TCP connection is established.
/// - http: a plain HTTP/1.1 GET (`Connection: close`, no TLS) answers `status`, and the body
///   contains `body` when given.
/// - interface: /sys/class/net/DEV exists, operstate is up (or unknown, as for loopback and
///   dummies), carrier is 1.
/// - upstream: with a port, a TCP connection; without, an ICMP echo: an unprivileged ICMP
///   socket, else a raw one (root), else `ping -c 1`.
/// - disk: a small file can be created, written, fsynced and removed under the path, and the
///   file system has at least `minFreeBytes` available to unprivileged users.
public func runCheck(_ kind: CheckSpec.Kind, timeout: Duration, environment: [String: String] = [:]) async -> CheckOutcome {
    let failure: String?
    switch kind {
    case .exec(let command):
        let result = await runShell(command, environment: environment, timeout: timeout)
        failure = result.succeeded ? nil : "\(result.status)\(result.output.isEmpty ? "" : ": " + lastLine(result.output))"
    case .tcp(let endpoint):
        failure = await tcpConnect(host: endpoint.host, port: endpoint.port, timeout: timeout)
    case .http(let url, let status, let body):
        failure = await httpCheck(url: url, status: status, body: body, timeout: timeout)
    case .interface(let device):
        failure = interfaceCheck(device: device)
    case .upstream(let host, let port?):
        failure = await tcpConnect(host: host, port: port, timeout: timeout)
    case .upstream(let host, nil):
        failure = await ping(host: host, timeout: timeout)
    case .disk(let path, let minFreeBytes):
        failure = await onThread(timeout: timeout) { diskCheck(path: path, minFreeBytes: minFreeBytes) }
            ?? "no answer within \(timeout.shortDescription) (file system hung?)"
    }
    return failure.map { .failed("\(kind.name): \($0)") } ?? .ok
}

private func lastLine(_ text: String) -> String {
    text.split(separator: "\n").last.map(String.init) ?? ""
}

/// nil when `device` is up with carrier; otherwise what is wrong.
func interfaceCheck(device: String, sysfs: String = "/sys/class/net") -> String? {
    let directory = "\(sysfs)/\(device)"
    guard access(directory, F_OK) == 0 else { return "no such interface" }
    let operstate = readSmallFile("\(directory)/operstate")?.trimmingWhitespace() ?? "unreadable"
    guard operstate == "up" || operstate == "unknown" else { return "operstate \(operstate)" }
    // Reading carrier fails (EINVAL) while the interface is administratively down.
    guard let carrier = readSmallFile("\(directory)/carrier")?.trimmingWhitespace() else { return "no carrier (interface down)" }
    guard carrier == "1" else { return "no carrier (cable or peer down)" }
    return nil
}

/// nil when a file can be written under `path` and enough space is free; otherwise what failed.
/// Blocking (fsync): run it on a thread of its own.
func diskCheck(path: String, minFreeBytes: UInt64) -> String? {
    let random = UInt64.random(in: .min ... .max)
    let file = "\(path)/.tandem-disk-check-\(getpid())-\(String(random, radix: 16))"
    let fd = open(file, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return "cannot create a file: \(errnoText(errno))" }
    let block = [UInt8](repeating: 0x2a, count: 4096)
    var problem: String?
    if block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) != block.count {
        problem = "cannot write: \(errnoText(errno))"
    } else if fsync(fd) != 0 {
        problem = "fsync failed: \(errnoText(errno))"
    }
    close(fd)
    if unlink(file) != 0, problem == nil { problem = "cannot remove \(file): \(errnoText(errno))" }
    if let problem { return problem }
    var info = statvfs()
    guard statvfs(path, &info) == 0 else { return "statvfs failed: \(errnoText(errno))" }
    let free = UInt64(info.f_bavail) * UInt64(info.f_frsize)
    guard free >= minFreeBytes else {
        return "\(formatBytes(free)) free, below the floor of \(formatBytes(minFreeBytes)); free some space"
    }
    return nil
}

/// "512 B", "1.5 MiB", "20.0 GiB".
func formatBytes(_ bytes: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(bytes) B" }
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) \(units[unit])"
}
