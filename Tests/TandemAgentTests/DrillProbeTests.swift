import Foundation
import TandemAgent
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The drill's client probe against real sockets on loopback.
@Suite struct DrillProbeTests {
    /// A UDP service on 127.0.0.1 that answers every datagram with `answer(request)`; its port.
    static func udpService(_ answer: @escaping @Sendable ([UInt8]) -> [UInt8]) throws -> (port: UInt16, fd: Int32) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestFailure("bind") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) } }
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 2048)
            while true {
                var from = sockaddr_storage()
                var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let n = withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buffer, buffer.count, 0, $0, &size) } }
                if n <= 0 { return }
                let reply = answer(Array(buffer[0..<n]))
                _ = withUnsafePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, reply, reply.count, 0, $0, size) } }
            }
        }
        thread.start()
        return (UInt16(bigEndian: address.sin_port), fd)
    }

    /// An echo that names its node: every attempt answered, by that node.
    @Test func udpEchoAnswersAreMatchedBySequence() async throws {
        let service = try Self.udpService { Array("a ".utf8) + $0 }
        defer { shutdown(service.fd, Int32(SHUT_RDWR)); close(service.fd) }
        let probe = DrillProbe(try DrillProbe.Target(parsing: "udp://127.0.0.1:\(service.port)"))
        probe.start()
        try await Task.sleep(for: .milliseconds(200))
        let samples = await probe.stop()
        #expect(samples.count >= 10)
        #expect(samples.allSatisfy { $0.ok && $0.detail == "a" }, "\(samples.filter { !$0.ok }.prefix(3))")
    }

    /// Answers that are not this probe's (a foreign service, a forged datagram with any
    /// sequence number) count as no answer and never crash the agent the probe runs in.
    @Test func foreignAnswersAreIgnored() async throws {
        let service = try Self.udpService { _ in Array("x ".utf8) + [UInt8](repeating: 0xFF, count: 8) }
        defer { shutdown(service.fd, Int32(SHUT_RDWR)); close(service.fd) }
        let probe = DrillProbe(try DrillProbe.Target(parsing: "udp://127.0.0.1:\(service.port)"))
        probe.start()
        try await Task.sleep(for: .milliseconds(150))
        let samples = await probe.stop()
        #expect(!samples.isEmpty && samples.allSatisfy { !$0.ok })
        #expect(probe.lastAnswered == nil)
    }

    @Test func targetsAreParsedOrRefusedByName() throws {
        #expect(try DrillProbe.Target(parsing: "http://10.0.0.1:8080/health") == .http(host: "10.0.0.1", port: 8080, path: "/health"))
        #expect(try DrillProbe.Target(parsing: "tcp://[fd00::1]:5060") == .tcp(host: "fd00::1", port: 5060))
        for bad in ["ftp://x:1", "udp://x", "tcp://:80", "http://h:0/"] {
            #expect(throws: AgentError.self) { try DrillProbe.Target(parsing: bad) }
        }
    }
}
