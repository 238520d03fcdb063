import NIOCore

/// Length framing of sealed packets on a TCP stream: a 4-byte big-endian length, then that
/// many bytes (one sealed packet).

/// A frame whose length is over the limit: the stream cannot be trusted any further, so the
/// decoder throws and the pipeline closes the connection.
public struct FrameTooLargeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var length: Int
    public var limit: Int
    public init(length: Int, limit: Int) {
        self.length = length
        self.limit = limit
    }
    public var description: String {
        "frame of \(length) bytes is over the limit of \(limit) bytes; closing the connection"
    }
}

/// Splits a byte stream into frames: emits one `ByteBuffer` per frame (the packet, without
/// its length prefix), however the bytes were split across reads.
///
/// Guarantees: a length over `maximumFrameBytes` closes the channel and throws
/// `FrameTooLargeError` as soon as its 4 bytes arrive, before anything is buffered for it.
/// Bytes of an incomplete frame at the end of the stream are dropped. Use it wrapped in
/// `ByteToMessageHandler`.
public final class FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// The largest frame accepted.
    public let maximumFrameBytes: Int

    public init(maximumFrameBytes: Int = Opener.maxPacketBytes) {
        self.maximumFrameBytes = maximumFrameBytes
    }

    public func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return .needMoreData
        }
        if Int(length) > maximumFrameBytes {
            context.close(promise: nil)
            throw FrameTooLargeError(length: Int(length), limit: maximumFrameBytes)
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        // The guard above ensures the bytes are there.
        guard let frame = buffer.readSlice(length: Int(length)) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // An incomplete frame at the end of the stream is dropped.
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}

@available(*, unavailable)
extension FrameDecoder: Sendable {}

/// Prefixes each outgoing packet with its length (4 bytes, big-endian).
///
/// Guarantees: a packet over `maximumFrameBytes` is refused with `FrameTooLargeError` (the
/// peer's decoder would refuse it and close the connection), never truncated.
public final class FrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = ByteBuffer

    /// The largest frame sent.
    public let maximumFrameBytes: Int

    public init(maximumFrameBytes: Int = Opener.maxPacketBytes) {
        self.maximumFrameBytes = min(maximumFrameBytes, Int(UInt32.max))
    }

    public func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        guard data.readableBytes <= maximumFrameBytes else {
            throw FrameTooLargeError(length: data.readableBytes, limit: maximumFrameBytes)
        }
        out.reserveCapacity(minimumWritableBytes: 4 + data.readableBytes)
        out.writeInteger(UInt32(data.readableBytes), endianness: .big)
        var data = data
        out.writeBuffer(&data)
    }
}

@available(*, unavailable)
extension FrameEncoder: Sendable {}
