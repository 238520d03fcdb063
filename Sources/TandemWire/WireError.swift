/// Why bytes could not be decoded into a core value.
///
/// Guarantees: `description` names what is wrong and where, as a path from the outermost
/// value to the field that failed, e.g. `truncated in Message.append.entries[3].command: needs
/// 1 more byte` or `unknown Message tag 42 in Message`.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An extensible code: compare with the `static let`s.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The bytes end before the value does, or a count or length claims more than the
        /// bytes left could hold.
        public static let truncated = Code("truncated")
        /// Bytes are left over after the value.
        public static let trailingBytes = Code("trailing_bytes")
        /// An enum tag that this version does not know.
        public static let unknownTag = Code("unknown_tag")
        /// The encoding starts with a format version this version does not read.
        public static let unsupportedVersion = Code("unsupported_version")
        /// A string that is not valid UTF-8.
        public static let invalidUTF8 = Code("invalid_utf8")
        /// A value that is well-formed but impossible (the core would refuse or trap on it):
        /// a non-minimal varint, a boolean other than 0 or 1, keys out of order or repeated,
        /// log entries that are not consecutive, a counter beyond 2⁶³−1, and so on.
        public static let invalidValue = Code("invalid_value")
    }

    public var code: Code
    /// Where: the path from the outermost value to the failing field, e.g.
    /// `Message.append.entries[3].command`.
    public var path: String
    /// What is wrong, without the path, e.g. `unknown Message tag 42`.
    public var message: String

    public init(code: Code, path: String, message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    /// `"<message> in <path>"`, or the message alone when the path is empty.
    public var description: String { path.isEmpty ? message : "\(message) in \(path)" }
}
