#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import TandemCore

/// The agent's clock: CLOCK_BOOTTIME, which never goes backwards, is not adjusted by NTP
/// steps, and keeps counting while the machine is suspended (a lease taken before a
/// suspend has expired after it). Every process on the machine reads the same clock, so the
/// guard process compares the agent's deadlines with its own readings (DESIGN §4: a node
/// compares only readings of its own clock).
public enum AgentClock {
    public static func now() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return Instant(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }

    /// Wall-clock time in Unix milliseconds, for event records shown to people only.
    public static func wallMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// systemd's notification protocol (sd_notify(3)) without libsystemd: a datagram to the
/// socket named by NOTIFY_SOCKET. Does nothing when not started by systemd.
public struct SystemdNotifier: Sendable {
    let socketPath: String?
    /// WATCHDOG_USEC/2, when systemd expects a watchdog ping.
    public let watchdogInterval: Duration?

    public init(environment: [String: String]) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        if let usec = environment["WATCHDOG_USEC"].flatMap(Int64.init), usec > 0 {
            watchdogInterval = .microseconds(usec / 2)
        } else {
            watchdogInterval = nil
        }
    }

    public var isActive: Bool { socketPath != nil }

    /// Sends one notification, e.g. "READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=...".
    public func notify(_ state: String) {
        guard var path = socketPath else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // An abstract socket is written with a leading "@".
        let abstract = path.hasPrefix("@")
        if abstract { path.removeFirst() }
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count + (abstract ? 1 : 0) < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let offset = abstract ? 1 : 0
            if abstract { raw[0] = 0 }
            for (i, b) in bytes.enumerated() { raw[offset + i] = b }
        }
        // A path ends with its NUL; an abstract name starts with one: one byte more either way.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        let message = Array(state.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, length) }
            }
        }
    }
}
