/// Why the store could not do what it was asked. Names the database file, the operation
/// and the cause (SQLite's own message, or what is wrong with which row).
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// An extensible code: compare with the `static let`s.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }
        /// The file could not be opened or created (missing or non-writable directory,
        /// permissions, a directory in the way).
        public static let cannotOpen = Code("cannot_open")
        /// The file is not an SQLite database, or is an SQLite database of another program.
        public static let notAStore = Code("not_a_store")
        /// The file was written by a newer schema version than this build knows.
        public static let newerSchema = Code("newer_schema")
        /// SQLite reports corruption, the integrity check failed, or a row does not decode
        /// or does not agree with its columns.
        public static let corrupt = Code("corrupt")
        /// The log has a gap after the snapshot (the node cannot be built from it).
        public static let logGap = Code("log_gap")
        /// The caller passed something the store cannot represent (it is not written).
        public static let invalidArgument = Code("invalid_argument")
        /// Any other SQLite failure: disk full, I/O error, locked by another process…
        public static let sqlite = Code("sqlite")
    }

    public var code: Code
    /// The database file.
    public var path: String
    /// What the store was doing: "open", "load", "persist", "append events"…
    public var operation: String
    /// The cause, in words: SQLite's message, or the table and index of a bad row.
    public var message: String
    /// SQLite's extended result code, when SQLite reported the failure.
    public var sqliteCode: Int32?

    public init(code: Code, path: String, operation: String, message: String, sqliteCode: Int32? = nil) {
        self.code = code
        self.path = path
        self.operation = operation
        self.message = message
        self.sqliteCode = sqliteCode
    }

    /// "store /var/lib/tandem/state.sqlite: persist failed: SQLite error 13: database or disk is full"
    public var description: String { "store \(path): \(operation) failed: \(message)" }
}
