import NIOCore
import TandemCore

/// The binary encoding of every core value that leaves a node: messages (on the wire), log
/// entries, snapshots and configurations (on disk, through `TandemStore`).
///
/// Format: every top-level encoding starts with the format version byte (`version`), then
/// the value: integers as LEB128 varints (zigzag for signed ones), `Double` as its 8-byte
/// little-endian bit pattern, `Duration` as its attoseconds (zigzag varint, 128 bits),
/// strings and byte strings length-prefixed (strings UTF-8), enums as one tag byte, optionals
/// as a 0/1 marker, collections count-prefixed, dictionaries in ascending key order.
///
/// Guarantees:
/// - Round trip: `decode(encode(v)) == v` for every value (a decoded snapshot's state is `==`
///   to the encoded one, hidden fields included).
/// - Determinism: the same value always gives the same bytes (dictionaries are sorted; a
///   string is written as its own UTF-8 bytes, so two strings that are `==` only by Unicode
///   canonical equivalence may differ). Each value has exactly one accepted encoding.
/// - Decoding never traps, and uses memory in proportion to the input's size: every read is
///   bounds-checked, counts are capped by the bytes left, trailing bytes, invalid
///   UTF-8, unknown tags and non-minimal varints are refused, and so is anything the core
///   would trap on: terms, log indexes, epochs and store revisions above 2⁶³−1, an `Append`
///   whose entries do not follow `prevIndex` one by one, a `TimeoutNow` whose remaining
///   standing is negative or absurd (over 2⁶⁰ ns), a key-value snapshot with a repeated key,
///   an entry newer than the store or a history that does not end at the store's revision,
///   and an inconsistent dedupe memory.
/// - Errors name the field: `WireError.description` is e.g.
///   `truncated (needs 1 more byte) in Message.append.entries[3].command`.
public enum WireCodec {
    /// The format version written first in every top-level encoding.
    public static let version: UInt8 = 1

    // MARK: Message

    /// Appends the encoding of `message` to `buffer`.
    public static func encode(_ message: Message, into buffer: inout ByteBuffer) {
        buffer.writeBytes(encode(message))
    }

    /// The encoding of `message`.
    public static func encode(_ message: Message) -> [UInt8] {
        var w = WireWriter(capacity: 64)
        w.u8(version)
        w.message(message)
        return w.bytes
    }

    /// Decodes one message from all the readable bytes of `buffer` (trailing bytes are an
    /// error). On success the bytes are consumed; on failure `buffer` is left as it was.
    public static func decodeMessage(from buffer: inout ByteBuffer) throws(WireError) -> Message {
        let message = try decodeMessage(Array(buffer.readableBytesView))
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return message
    }

    /// Decodes one message from exactly `bytes`.
    public static func decodeMessage(_ bytes: [UInt8]) throws(WireError) -> Message {
        try decode(bytes, root: "Message") { try $0.message() }
    }

    // MARK: Entry

    /// The encoding of a log entry (as the store keeps it).
    public static func encode(_ entry: Entry) -> [UInt8] {
        var w = WireWriter(capacity: 64)
        w.u8(version)
        w.entry(entry)
        return w.bytes
    }

    /// Decodes a log entry from exactly `bytes`.
    public static func decodeEntry(_ bytes: [UInt8]) throws(WireError) -> Entry {
        try decode(bytes, root: "Entry") { try $0.entry() }
    }

    // MARK: Snapshot

    /// The encoding of a snapshot, with the whole replicated state (hidden fields included).
    public static func encode(_ snapshot: Snapshot) -> [UInt8] {
        var w = WireWriter(capacity: 1024)
        w.u8(version)
        w.snapshot(snapshot)
        return w.bytes
    }

    /// Decodes a snapshot from exactly `bytes`; the state is `==` to the encoded one.
    public static func decodeSnapshot(_ bytes: [UInt8]) throws(WireError) -> Snapshot {
        try decode(bytes, root: "Snapshot") { try $0.snapshot() }
    }

    // MARK: ClusterConfig

    /// The encoding of a configuration. It is not validated (see `ClusterConfig.validate()`).
    public static func encode(_ config: ClusterConfig) -> [UInt8] {
        var w = WireWriter(capacity: 256)
        w.u8(version)
        w.config(config)
        return w.bytes
    }

    /// Decodes a configuration from exactly `bytes`. Only the encoding is checked, not the
    /// configuration's rules: call `validate()` where that matters.
    public static func decodeConfig(_ bytes: [UInt8]) throws(WireError) -> ClusterConfig {
        try decode(bytes, root: "ClusterConfig") { try $0.config() }
    }

    // MARK: Helpers

    /// Reads the version byte, the value, and checks that nothing is left.
    static func decode<T>(
        _ bytes: [UInt8], root: StaticString, _ read: (inout WireReader) throws -> T
    ) throws(WireError) -> T {
        var reader = WireReader(bytes, root: root)
        do {
            try reader.expectVersion()
            let value = try read(&reader)
            try reader.finish()
            return value
        } catch let error as WireError {
            throw error
        } catch {
            throw reader.invalid("unexpected error \(error)")
        }
    }
}

extension WireReader {
    mutating func expectVersion() throws {
        let found = try field("version") { try $0.u8() }
        if found != WireCodec.version {
            throw error(.unsupportedVersion, "format version \(found) is not supported (this build reads version \(WireCodec.version))")
        }
    }
}
