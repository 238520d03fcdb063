import NIOCore
import TandemCore
@testable import TandemWire
import Testing

/// Sealing and opening (`Sealer`, `Opener`): authentication, cluster separation, replay
/// window, incarnations, key rotation, counting of rejections.
@Suite struct SealingTests {
    static let key = try! ClusterKey(bytes: Array(0..<32))
    static let otherKey = try! ClusterKey(bytes: Array(100..<132))
    static let heartbeat = Payload.core(.append(Append(
        term: 3, prevIndex: 10, prevTerm: 3, entries: [], commit: 10, round: 7, owned: ["pbx": 2],
        echo: Stamp(at: Instant(nanoseconds: 123), incarnation: 4))))

    static func sealer(_ sender: NodeID = "a", incarnation: Incarnation = 1, key: ClusterKey = key, cluster: String = "plant") -> Sealer {
        Sealer(cluster: cluster, key: key, sender: sender, incarnation: incarnation)
    }

    static func opener(keys: [ClusterKey] = [key], receiver: NodeID = "b") -> Opener {
        Opener(cluster: "plant", keys: keys, receiver: receiver, senders: ["a", "b", "w"])
    }

    static func reason(_ result: Result<Opened, Rejection>) -> Rejection.Reason? {
        if case .failure(let rejection) = result { return rejection.reason }
        return nil
    }

    @Test func test_sealedPayload_opened_sameFieldsAndPayload() throws {
        var sealer = Self.sealer()
        var opener = Self.opener()
        for channel in [WireChannel.datagram, .stream] {
            for payload in [Self.heartbeat, .probe(Probe(link: 3, sequence: 9, sentAt: -4, isReply: true))] {
                let counter = sealer.nextCounter(on: channel)
                let opened = try opener.open(sealer.seal(payload, channel: channel)).get()
                #expect(opened == Opened(sender: "a", incarnation: 1, counter: counter, channel: channel, payload: payload))
            }
        }
        #expect(opener.rejections.isEmpty)
        // Counters are per channel.
        #expect(sealer.nextCounter(on: .datagram) == 2)
        #expect(sealer.nextCounter(on: .stream) == 2)
    }

    @Test func test_everyMessage_sealedAndOpened_equal() throws {
        var sealer = Self.sealer()
        var opener = Self.opener()
        for message in Fixtures.messages() {
            let opened = try opener.open(sealer.seal(.core(message), channel: .stream)).get()
            #expect(opened.payload == .core(message))
        }
    }

    @Test func test_wrongKey_forged() {
        var sealer = Self.sealer(key: Self.otherKey)
        var opener = Self.opener()
        let result = opener.open(sealer.seal(Self.heartbeat, channel: .datagram))
        #expect(Self.reason(result) == .forged)
        #expect(opener.rejections == [.forged: 1])
    }

    /// A payload goes as a datagram when its packet fits the limit, else on the stream;
    /// either way it is sealed once, so only that channel's counter moves.
    @Test func test_sealWithDatagramLimit_fitsOrGoesOnTheStream_oneCounterMoves() throws {
        var sealer = Self.sealer()
        var opener = Self.opener()
        let small = Self.heartbeat
        let large = Payload.core(.append(Append(
            term: 3, prevIndex: 10, prevTerm: 3,
            entries: (11...60).map { Entry(term: 3, index: LogIndex($0), command: .leader("a")) },
            commit: 10, round: 7, owned: [:], echo: nil)))
        let smallSize = sealer.packetBytes(plaintext: WireCodec.encode(small).count)
        let largeSize = sealer.packetBytes(plaintext: WireCodec.encode(large).count)
        #expect(smallSize < 1400 && largeSize > smallSize)

        let (first, firstChannel) = sealer.seal(small, datagramLimit: smallSize)
        #expect(firstChannel == .datagram && first.readableBytes == smallSize)
        let (second, secondChannel) = sealer.seal(large, datagramLimit: largeSize - 1)
        #expect(secondChannel == .stream && second.readableBytes == largeSize)
        #expect(sealer.nextCounter(on: .datagram) == 1 && sealer.nextCounter(on: .stream) == 1)
        #expect(try opener.open(first).get().payload == small)
        #expect(try opener.open(second).get().payload == large)
    }

    @Test func test_otherClusterName_foreignCluster() {
        var sealer = Self.sealer(cluster: "another-plant")
        var opener = Self.opener()
        var result: Result<Opened, Rejection>?
        do {
            // The packet is gone before the detail is read: the detail is made lazily, from
            // copies of what the packet said.
            let packet = sealer.seal(Self.heartbeat, channel: .datagram)
            result = opener.open(packet)
        }
        #expect(Self.reason(result!) == .foreignCluster)
        if case .failure(let rejection) = result! {
            let theirs = hex(Sealing.clusterID("another-plant")), ours = hex(Sealing.clusterID("plant"))
            #expect(rejection.detail == "cluster id \(theirs) is not this cluster's \(ours)")
        }
    }

    /// Any change to the header (sender, incarnation, counter, channel) or the body fails
    /// authentication; a forgery changes no state (the genuine packet is accepted afterwards).
    @Test func test_tamperedHeaderOrBody_forged_andStateUnchanged() throws {
        var sealer = Self.sealer()
        let packet = Array(sealer.seal(Self.heartbeat, channel: .datagram).readableBytesView)
        // Offsets: 0-2 magic, 3 version, 4 channel, 5-12 cluster id, 13 name length, 14 name,
        // 15-22 incarnation, 23-30 counter, 31... ciphertext and tag.
        var opener = Self.opener()
        for position in [4, 14, 15, 22, 23, 30, 31, packet.count / 2, packet.count - 1] {
            var tampered = packet
            tampered[position] ^= 0x01
            let result = opener.open(ByteBuffer(bytes: tampered))
            let reason = Self.reason(result)
            // Channel byte 1 is still a channel (forged); the sender "`" is unknown.
            #expect(reason == .forged || (position == 14 && reason == .unknownSender), "position \(position): \(String(describing: reason))")
        }
        // Counter 0 was never accepted: a forgery claiming it did not advance the window.
        #expect(try opener.open(ByteBuffer(bytes: packet)).get().counter == 0)
        // A forged packet with a far higher incarnation did not raise the incarnation.
        var forgedIncarnation = packet
        forgedIncarnation[22] = 0x7F
        #expect(Self.reason(opener.open(ByteBuffer(bytes: forgedIncarnation))) == .forged)
        #expect(try opener.open(sealer.seal(Self.heartbeat, channel: .datagram)).get().counter == 1)
    }

    @Test func test_truncatedPackets_truncatedOrForged() {
        var sealer = Self.sealer()
        let packet = Array(sealer.seal(Self.heartbeat, channel: .datagram).readableBytesView)
        var opener = Self.opener()
        for length in 0..<packet.count {
            let result = opener.open(ByteBuffer(bytes: packet[..<length]))
            let reason = Self.reason(result)
            if length < 31 + 16 {
                // Shorter than the header and the tag (or than the magic).
                #expect(reason == .truncated, "length \(length): \(String(describing: reason))")
            } else {
                #expect(reason == .forged, "length \(length): \(String(describing: reason))")
            }
        }
        #expect(opener.rejections[.truncated] == 31 + 16)
    }

    @Test func test_notTandemTraffic_badMagicOrUnsupportedVersion() {
        var sealer = Self.sealer()
        var packet = Array(sealer.seal(Self.heartbeat, channel: .datagram).readableBytesView)
        var opener = Self.opener()
        packet[3] = 2
        #expect(Self.reason(opener.open(ByteBuffer(bytes: packet))) == .unsupportedVersion)
        packet[0] = UInt8(ascii: "X")
        #expect(Self.reason(opener.open(ByteBuffer(bytes: packet))) == .badMagic)
        #expect(Self.reason(opener.open(ByteBuffer(bytes: Array(repeating: 0, count: 100)))) == .badMagic)
    }

    @Test func test_replayedPacket_duplicate() throws {
        var sealer = Self.sealer()
        var opener = Self.opener()
        let packet = sealer.seal(Self.heartbeat, channel: .datagram)
        _ = try opener.open(packet).get()
        // The same datagram arriving on a second and third link.
        let second = opener.open(packet)
        #expect(Self.reason(second) == .duplicate)
        #expect(Self.reason(opener.open(packet)) == .duplicate)
        #expect(opener.rejections == [.duplicate: 2])
        if case .failure(let rejection) = second {
            #expect(rejection.description.contains("already accepted"))
        }
    }

    /// Within the window, packets out of order are accepted once each; older than the window
    /// is refused; the window slides.
    @Test func test_replayWindow_edges() throws {
        var sealer = Self.sealer()
        var opener = Self.opener()
        var packets: [ByteBuffer] = []
        for _ in 0..<(Opener.windowSize + 10) { packets.append(sealer.seal(Self.heartbeat, channel: .datagram)) }
        // Newest first: counter windowSize + 9.
        let newest = Opener.windowSize + 9
        _ = try opener.open(packets[newest]).get()
        // Counter newest - 1023 is the oldest still in the window; newest - 1024 is too old.
        let oldestInWindow = newest - (Opener.windowSize - 1)
        #expect(try opener.open(packets[oldestInWindow]).get().counter == UInt64(oldestInWindow))
        #expect(Self.reason(opener.open(packets[oldestInWindow])) == .duplicate)
        let tooOld = opener.open(packets[oldestInWindow - 1])
        #expect(Self.reason(tooOld) == .duplicate)
        if case .failure(let rejection) = tooOld { #expect(rejection.detail.contains("older than the replay window")) }
        // Out of order within the window: each accepted once.
        for counter in stride(from: newest - 1, to: newest - 20, by: -3) {
            #expect(try opener.open(packets[counter]).get().counter == UInt64(counter))
            #expect(Self.reason(opener.open(packets[counter])) == .duplicate)
        }
        // The window slides: a jump forward makes the old slots reusable for new counters.
        var later: [ByteBuffer] = []
        for _ in 0..<600 { later.append(sealer.seal(Self.heartbeat, channel: .datagram)) }
        _ = try opener.open(later[599]).get()
        for buffer in later.dropLast().suffix(500) { _ = try opener.open(buffer).get() }
        #expect(Self.reason(opener.open(packets[newest])) == .duplicate)  // now too old
        #expect(Self.reason(opener.open(later[599])) == .duplicate)
        // A jump of more than the window clears it entirely.
        var far: ByteBuffer?
        for _ in 0..<3000 { far = sealer.seal(Self.heartbeat, channel: .datagram) }
        _ = try opener.open(try #require(far)).get()
        #expect(Self.reason(opener.open(later[0])) == .duplicate)
    }

    /// Windows are per channel: the same counter on the other channel is a different packet.
    @Test func test_channels_haveSeparateWindows() throws {
        var sealer = Self.sealer()
        var opener = Self.opener()
        #expect(try opener.open(sealer.seal(Self.heartbeat, channel: .datagram)).get().counter == 0)
        #expect(try opener.open(sealer.seal(Self.heartbeat, channel: .stream)).get().counter == 0)
    }

    @Test func test_newerIncarnation_resetsWindow_andStaleIncarnationRejected() throws {
        var first = Self.sealer(incarnation: 5)
        var opener = Self.opener()
        let old = (0..<3).map { _ in first.seal(Self.heartbeat, channel: .datagram) }
        _ = try opener.open(old[2]).get()
        // A restart: incarnation 6 starts again at counter 0 and is accepted.
        var second = Self.sealer(incarnation: 6)
        #expect(try opener.open(second.seal(Self.heartbeat, channel: .datagram)).get() .incarnation == 6)
        // Late packets of incarnation 5, on either channel, are stale.
        let stale = opener.open(old[0])
        #expect(Self.reason(stale) == .staleIncarnation)
        if case .failure(let rejection) = stale { #expect(rejection.detail.contains("newest incarnation seen is 6")) }
        #expect(Self.reason(opener.open(first.seal(Self.heartbeat, channel: .stream))) == .staleIncarnation)
        // The stream channel of incarnation 6 starts with its own fresh window.
        #expect(try opener.open(second.seal(Self.heartbeat, channel: .stream)).get().counter == 0)
        #expect(opener.rejections == [.staleIncarnation: 2])
    }

    /// During a rotation the opener holds [new, old]: packets sealed with either are opened.
    @Test func test_keyRotation_oldAndNewKeysAccepted() throws {
        let newKey = Self.otherKey
        var oldSealer = Self.sealer("a", key: Self.key)
        var newSealer = Self.sealer("w", key: newKey)
        var opener = Self.opener(keys: [newKey, Self.key])
        #expect(try opener.open(oldSealer.seal(Self.heartbeat, channel: .datagram)).get().sender == "a")
        #expect(try opener.open(newSealer.seal(Self.heartbeat, channel: .datagram)).get().sender == "w")
        #expect(try opener.open(oldSealer.seal(Self.heartbeat, channel: .datagram)).get().counter == 1)
        // After the rotation, the old key is refused.
        var rotated = Self.opener(keys: [newKey])
        let result = rotated.open(oldSealer.seal(Self.heartbeat, channel: .datagram))
        #expect(Self.reason(result) == .forged)
    }

    @Test func test_unknownSenderAndSelf_rejected() {
        var stranger = Self.sealer("x")
        var opener = Self.opener()
        #expect(Self.reason(opener.open(stranger.seal(Self.heartbeat, channel: .datagram))) == .unknownSender)
        var me = Self.sealer("b")
        #expect(Self.reason(opener.open(me.seal(Self.heartbeat, channel: .datagram))) == .selfSent)
    }

    /// An authentic packet whose payload does not decode is `malformed` (and its counter is
    /// used up: it was genuinely sent).
    @Test func test_authenticUndecodablePayload_malformed() throws {
        var sealer = Self.sealer()
        var opener = Self.opener()
        let packet = sealer.seal(plaintext: [WireCodec.version, 0, 42], channel: .datagram)
        let result = opener.open(packet)
        #expect(Self.reason(result) == .malformed)
        if case .failure(let rejection) = result { #expect(rejection.detail.contains("unknown Message tag 42")) }
        #expect(Self.reason(opener.open(packet)) == .duplicate)
        #expect(try opener.open(sealer.seal(Self.heartbeat, channel: .datagram)).get().counter == 1)
        #expect(opener.rejections == [.malformed: 1, .duplicate: 1])
    }

    @Test func test_oversizedPacket_rejectedBeforeAnyWork() {
        var opener = Self.opener()
        let huge = ByteBuffer(repeating: 0x54, count: Opener.maxPacketBytes + 1)
        #expect(Self.reason(opener.open(huge)) == .oversized)
    }

    /// Every rejection is counted under its reason.
    @Test func test_rejections_countedPerReason() throws {
        var opener = Self.opener()
        var a = Self.sealer()
        // Another sender: a wrong-key packet from "a" with an already accepted counter would be
        // dropped as a duplicate before any cryptography.
        var wrong = Self.sealer("w", key: Self.otherKey)
        var foreign = Self.sealer(cluster: "elsewhere")
        let packet = a.seal(Self.heartbeat, channel: .datagram)
        _ = try opener.open(packet).get()
        for _ in 0..<3 { _ = opener.open(packet) }
        for _ in 0..<2 { _ = opener.open(wrong.seal(Self.heartbeat, channel: .datagram)) }
        _ = opener.open(foreign.seal(Self.heartbeat, channel: .datagram))
        _ = opener.open(ByteBuffer(bytes: [1, 2]))
        #expect(opener.rejections == [.duplicate: 3, .forged: 2, .foreignCluster: 1, .truncated: 1])
        #expect(opener.rejectedCount == 7)
    }

    @Test func test_sealedPacketLayout_headerInClear() {
        var sealer = Self.sealer("node-a", incarnation: 0x0102)
        let packet = Array(sealer.seal(.probe(Probe(link: 0, sequence: 1, sentAt: 2, isReply: false)), channel: .stream).readableBytesView)
        #expect(Array(packet[0..<3]) == Array("TDM".utf8))
        #expect(packet[3] == Sealing.version)
        #expect(packet[4] == WireChannel.stream.rawValue)
        #expect(Array(packet[5..<13]) == Sealing.clusterID("plant"))
        #expect(packet[13] == 6)
        #expect(Array(packet[14..<20]) == Array("node-a".utf8))
        #expect(Array(packet[20..<28]) == [0x02, 0x01, 0, 0, 0, 0, 0, 0])
        #expect(Array(packet[28..<36]) == [0, 0, 0, 0, 0, 0, 0, 0])
    }
}
