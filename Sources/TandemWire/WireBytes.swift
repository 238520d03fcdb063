/// The primitives of the binary format: LEB128 varints (zigzag for signed values), fixed
/// little-endian integers, length-prefixed UTF-8 strings and byte strings, one-byte tags.
/// Every reader checks its bounds and reports failures as `WireError`s with a field path.

/// Appends encoded primitives to a byte array.
struct WireWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ value: UInt8) { bytes.append(value) }

    mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    /// Unsigned LEB128: 7 bits per byte, least significant group first, minimal length.
    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Zigzag then LEB128, so that small negative numbers stay short.
    mutating func signed(_ value: Int64) {
        varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    mutating func int(_ value: Int) { signed(Int64(value)) }

    /// A collection count or byte length.
    mutating func count(_ value: Int) { varint(UInt64(value)) }

    mutating func fixed64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func fixed32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func double(_ value: Double) { fixed64(value.bitPattern) }

    mutating func raw(_ value: some Collection<UInt8>) { bytes.append(contentsOf: value) }

    /// A length-prefixed byte string.
    mutating func data(_ value: [UInt8]) {
        count(value.count)
        bytes.append(contentsOf: value)
    }

    /// A length-prefixed UTF-8 string (its own bytes, unnormalised).
    mutating func string(_ value: String) {
        count(value.utf8.count)
        bytes.append(contentsOf: value.utf8)
    }

    /// Zigzag LEB128 of a 128-bit value (a `Duration`'s attoseconds).
    mutating func signed128(_ value: Int128) {
        var v = UInt128(bitPattern: (value << 1) ^ (value >> 127))
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    /// `0` for nil, else `1` and the value.
    mutating func optional<T>(_ value: T?, _ write: (inout WireWriter, T) -> Void) {
        if let value {
            bytes.append(1)
            write(&self, value)
        } else {
            bytes.append(0)
        }
    }

    /// A count, then every element.
    mutating func array<T>(_ values: [T], _ write: (inout WireWriter, T) -> Void) {
        count(values.count)
        for value in values { write(&self, value) }
    }

    /// A count, then the pairs in ascending key order, so that equal dictionaries always give
    /// the same bytes.
    mutating func dictionary<K: Comparable, V>(
        _ values: [K: V], key writeKey: (inout WireWriter, K) -> Void, value writeValue: (inout WireWriter, V) -> Void
    ) {
        count(values.count)
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            writeKey(&self, key)
            writeValue(&self, value)
        }
    }
}

/// Reads encoded primitives from a byte array, with bounds checks everywhere, and keeps the
/// path of the field being read so that every error says where it happened.
///
/// Primitives throw `WireError`; the helpers that take closures are untyped (`rethrows`)
/// because closures do not infer typed throws yet, and only ever rethrow `WireError`s
/// (`WireCodec.decode` turns the untyped error back into a `WireError`).
///
/// The format has no recursive types, so the nesting depth of any input is bounded by the
/// schema (a handful of levels); collections are bounded by the bytes left, so a claimed
/// count can never make the reader allocate out of proportion to the input.
struct WireReader {
    enum PathPart {
        case name(StaticString)
        case index(Int)
    }

    private let bytes: [UInt8]
    private(set) var position: Int
    private var path: [PathPart]

    init(_ bytes: [UInt8], root: StaticString) {
        self.bytes = bytes
        self.position = 0
        self.path = [.name(root)]
        path.reserveCapacity(12)
    }

    var remaining: Int { bytes.count - position }

    // MARK: Errors and paths

    var pathDescription: String {
        var out = ""
        for part in path {
            switch part {
            case .name(let name):
                if !out.isEmpty { out += "." }
                out += name.description
            case .index(let index):
                out += "[\(index)]"
            }
        }
        return out
    }

    func error(_ code: WireError.Code, _ message: String) -> WireError {
        WireError(code: code, path: pathDescription, message: message)
    }

    func invalid(_ message: String) -> WireError { error(.invalidValue, message) }

    /// Reads a named field: errors inside `body` name it in their path.
    mutating func field<T>(_ name: StaticString, _ body: (inout WireReader) throws -> T) rethrows -> T {
        path.append(.name(name))
        let value = try body(&self)
        path.removeLast()
        return value
    }

    /// Reads element `index` of a collection.
    mutating func element<T>(_ index: Int, _ body: (inout WireReader) throws -> T) rethrows -> T {
        path.append(.index(index))
        let value = try body(&self)
        path.removeLast()
        return value
    }

    /// Fails unless every byte was read.
    func finish() throws(WireError) {
        if remaining > 0 {
            throw error(.trailingBytes, "\(remaining) trailing byte\(remaining == 1 ? "" : "s") after the value")
        }
    }

    // MARK: Primitives

    private func need(_ count: Int) throws(WireError) {
        if count > remaining {
            let missing = count - remaining
            throw error(.truncated, "truncated (needs \(missing) more byte\(missing == 1 ? "" : "s"))")
        }
    }

    mutating func u8() throws(WireError) -> UInt8 {
        try need(1)
        defer { position += 1 }
        return bytes[position]
    }

    mutating func bool() throws(WireError) -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        case let other: throw invalid("boolean byte \(other), expected 0 or 1")
        }
    }

    /// A tag byte, for enums and format versions.
    mutating func tag() throws(WireError) -> UInt8 { try u8() }

    /// Unsigned LEB128 of at most 64 bits, in its minimal form (one encoding per value).
    mutating func varint() throws(WireError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try u8()
            let bits = UInt64(byte & 0x7F)
            if shift == 63 && bits > 1 { throw invalid("varint overflows 64 bits") }
            result |= bits << shift
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 { throw invalid("varint is not in its shortest form") }
                return result
            }
            shift += 7
            if shift > 63 { throw invalid("varint overflows 64 bits") }
        }
    }

    mutating func signed() throws(WireError) -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    mutating func int() throws(WireError) -> Int {
        let value = try signed()
        guard let int = Int(exactly: value) else { throw invalid("\(value) does not fit an Int") }
        return int
    }

    /// A term, log index, epoch or revision: the core adds one to these, so values above
    /// 2⁶³−1 (which no cluster reaches) are refused rather than risk an overflow trap.
    mutating func counter() throws(WireError) -> UInt64 {
        let value = try varint()
        if value > UInt64(Int64.max) { throw invalid("\(value) is beyond 2^63-1") }
        return value
    }

    /// A collection count: each element takes at least `minimumElementBytes` bytes, so a
    /// count the remaining bytes cannot hold is refused (as truncated) before anything is
    /// allocated.
    mutating func count(minimumElementBytes: Int = 1) throws(WireError) -> Int {
        let value = try varint()
        let capacity = remaining / max(1, minimumElementBytes)
        if value > UInt64(capacity) {
            throw error(.truncated, "truncated: claims \(value) elements but only \(remaining) bytes are left")
        }
        return Int(value)
    }

    /// How many elements to reserve for a collection of `count`: a claimed count is bounded by
    /// the bytes left, but an element in memory can be far larger than its encoding, so only
    /// a modest capacity is reserved up front and the collection grows as elements arrive.
    static func initialCapacity(_ count: Int) -> Int { min(count, 1024) }

    /// A byte length: at most the bytes left.
    mutating func length() throws(WireError) -> Int {
        let value = try varint()
        if value > UInt64(remaining) {
            throw error(.truncated, "truncated: claims \(value) bytes but only \(remaining) are left")
        }
        return Int(value)
    }

    mutating func fixed64() throws(WireError) -> UInt64 {
        try need(8)
        var value: UInt64 = 0
        for offset in 0..<8 { value |= UInt64(bytes[position + offset]) << (8 * UInt64(offset)) }
        position += 8
        return value
    }

    mutating func fixed32() throws(WireError) -> UInt32 {
        try need(4)
        var value: UInt32 = 0
        for offset in 0..<4 { value |= UInt32(bytes[position + offset]) << (8 * UInt32(offset)) }
        position += 4
        return value
    }

    mutating func double() throws(WireError) -> Double { Double(bitPattern: try fixed64()) }

    mutating func raw(_ count: Int) throws(WireError) -> ArraySlice<UInt8> {
        try need(count)
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    /// A length-prefixed byte string.
    mutating func data() throws(WireError) -> [UInt8] {
        Array(try raw(try length()))
    }

    /// A length-prefixed string that must be valid UTF-8.
    mutating func string() throws(WireError) -> String {
        let slice = try raw(try length())
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw error(.invalidUTF8, "string of \(slice.count) bytes is not valid UTF-8")
        }
        return text
    }

    /// Zigzag LEB128 of at most 128 bits, in its minimal form.
    mutating func signed128() throws(WireError) -> Int128 {
        var result: UInt128 = 0
        var shift: UInt128 = 0
        while true {
            let byte = try u8()
            let bits = UInt128(byte & 0x7F)
            if shift == 126 && bits > 3 { throw invalid("varint overflows 128 bits") }
            result |= bits << shift
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 { throw invalid("varint is not in its shortest form") }
                return Int128(bitPattern: (result >> 1) ^ (0 &- (result & 1)))
            }
            shift += 7
            if shift > 126 { throw invalid("varint overflows 128 bits") }
        }
    }

    mutating func optional<T>(_ read: (inout WireReader) throws -> T) throws -> T? {
        switch try u8() {
        case 0: return nil
        case 1: return try read(&self)
        case let other: throw invalid("optional marker \(other), expected 0 or 1")
        }
    }

    mutating func array<T>(
        minimumElementBytes: Int = 1, _ read: (inout WireReader) throws -> T
    ) throws -> [T] {
        let n = try count(minimumElementBytes: minimumElementBytes)
        var out: [T] = []
        out.reserveCapacity(Self.initialCapacity(n))
        for index in 0..<n {
            out.append(try element(index, read))
        }
        return out
    }

    /// A dictionary written by `WireWriter.dictionary`: keys strictly ascending (so a repeated
    /// key, or one out of order, is refused: there is one encoding per dictionary).
    mutating func dictionary<K: Comparable & Hashable, V>(
        minimumElementBytes: Int = 2,
        key readKey: (inout WireReader) throws -> K,
        value readValue: (inout WireReader) throws -> V
    ) throws -> [K: V] {
        let n = try count(minimumElementBytes: minimumElementBytes)
        var out: [K: V] = [:]
        out.reserveCapacity(Self.initialCapacity(n))
        var previous: K?
        for index in 0..<n {
            try element(index) { r in
                let key = try readKey(&r)
                if let previous, !(previous < key) {
                    throw r.invalid(previous == key ? "key \(key) is repeated" : "key \(key) is out of order (after \(previous))")
                }
                previous = key
                out[key] = try readValue(&r)
            }
        }
        return out
    }
}
