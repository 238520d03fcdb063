import Crypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The cluster key (`tandem keygen`): 32 random bytes shared by every node, from which every
/// sealing key is derived (DESIGN §5).
///
/// File format: one line, `tandem-key-v1 <base64 of the 32 bytes>`, then a newline. The file
/// must be readable by its owner only (mode 0600 or 0400). `description` shows only the key
/// id, never the key.
public struct ClusterKey: Sendable, Equatable, CustomStringConvertible {
    /// The key length in bytes.
    public static let byteCount = 32
    /// The first word of a key file.
    public static let fileTag = "tandem-key-v1"

    let material: [UInt8]

    /// A key made of these 32 bytes.
    public init(bytes: [UInt8]) throws(KeyError) {
        guard bytes.count == Self.byteCount else {
            throw KeyError(.malformed, "a cluster key is \(Self.byteCount) bytes, not \(bytes.count)")
        }
        self.material = bytes
    }

    /// A new random key (from the system's secure random source, through swift-crypto).
    public static func generate() -> ClusterKey {
        let key = SymmetricKey(size: .bits256)
        return ClusterKey(unchecked: key.withUnsafeBytes { Array($0) })
    }

    private init(unchecked bytes: [UInt8]) { self.material = bytes }

    /// A short id for logs: the first 4 bytes of the key's SHA-256, in hex (8 characters).
    /// It tells keys apart without revealing them.
    public var id: String {
        let digest = Array(SHA256.hash(data: material))
        return hex(digest.prefix(4))
    }

    /// `"cluster key <id>"`: never the key itself.
    public var description: String { "cluster key \(id)" }

    /// The contents of a key file: `tandem-key-v1 <base64>` and a newline.
    public var fileText: String { "\(Self.fileTag) \(Base64.encode(material))\n" }

    /// Parses the contents of a key file. Trailing whitespace (the final newline) is ignored;
    /// anything else that is not exactly `tandem-key-v1 <base64 of 32 bytes>` is refused
    /// with a message saying what was expected.
    public init(fileText: String) throws(KeyError) {
        var text = Substring(fileText)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        let words = text.split(separator: " ", omittingEmptySubsequences: false)
        let expected = "a key file holds one line: \"\(Self.fileTag) <base64 of \(Self.byteCount) bytes>\" (make one with `tandem keygen`)"
        guard words.count == 2, words[0] == Self.fileTag else {
            if text.isEmpty { throw KeyError(.malformed, "the key file is empty; \(expected)") }
            if let first = words.first, first != Self.fileTag, first.hasPrefix("tandem-key-") {
                throw KeyError(.malformed, "unsupported key format \"\(first.prefix(32))\"; \(expected)")
            }
            throw KeyError(.malformed, "not a Tandem key; \(expected)")
        }
        guard let bytes = Base64.decode(words[1]) else {
            throw KeyError(.malformed, "the key is not valid base64; \(expected)")
        }
        guard bytes.count == Self.byteCount else {
            throw KeyError(.malformed, "the key is \(bytes.count) bytes, not \(Self.byteCount); \(expected)")
        }
        self.material = bytes
    }

    /// Reads a key file. Refuses a file that is not a regular file, one whose mode lets group
    /// or others access it (it must be 0600 or 0400: the message names the mode seen and the
    /// fix), one larger than 4 KiB, and a malformed one; every message names the path.
    public static func load(path: String) throws(KeyError) -> ClusterKey {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw KeyError(.unreadable, "cannot open key file \(path): \(reason)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            throw KeyError(.unreadable, "cannot stat key file \(path): \(reason)")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw KeyError(.unreadable, "key file \(path) is not a regular file")
        }
        let mode = UInt32(info.st_mode) & 0o7777
        if mode & 0o077 != 0 {
            throw KeyError(
                .permissions,
                "key file \(path) has mode \(octal(mode)), which lets group or others access it; it must be 0600 or 0400: run `chmod 600 \(path)`")
        }
        let limit = 4096
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                throw KeyError(.unreadable, "cannot read key file \(path): \(reason)")
            }
            if n == 0 { break }
            contents += chunk[0..<n]
            if contents.count > limit {
                throw KeyError(.malformed, "key file \(path) is larger than \(limit) bytes; it is not a Tandem key")
            }
        }
        guard let text = String(validating: contents, as: UTF8.self) else {
            throw KeyError(.malformed, "key file \(path) is not text; it is not a Tandem key")
        }
        do {
            return try ClusterKey(fileText: text)
        } catch {
            throw KeyError(error.code, "key file \(path): \(error.message)")
        }
    }

    /// Constant-time comparison.
    public static func == (lhs: ClusterKey, rhs: ClusterKey) -> Bool {
        guard lhs.material.count == rhs.material.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(lhs.material, rhs.material) { difference |= a ^ b }
        return difference == 0
    }

    /// The key as swift-crypto's type.
    var symmetricKey: SymmetricKey { SymmetricKey(data: material) }
}

/// Why a key could not be made or loaded; `message` names the file and the fix.
public struct KeyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An extensible code: compare with the `static let`s.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }
        /// The file could not be opened or read (or is not a regular file).
        public static let unreadable = Code("unreadable")
        /// The file's mode lets group or others access it.
        public static let permissions = Code("permissions")
        /// The contents are not a Tandem key.
        public static let malformed = Code("malformed")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

// MARK: - Helpers

func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// `0644`: a file mode in octal, four digits.
func octal(_ mode: UInt32) -> String {
    var digits = String(mode, radix: 8)
    while digits.count < 4 { digits = "0" + digits }
    return digits
}

/// Standard base64 (RFC 4648, with padding), strict: no whitespace, no missing padding.
enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = bytes[index]
            let b1 = index + 1 < bytes.count ? bytes[index + 1] : 0
            let b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(index + 1 < bytes.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: Substring) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 4 == 0 else { return nil }
        var values: [UInt8] = []
        values.reserveCapacity(chars.count)
        var padding = 0
        for (position, char) in chars.enumerated() {
            if char == UInt8(ascii: "=") {
                // Padding only at the end, at most two.
                guard position >= chars.count - 2 else { return nil }
                padding += 1
                values.append(0)
                continue
            }
            guard padding == 0, let value = value(of: char) else { return nil }
            values.append(value)
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 4 * 3)
        var index = 0
        while index < values.count {
            let v0 = values[index], v1 = values[index + 1], v2 = values[index + 2], v3 = values[index + 3]
            out.append(v0 << 2 | v1 >> 4)
            out.append((v1 & 0x0F) << 4 | v2 >> 2)
            out.append((v2 & 0x03) << 6 | v3)
            index += 4
        }
        out.removeLast(padding)
        // Canonical: the bits the padding hides must be zero (one encoding per key).
        guard encode(out) == String(decoding: chars, as: UTF8.self) else { return nil }
        return out
    }

    private static func value(of char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): char - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): char - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
