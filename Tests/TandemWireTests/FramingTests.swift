import NIOCore
import NIOEmbedded
import TandemCore
import TandemWire
import Testing

/// `FrameDecoder` and `FrameEncoder` on `EmbeddedChannel`s, byte by byte.
@Suite struct FramingTests {
    static func decoderChannel(maximum: Int = Opener.maxPacketBytes) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maximumFrameBytes: maximum)))
        return channel
    }

    static func encoderChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameEncoder()))
        return channel
    }

    static func frame(_ body: [UInt8]) -> [UInt8] {
        let n = UInt32(body.count)
        return [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + body
    }

    static func readAll(_ channel: EmbeddedChannel) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { out.append(Array(buffer.readableBytesView)) }
        return out
    }

    @Test func test_framesSplitByteByByte_decodedWhole() throws {
        let channel = try Self.decoderChannel()
        let bodies: [[UInt8]] = [Array(0..<200), [], [7], Array(repeating: 0xAB, count: 1000)]
        var got: [[UInt8]] = []
        for body in bodies {
            for byte in Self.frame(body) {
                try channel.writeInbound(ByteBuffer(bytes: [byte]))
                got += try Self.readAll(channel)
            }
        }
        #expect(got == bodies)
        #expect(try channel.finish().isClean)
    }

    @Test func test_severalFramesInOneRead_allDecoded() throws {
        let channel = try Self.decoderChannel()
        let bodies: [[UInt8]] = (1...5).map { Array(repeating: UInt8($0), count: $0 * 3) }
        // All five frames and half of a sixth in one read; the rest of the sixth in a second.
        let sixth = Self.frame(Array(repeating: 6, count: 40))
        try channel.writeInbound(ByteBuffer(bytes: bodies.flatMap(Self.frame) + sixth.prefix(10)))
        #expect(try Self.readAll(channel) == bodies)
        try channel.writeInbound(ByteBuffer(bytes: sixth.dropFirst(10)))
        #expect(try Self.readAll(channel) == [Array(repeating: 6, count: 40)])
        #expect(try channel.finish().isClean)
    }

    @Test func test_oversizedLength_throwsAndClosesTheConnection() throws {
        let channel = try Self.decoderChannel(maximum: 1024)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7400)).wait()
        #expect(channel.isActive)
        // Only the 4 length bytes have arrived: refused at once, nothing buffered for it.
        let error = try #require(throws: FrameTooLargeError.self) {
            try channel.writeInbound(ByteBuffer(bytes: [0, 0, 4, 1]))
        }
        #expect(error == FrameTooLargeError(length: 1025, limit: 1024))
        #expect(error.description.contains("1025 bytes is over the limit of 1024"))
        #expect(!channel.isActive)
    }

    @Test func test_frameAtTheLimit_accepted() throws {
        let channel = try Self.decoderChannel(maximum: 16)
        try channel.writeInbound(ByteBuffer(bytes: Self.frame(Array(repeating: 1, count: 16))))
        #expect(try Self.readAll(channel) == [Array(repeating: 1, count: 16)])
    }

    @Test func test_encoder_prefixesLengthBigEndian() throws {
        let channel = try Self.encoderChannel()
        try channel.writeOutbound(ByteBuffer(bytes: Array(0..<300).map { UInt8($0 & 0xFF) }))
        let out = try #require(try channel.readOutbound(as: ByteBuffer.self))
        let bytes = Array(out.readableBytesView)
        #expect(Array(bytes.prefix(4)) == [0, 0, 1, 44])
        #expect(bytes.count == 304)
        #expect(try channel.finish().isClean)
    }

    /// Sealer → FrameEncoder → bytes (split at seeded random points) → FrameDecoder → Opener.
    @Test func test_endToEnd_sealFrameSplitDecodeOpen() throws {
        let key = ClusterKey.generate()
        var sealer = Sealer(cluster: "plant", key: key, sender: "a", incarnation: 3)
        var opener = Opener(cluster: "plant", keys: [key], receiver: "b", senders: ["a", "b", "w"])
        let encoder = try Self.encoderChannel()
        let decoder = try Self.decoderChannel()

        let payloads: [Payload] = Fixtures.messages().map { .core($0) } + [.probe(Probe(link: 1, sequence: 2, sentAt: 3, isReply: false))]
        var wire: [UInt8] = []
        for payload in payloads {
            try encoder.writeOutbound(sealer.seal(payload, channel: .stream))
            while let out = try encoder.readOutbound(as: ByteBuffer.self) { wire += out.readableBytesView }
        }
        var rng = SplitMix64(seed: 31337)
        var position = 0
        var opened: [Opened] = []
        while position < wire.count {
            let chunk = min(wire.count - position, 1 + Int(rng.next() % 700))
            try decoder.writeInbound(ByteBuffer(bytes: wire[position..<(position + chunk)]))
            position += chunk
            while let frame = try decoder.readInbound(as: ByteBuffer.self) {
                opened.append(try opener.open(frame).get())
            }
        }
        #expect(opened.map(\.payload) == payloads)
        #expect(opened.map(\.counter) == (0..<UInt64(payloads.count)).map { $0 })
        #expect(opened.allSatisfy { $0.sender == "a" && $0.incarnation == 3 && $0.channel == .stream })
        #expect(opener.rejections.isEmpty)
        #expect(try decoder.finish().isClean)
        #expect(try encoder.finish().isClean)
    }
}
