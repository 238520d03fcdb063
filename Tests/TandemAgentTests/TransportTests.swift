import Foundation
import NIOCore
import NIOPosix
import Synchronization
@testable import TandemAgent
import TandemConfig
import TandemCore
import TandemWire
import Testing

/// The links of two real transports on loopback (no root): probes, link state, and how often
/// a link that carries the protocol's own datagrams is probed.
@Suite(.serialized) struct TransportTests {
    static let key = try! ClusterKey(bytes: Array(0..<32))
    static let interval = Duration.milliseconds(200)

    /// Transports of nodes a and b (w is configured but absent), each on its own event loop.
    final class Pair: Sendable {
        let group: MultiThreadedEventLoopGroup
        let a: Transport
        let b: Transport
        let received: Deliveries

        /// Binds a's and b's links on ports `base`+10 and `base`+20 (above the ephemeral
        /// range, 32768–60999 on Debian, so no outgoing connection of another test can hold them).
        init(base: Int) async throws {
            let file = try ConfigFile.parse(yaml: """
                cluster: links
                key_file: /nonexistent/cluster.key
                data_dir: /nonexistent
                timing: fast
                nodes:
                \(ProcessCluster.loopbackNodes(portBase: base))
                groups:
                  svc:
                    prefer: [a, b]
                    resources:
                      - exec: {start: /bin/true, stop: /bin/true}
                """, source: "test")
            let received = Deliveries()
            self.received = received
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
            self.group = group
            func transport(_ me: NodeID) throws -> Transport {
                try Transport(
                    loop: group.next(), me: me, file: file,
                    sealer: Sealer(cluster: "links", key: TransportTests.key, sender: me, incarnation: 1),
                    opener: Opener(cluster: "links", keys: [TransportTests.key], receiver: me, senders: ["a", "b", "w"]),
                    probeInterval: TransportTests.interval,
                    deliver: { _, _ in received.count.withLock { $0[me, default: 0] += 1 } }, log: { _ in })
            }
            a = try transport("a")
            b = try transport("b")
            do {
                try await a.bind(group: group)
                try await b.bind(group: group)
            } catch {
                try await close()
                throw error
            }
        }

        /// A pair on ports nobody else uses: another base when one is taken.
        static func make() async throws -> Pair {
            var lastError: (any Error)?
            for _ in 0..<5 {
                do {
                    return try await Pair(base: Int.random(in: 610...640) * 100)
                } catch {
                    lastError = error
                }
            }
            throw lastError!
        }

        /// Runs `body` on the transport's loop (it is confined to it).
        func on<T: Sendable>(_ transport: Transport, _ body: @escaping @Sendable (Transport) -> T) async throws -> T {
            try await transport.loop.submit { body(transport) }.get()
        }

        func link(_ transport: Transport, to peer: NodeID, _ k: Int) async throws -> Transport.LinkState {
            try await on(transport) { $0.peers[peer]!.links[k] }
        }

        /// One probe round on both sides, then waits for a's probes to b to be answered.
        func probeRound() async throws {
            try await on(a) { $0.probe(now: AgentClock.now()) }
            try await on(b) { $0.probe(now: AgentClock.now()) }
            try await waitUntil("a's probes to b answered on both links") {
                try await self.on(self.a) { a in a.peers["b"]!.links.allSatisfy { $0.window.last?.answered == true } }
            }
        }

        func delivered(to node: NodeID) -> Int { received.count.withLock { $0[node] ?? 0 } }

        /// Polls `condition` every millisecond for up to 5 s (loopback answers in well under
        /// one; the bound only keeps a loaded CI machine from failing the test).
        func waitUntil(_ what: String, _ condition: @escaping @Sendable () async throws -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(5)
            while try await !condition() {
                guard ContinuousClock.now < deadline else {
                    Issue.record("timed out waiting until \(what)")
                    return
                }
                try await Task.sleep(for: .milliseconds(1))
            }
        }

        func close() async throws {
            try await on(a) { $0.close() }
            try await on(b) { $0.close() }
            try await group.shutdownGracefully()
        }
    }

    /// Core messages delivered, per receiving node.
    final class Deliveries: Sendable {
        let count = Mutex<[NodeID: Int]>([:])
    }

    static let heartbeat = Message.append(Append(
        term: 1, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, round: 1, owned: [:],
        echo: nil))

    @Test func linksComeUpAfterTwoAnsweredProbes() async throws {
        let pair = try await Pair.make()
        try await pair.probeRound()
        #expect(try await pair.link(pair.a, to: "b", 0).up == false, "one answer is not enough")
        try await pair.probeRound()
        for k in 0..<2 {
            let link = try await pair.link(pair.a, to: "b", k)
            #expect(link.up, "link \(k + 1) is up after two answered probes")
            #expect(link.rtt != nil && link.loss == 0)
        }
        #expect(try await pair.link(pair.a, to: "w", 0).up == false, "w never answers")
        try await pair.close()
    }

    @Test func aBusyLinkIsProbedEveryFifthIntervalAndAQuietOneEveryInterval() async throws {
        let pair = try await Pair.make()
        try await pair.probeRound()
        try await pair.probeRound()
        let before = try await pair.link(pair.a, to: "b", 0).probeSequence
        // Busy: a protocol datagram of b's reaches a just before each of a's probe rounds.
        for round in 1...10 {
            try await pair.on(pair.b) {
                $0.send(TransportTests.heartbeat, to: "a")
                $0.flush()
            }
            try await pair.waitUntil("heartbeat \(round) delivered") { pair.delivered(to: "a") >= round }
            try await pair.on(pair.a) { $0.probe(now: AgentClock.now()) }
        }
        let busy = try await pair.link(pair.a, to: "b", 0)
        #expect(busy.probeSequence - before == 2, "10 busy intervals: probes in 2 of them, not \(busy.probeSequence - before)")
        #expect(busy.up)
        try await Task.sleep(for: .milliseconds(20))
        #expect(pair.delivered(to: "a") == 10, "every heartbeat delivered once (the copy of the other link dropped)")
        // Quiet: no protocol datagram for longer than an interval (answers to probes do not
        // count), so every round probes.
        try await Task.sleep(for: TransportTests.interval + .milliseconds(20))
        for _ in 0..<3 {
            try await pair.on(pair.a) { $0.probe(now: AgentClock.now()) }
        }
        #expect(try await pair.link(pair.a, to: "b", 0).probeSequence - busy.probeSequence == 3)
        // The peer that never answers is probed every interval all along.
        #expect(try await pair.link(pair.a, to: "w", 1).probeSequence == before + 13)
        try await pair.close()
    }

    /// A heartbeat sealed for the stream.
    static func frame(_ transport: Transport) -> ByteBuffer {
        transport.sealer.seal(.core(heartbeat), channel: .stream)
    }

    /// The link a stream runs on: nil while there is none.
    static func streamLink(_ transport: Transport, to peer: NodeID) -> Int? {
        if case .connected(_, let link) = transport.peers[peer]!.stream { return link }
        return nil
    }

    /// A drill silences the link the stream runs on. On the sending side the stream moves
    /// to the other link at the next frame; on the receiving side the frames that arrive over
    /// the silenced link are dropped and the stream is closed, so its sender moves it too.
    @Test func aStreamLeavesALinkADrillSilenced() async throws {
        let pair = try await Pair.make()
        try await pair.probeRound()
        try await pair.probeRound()
        try await pair.on(pair.a) { $0.sendFrame(TransportTests.frame($0), to: "b") }
        try await pair.waitUntil("the first frame delivered") { pair.delivered(to: "b") == 1 }
        let first = try #require(try await pair.on(pair.a) { TransportTests.streamLink($0, to: "b") })

        // Sender side: a silences the stream's link.
        try await pair.on(pair.a) { $0.muted = [first] }
        try await pair.on(pair.a) { $0.sendFrame(TransportTests.frame($0), to: "b") }
        try await pair.waitUntil("the second frame delivered") { pair.delivered(to: "b") == 2 }
        let second = try await pair.on(pair.a) { TransportTests.streamLink($0, to: "b") }
        #expect(second == 1 - first, "the stream stayed on the silenced link \(first + 1)")
        try await pair.on(pair.a) { $0.muted = [] }

        // Receiving side: b silences the link a's stream now runs on.
        try await pair.on(pair.b) { $0.muted = [1 - first] }
        try await pair.on(pair.a) { $0.sendFrame(TransportTests.frame($0), to: "b") }
        try await pair.waitUntil("b closed the stream") { try await pair.on(pair.a) { TransportTests.streamLink($0, to: "b") } == nil }
        try await Task.sleep(for: .milliseconds(20))
        #expect(pair.delivered(to: "b") == 2, "a frame that came over a silenced link was delivered")
        // b also answers no probe there; once a sees the link down, its next stream avoids it.
        try await pair.on(pair.a) { $0.peers["b"]!.links[1 - first].up = false }
        try await pair.on(pair.a) { $0.sendFrame(TransportTests.frame($0), to: "b") }
        try await pair.waitUntil("the fourth frame delivered") { pair.delivered(to: "b") == 3 }
        #expect(try await pair.on(pair.a) { TransportTests.streamLink($0, to: "b") } == first)
        try await pair.close()
    }
}
