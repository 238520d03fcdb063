import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `tandem probe`: a client that asks a service every few milliseconds, the way a client
/// would, and records every answer and every gap: which node answered (the echo service
/// names itself), the longest outage, and whether answers ever came from two nodes in turn
/// (split brain as a client sees it).
struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe", abstract: "Probe a UDP echo service (tandem echo) every few ms; report gaps and who answered.")

    @Argument(help: "udp://HOST:PORT") var target: String
    @Option(help: "Milliseconds between requests.") var intervalMs: Double = 2
    @Option(help: "Seconds to probe.") var seconds: Double = 10
    @Option(help: "Write the summary as JSON here too.") var out: String?

    func run() async throws {
        guard target.hasPrefix("udp://"), let colon = target.lastIndex(of: ":"), let port = UInt16(target[target.index(after: colon)...]) else {
            throw CLIError("the target must be udp://HOST:PORT, got \(target.debugDescription)")
        }
        let host = String(target[target.index(target.startIndex, offsetBy: 6)..<colon])
        let summary = try UDPProbe.run(host: host, port: port, interval: intervalMs / 1000, seconds: seconds)
        let json = try JSONEncoder().encode(summary)
        if let out { try json.write(to: URL(fileURLWithPath: out)) }
        print(String(decoding: json, as: UTF8.self))
    }
}

/// `tandem echo --port P`: answers every UDP datagram with this node's name and the datagram.
struct EchoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo", abstract: "A UDP echo service that names its node (for probes and tests).")
    @Option var port: UInt16 = 9000
    @Option(help: "The IPv4 address to listen on, e.g. the group's VIP (answers then come from it).")
    var bind: String = "0.0.0.0"
    @Option(help: "The name to answer with (default: $TANDEM_NODE, else the host name).") var name: String?

    func run() async throws {
        let me = name ?? ProcessInfo.processInfo.environment["TANDEM_NODE"] ?? ProcessInfo.processInfo.hostName
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw CLIError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, self.bind, &address.sin_addr) == 1 else { throw CLIError("--bind must be an IPv4 address, got \(self.bind)") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw CLIError("cannot bind UDP \(self.bind):\(port): \(String(cString: strerror(errno)))") }
        let prefix = Array((me + " ").utf8)
        var buffer = [UInt8](repeating: 0, count: 2048)
        while true {
            var from = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = withUnsafeMutablePointer(to: &from) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buffer, buffer.count, 0, $0, &length) }
            }
            if n < 0 { if errno == EINTR { continue } else { break } }
            let reply = prefix + buffer[0..<n]
            _ = withUnsafePointer(to: &from) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, reply, reply.count, 0, $0, length) }
            }
        }
    }
}

struct ProbeSummary: Codable {
    var target: String
    var sent: Int
    var answered: Int
    var intervalMilliseconds: Double
    /// Answers per node.
    var byNode: [String: Int]
    /// Nodes in the order they answered, collapsing runs: ["a", "b"] is one move.
    var sequence: [String]
    /// Two nodes answered alternately: a node answered again after another had.
    var splitBrain: Bool
    /// The longest time between two consecutive answers, and when it began (s from start).
    var longestGapMilliseconds: Double
    var longestGapStartSeconds: Double
    /// The longest gap across a change of the answering node (the move itself, apart from
    /// pauses of the client or of a server that had nothing to do with it); nil: no move.
    var moveGapMilliseconds: Double?
    /// Every gap longer than 5 intervals: [start s, length ms, before node, after node].
    var gaps: [Gap]

    struct Gap: Codable {
        var startSeconds: Double
        var milliseconds: Double
        var before: String
        var after: String
    }
}

enum UDPProbe {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func run(host: String, port: UInt16, interval: Double, seconds: Double) throws -> ProbeSummary {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw CLIError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw CLIError("\(host) is not an IPv4 address") }
        // Not connected: a service listening on every address answers from the node's own
        // address, and that answer counts too (it names the node).
        let start = now()
        var next = start
        var sent = 0
        var answers: [(at: Double, node: String)] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while true {
            let t = now()
            if t - start >= seconds { break }
            if t >= next {
                var seq = UInt64(sent).bigEndian
                _ = withUnsafeBytes(of: &seq) { bytes in
                    withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            sendto(fd, bytes.baseAddress, 8, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                        }
                    }
                }
                sent += 1
                next += interval
                if next < t { next = t + interval }
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let wait = max(0, Int32(((next - now()) * 1000).rounded(.down)))
            if poll(&pfd, 1, wait) > 0 {
                while true {
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n <= 0 { break }
                    if let space = buffer[0..<n].firstIndex(of: 32) {
                        answers.append((now() - start, String(decoding: buffer[0..<space], as: UTF8.self)))
                    }
                }
            }
        }
        var byNode: [String: Int] = [:]
        var sequence: [String] = []
        var gaps: [ProbeSummary.Gap] = []
        var longest = 0.0
        var longestStart = 0.0
        var moveGap: Double?
        for (i, answer) in answers.enumerated() {
            byNode[answer.node, default: 0] += 1
            if sequence.last != answer.node { sequence.append(answer.node) }
            if i > 0 {
                let gap = answer.at - answers[i - 1].at
                if answer.node != answers[i - 1].node { moveGap = max(moveGap ?? 0, gap) }
                if gap > longest {
                    longest = gap
                    longestStart = answers[i - 1].at
                }
                if gap > 5 * interval {
                    gaps.append(.init(startSeconds: answers[i - 1].at, milliseconds: gap * 1000, before: answers[i - 1].node, after: answer.node))
                }
            }
        }
        // An outage still going on when the probe ends counts too (up to the end).
        let end = now() - start
        let lastAnswer = answers.last?.at ?? 0
        if end - lastAnswer > 5 * interval, end - lastAnswer > longest {
            longest = end - lastAnswer
            longestStart = lastAnswer
            gaps.append(.init(startSeconds: lastAnswer, milliseconds: (end - lastAnswer) * 1000,
                              before: answers.last?.node ?? "-", after: "(none before the probe ended)"))
        }
        let splitBrain = Set(sequence).count < sequence.count
        return ProbeSummary(
            target: "udp://\(host):\(port)", sent: sent, answered: answers.count, intervalMilliseconds: interval * 1000,
            byNode: byNode, sequence: sequence, splitBrain: splitBrain, longestGapMilliseconds: longest * 1000,
            longestGapStartSeconds: longestStart, moveGapMilliseconds: moveGap.map { $0 * 1000 }, gaps: gaps)
    }
}
