import NIOCore
import NIOPosix
import TandemConfig
import TandemCore
import TandemWire

/// The links (DESIGN §5). Control messages go as sealed UDP datagrams on every healthy link
/// at once (the receiver's replay window drops the copies); large messages (log batches,
/// snapshots) go as sealed frames on one TCP stream per peer over its best link, so they
/// never delay a heartbeat. Per link and peer it keeps RTT, loss, last seen and up/down.
///
/// Confined to the runtime's event loop: every method runs on it.
final class Transport: @unchecked Sendable {
    /// Datagrams above this go on the stream instead (no IP fragmentation on Ethernet).
    static let maxDatagramBytes = 1400
    /// How many probes the loss ratio is computed over.
    static let lossWindow = 50
    /// A link that carries the protocol's own datagrams is probed every this many intervals
    /// only: that traffic already proves it alive (`lastSeen`), and its probes then only keep
    /// RTT and loss current (the loss ratio then spans 50 probes over 12.5 s at `fast`).
    /// Probes and their answers were about a quarter of an idle leader's datagrams at `fast`.
    static let busyProbeEvery = 5

    let loop: any EventLoop
    let me: NodeID
    let localLinks: [Endpoint]
    var sealer: Sealer
    var opener: Opener
    let probeInterval: Duration
    let deliver: (NodeID, Message) -> Void
    /// Messages between runtimes (configuration checks).
    var deliverAgent: ((NodeID, AgentMessage) -> Void)?
    let log: (String) -> Void
    /// Links silenced by a drill (0-based): nothing is sent on them and what arrives is
    /// dropped, as if the cable were pulled, except the drills' own messages. A stream on a
    /// silenced link (some, not all) is closed when it is next used, either way: the sender
    /// reconnects over another link, as after a real link failure, instead of feeding a
    /// stream whose frames are all dropped.
    var muted: Set<Int> = []
    var allMuted: Bool { !muted.isEmpty && muted.count >= localLinks.count }
    /// Told when a link to a peer comes up or goes down: peer, link (1-based), up, why.
    var linkChanged: ((NodeID, Int, Bool, String) -> Void)?

    var udp: [(any Channel)?] = []
    var listeners: [any Channel] = []
    var peers: [NodeID: Peer] = [:]
    var closing = false
    /// Links whose socket has datagrams written but not flushed.
    var unflushed: [Int] = []

    struct Peer {
        var addresses: [SocketAddress?]
        var links: [LinkState]
        var stream: Stream = .idle
        var queued: [ByteBuffer] = []
    }

    enum Stream {
        case idle
        case connecting(link: Int)
        case connected(any Channel, link: Int)
    }

    /// One path to one peer: the k-th link of both nodes.
    struct LinkState {
        var up = false
        var lastSeen: Instant?
        var rtt: Duration?
        var consecutiveReplies = 0
        var probeSequence: UInt64 = 0
        /// When the peer's last protocol datagram (not a probe) arrived on this link.
        var lastProtocol: Instant?
        /// Probe intervals skipped in a row because the link was busy.
        var skipped = 0
        /// The last probes sent: sequence → answered.
        var window: [(sequence: UInt64, sentAt: Instant, answered: Bool)] = []

        var loss: Double {
            // Probes younger than one interval may still be answered: not counted yet.
            let settled = window.dropLast()
            guard !settled.isEmpty else { return 0 }
            return Double(settled.filter { !$0.answered }.count) / Double(settled.count)
        }
    }

    init(
        loop: any EventLoop, me: NodeID, file: TandemFile, sealer: Sealer, opener: Opener, probeInterval: Duration,
        deliver: @escaping (NodeID, Message) -> Void, log: @escaping (String) -> Void
    ) throws(AgentError) {
        self.loop = loop
        self.me = me
        self.localLinks = file.addresses[me]?.links ?? []
        self.sealer = sealer
        self.opener = opener
        self.probeInterval = probeInterval
        self.deliver = deliver
        self.log = log
        for (id, addresses) in file.addresses where id != me {
            var resolved: [SocketAddress?] = []
            for (k, endpoint) in addresses.links.enumerated() where k < localLinks.count {
                do {
                    resolved.append(try SocketAddress(ipAddress: endpoint.host, port: endpoint.port))
                } catch {
                    throw AgentError("link \(k + 1) of \(id) (\(endpoint)) is not an IP address: \(error)")
                }
            }
            peers[id] = Peer(addresses: resolved, links: Array(repeating: LinkState(), count: resolved.count))
        }
    }

    /// Binds a UDP socket and a TCP listener on every local link address.
    func bind(group: any EventLoopGroup) async throws(AgentError) {
        for (k, endpoint) in localLinks.enumerated() {
            let link = k
            do {
                let channel = try await datagramBootstrap(link: link).bind(host: endpoint.host, port: endpoint.port).get()
                udp.append(channel)
                let listener = try await ServerBootstrap(group: loop)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                    .childChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                            try channel.pipeline.syncOperations.addHandler(StreamInboundHandler(transport: self, link: link))
                        }
                    }
                    .bind(host: endpoint.host, port: endpoint.port).get()
                listeners.append(listener)
            } catch {
                throw AgentError("cannot listen on link \(k + 1) address \(endpoint) (UDP and TCP): \(error); is another agent running, or is the address not on this machine?")
            }
        }
    }

    func datagramBootstrap(link: Int) -> DatagramBootstrap {
        DatagramBootstrap(group: loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DatagramHandler(transport: self, link: link))
                }
            }
    }

    /// NIO closes a UDP socket on a send error it deems fatal (EPERM from a firewall rule,
    /// ENETUNREACH while an interface is down): the link's socket is bound again, every
    /// second until it works, so a link comes back when its network does.
    func datagramClosed(link k: Int, _ channel: any Channel) {
        guard !closing, k < udp.count, udp[k] === channel else { return }
        udp[k] = nil
        log("link \(k + 1): its UDP socket closed after a send error; binding it again")
        rebind(link: k, after: .milliseconds(100))
    }

    func rebind(link k: Int, after delay: TimeAmount) {
        loop.scheduleTask(in: delay) { [self] in
            guard !closing, udp[k] == nil else { return }
            let endpoint = localLinks[k]
            datagramBootstrap(link: k).bind(host: endpoint.host, port: endpoint.port).hop(to: loop).whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    if closing { channel.close(promise: nil) } else { udp[k] = channel }
                case .failure(let error):
                    log("link \(k + 1): cannot bind \(endpoint) again (\(error)); retrying in 1 s")
                    rebind(link: k, after: .seconds(1))
                }
            }
        }
    }

    func close() {
        closing = true
        for channel in udp.compactMap({ $0 }) { channel.close(promise: nil) }
        for channel in listeners { channel.close(promise: nil) }
        for (id, peer) in peers {
            if case .connected(let channel, _) = peer.stream { channel.close(promise: nil) }
            peers[id]!.stream = .idle
        }
    }

    // MARK: Sending

    func send(_ message: Message, to node: NodeID) {
        send(.core(message), to: node)
    }

    func send(_ payload: Payload, to node: NodeID) {
        guard peers[node] != nil else { return }
        let (packet, channel) = sealer.seal(payload, datagramLimit: Self.maxDatagramBytes)
        // A drill's own messages pass its silenced links (so that it can be ended early).
        let drill = Self.isDrillControl(payload)
        switch channel {
        case .datagram: sendDatagram(packet, to: node, drill: drill)
        case .stream: sendFrame(packet, to: node, drill: drill)
        }
    }

    /// On every link that is up, or on all when none is (a link may be up unnoticed); on
    /// every link for a drill's message.
    func sendDatagram(_ buffer: ByteBuffer, to node: NodeID, drill: Bool = false) {
        guard let peer = peers[node] else { return }
        let upLinks = peer.links.indices.filter { peer.links[$0].up }
        for k in (upLinks.isEmpty || drill ? Array(peer.links.indices) : upLinks) {
            sendDatagram(buffer, to: node, link: k, drill: drill)
        }
    }

    /// Queues the datagram on link `k`'s socket; `flush()` sends everything queued, several
    /// datagrams per system call (sendmmsg), so a heartbeat round costs one call per link.
    func sendDatagram(_ buffer: ByteBuffer, to node: NodeID, link k: Int, drill: Bool = false) {
        if !muted.isEmpty, !drill, muted.contains(k) { return }
        guard let address = peers[node]?.addresses[k], k < udp.count, let channel = udp[k] else { return }
        channel.write(AddressedEnvelope(remoteAddress: address, data: buffer), promise: nil)
        if !unflushed.contains(k) { unflushed.append(k) }
    }

    /// Sends every datagram queued since the last flush (the runtime calls it after each step).
    func flush() {
        for k in unflushed where k < udp.count { udp[k]?.flush() }
        unflushed.removeAll(keepingCapacity: true)
    }

    func sendFrame(_ buffer: ByteBuffer, to node: NodeID, drill: Bool = false) {
        if allMuted, !drill { return }
        guard var peer = peers[node] else { return }
        if case .connected(let channel, let link) = peer.stream, muted.contains(link), !allMuted {
            channel.close(promise: nil)
            peer.stream = .idle
            log("stream to \(node) over link \(link + 1) closed: a drill silenced the link")
        }
        switch peer.stream {
        case .connected(let channel, _):
            channel.writeAndFlush(buffer, promise: nil)
        case .connecting:
            if peer.queued.count < 64 { peer.queued.append(buffer) }
            peers[node] = peer
        case .idle:
            peer.queued = [buffer]
            let link = bestLink(peer)
            peer.stream = .connecting(link: link)
            peers[node] = peer
            connect(to: node, link: link)
        }
    }

    /// The up link with the lowest RTT, not one a drill silenced; else the first link not
    /// silenced; else link 1.
    func bestLink(_ peer: Peer) -> Int {
        let open = peer.links.indices.filter { !muted.contains($0) || allMuted }
        let up = open.filter { peer.links[$0].up && peer.addresses[$0] != nil }
        return up.min { (peer.links[$0].rtt ?? .seconds(1)) < (peer.links[$1].rtt ?? .seconds(1)) } ?? open.first ?? 0
    }

    func connect(to node: NodeID, link: Int) {
        guard let address = peers[node]?.addresses[link] else {
            peers[node]?.stream = .idle
            return
        }
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(1))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameEncoder()))
                    try channel.pipeline.syncOperations.addHandler(StreamOutboundWatcher(transport: self, node: node))
                }
            }
            .connect(to: address)
            .hop(to: loop)
            .whenComplete { [self] result in
                guard var peer = peers[node] else { return }
                switch result {
                case .success(let channel):
                    peer.stream = .connected(channel, link: link)
                    for frame in peer.queued { channel.write(frame, promise: nil) }
                    channel.flush()
                    peer.queued = []
                case .failure(let error):
                    log("stream to \(node) over link \(link + 1) failed: \(error); \(peer.queued.count) frames dropped (resent by the protocol)")
                    peer.stream = .idle
                    peer.queued = []
                }
                peers[node] = peer
            }
    }

    func streamClosed(_ node: NodeID, _ channel: any Channel) {
        guard case .connected(let current, _) = peers[node]?.stream, current === channel else { return }
        peers[node]!.stream = .idle
    }

    // MARK: Probes and link state

    /// Sends a probe on every link to every peer (on a busy link every `busyProbeEvery`-th
    /// time) and settles link states; call every probe interval.
    func probe(now: Instant) {
        for id in peers.keys.sorted() {
            for k in peers[id]!.links.indices {
                var link = peers[id]!.links[k]
                // Down after four intervals without hearing anything on this link.
                let silence = link.lastSeen.map { now - $0 } ?? .seconds(3600)
                if link.up, silence > probeInterval * 4 {
                    link.up = false
                    link.consecutiveReplies = 0
                    // The runtime records it as an event (logged once, at notice).
                    linkChanged?(id, k + 1, false, "nothing heard for \(silence)")
                }
                // Busy: the peer's protocol datagrams arrived within the interval (probes
                // and their answers do not count, or two nodes that only probe each other
                // would probe too rarely to keep their link up).
                let busy = link.lastProtocol.map { now - $0 < probeInterval } ?? false
                if link.up, busy, link.skipped < Self.busyProbeEvery - 1 {
                    link.skipped += 1
                    peers[id]!.links[k] = link
                    continue
                }
                link.skipped = 0
                link.probeSequence += 1
                link.window.append((link.probeSequence, now, false))
                if link.window.count > Self.lossWindow { link.window.removeFirst(link.window.count - Self.lossWindow) }
                peers[id]!.links[k] = link
                let probe = Probe(link: UInt8(k), sequence: link.probeSequence, sentAt: now.nanoseconds, isReply: false)
                sendDatagram(sealer.seal(.probe(probe), channel: .datagram), to: id, link: k)
            }
        }
        flush()
    }

    /// A drill's own control messages (fault, end, acknowledgement): the only traffic that
    /// crosses links a drill silenced.
    static func isDrillControl(_ payload: Payload) -> Bool {
        guard case .agent(let message) = payload else { return false }
        switch message {
        case .drillFault, .drillEnd, .drillAck: return true
        default: return false
        }
    }

    /// Whether any link to `node` is up now.
    func isReachable(_ node: NodeID) -> Bool {
        peers[node]?.links.contains { $0.up } ?? false
    }

    // MARK: Receiving

    func receivedDatagram(_ buffer: ByteBuffer, from address: SocketAddress, link k: Int) {
        // A link a drill silenced drops what arrives before it is opened: opening it would
        // take its counter into the replay window, and the copy on a working link would then
        // be refused as a duplicate. (With every link silenced, the drill's own messages
        // are still opened and delivered below.)
        if !muted.isEmpty, muted.contains(k), !allMuted { return }
        switch opener.open(buffer) {
        case .failure:
            return  // counted by reason in the opener
        case .success(let opened):
            if !muted.isEmpty, muted.contains(k) {
                // Silenced by a drill: as if nothing came, except the drill's own messages.
                if Self.isDrillControl(opened.payload), case .agent(let message) = opened.payload { deliverAgent?(opened.sender, message) }
                return
            }
            let now = AgentClock.now()
            guard var peer = peers[opened.sender], k < peer.links.count else { return }
            peer.links[k].lastSeen = now
            switch opened.payload {
            case .probe(let probe) where !probe.isReply:
                var reply = probe
                reply.isReply = true
                peers[opened.sender] = peer
                let sealed = sealer.seal(.probe(reply), channel: .datagram)
                if k < udp.count, let channel = udp[k] {
                    channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: sealed), promise: nil)
                }
            case .probe(let probe):
                var link = peer.links[k]
                if let i = link.window.lastIndex(where: { $0.sequence == probe.sequence }), !link.window[i].answered {
                    link.window[i].answered = true
                    let sample = now - Instant(nanoseconds: probe.sentAt)
                    link.rtt = link.rtt.map { ($0 * 7 + sample) / 8 } ?? sample
                    link.consecutiveReplies += 1
                    if !link.up, link.consecutiveReplies >= 2 {
                        link.up = true
                        linkChanged?(opened.sender, k + 1, true, "two probes answered, rtt \(formatMilliseconds(link.rtt!.nanoseconds))")
                    }
                }
                peer.links[k] = link
                peers[opened.sender] = peer
            case .core(let message):
                peer.links[k].lastProtocol = now
                peers[opened.sender] = peer
                deliver(opened.sender, message)
            case .agent(let message):
                peers[opened.sender] = peer
                deliverAgent?(opened.sender, message)
            }
        }
    }

    /// A frame that arrived on an inbound stream over link `k`. Returns false when the stream
    /// is to be closed: a drill silenced that link (and not every link), so the sender, which
    /// cannot tell, moves its stream to another link.
    func receivedFrame(_ buffer: ByteBuffer, link k: Int) -> Bool {
        if muted.contains(k), !allMuted { return false }
        guard case .success(let opened) = opener.open(buffer) else { return true }
        if allMuted, !Self.isDrillControl(opened.payload) { return true }
        switch opened.payload {
        case .core(let message): deliver(opened.sender, message)
        case .agent(let message): deliverAgent?(opened.sender, message)
        case .probe: break
        }
        return true
    }

    // MARK: Status

    struct LinkReport: Sendable {
        var peer: NodeID
        var link: Int
        var up: Bool
        var rtt: Duration?
        var loss: Double
        var lastSeen: Duration?
        var stream: Bool
    }

    func report(now: Instant) -> [LinkReport] {
        var out: [LinkReport] = []
        for id in peers.keys.sorted() {
            let peer = peers[id]!
            var streamLink: Int?
            if case .connected(_, let link) = peer.stream { streamLink = link }
            for (k, link) in peer.links.enumerated() {
                out.append(LinkReport(
                    peer: id, link: k + 1, up: link.up, rtt: link.rtt, loss: link.loss,
                    lastSeen: link.lastSeen.map { now - $0 }, stream: streamLink == k))
            }
        }
        return out
    }
}

// MARK: - Channel handlers

final class DatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let transport: Transport
    let link: Int
    init(transport: Transport, link: Int) {
        self.transport = transport
        self.link = link
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        transport.receivedDatagram(envelope.data, from: envelope.remoteAddress, link: link)
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ICMP port unreachable and the like: the peer is down; links notice by silence.
    }
    func channelInactive(context: ChannelHandlerContext) {
        transport.datagramClosed(link: link, context.channel)
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension DatagramHandler: Sendable {}

final class StreamInboundHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let transport: Transport
    let link: Int
    /// Closed because a drill silenced the link: later frames in the same read are dropped.
    private var closing = false
    init(transport: Transport, link: Int) {
        self.transport = transport
        self.link = link
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        guard transport.receivedFrame(unwrapInboundIn(data), link: link) else {
            closing = true
            transport.log("inbound stream on link \(link + 1) closed: a drill silenced the link")
            context.close(promise: nil)
            return
        }
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        transport.log("closing an inbound stream on link \(link + 1): \(error)")
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension StreamInboundHandler: Sendable {}

/// Notices when an outgoing stream closes, so that the next large message reconnects.
final class StreamOutboundWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let transport: Transport
    let node: NodeID
    init(transport: Transport, node: NodeID) {
        self.transport = transport
        self.node = node
    }
    func channelInactive(context: ChannelHandlerContext) {
        transport.streamClosed(node, context.channel)
        context.fireChannelInactive()
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension StreamOutboundWatcher: Sendable {}
