/// The application key-value store that is replicated through the Raft log.
///
/// Every replica calls `KVStore.apply` with the same operations in the same order; the store is
/// a pure function of that sequence, so every replica ends with the same state, the same
/// results and the same `digest`. Nothing here depends on hashing order: whatever is returned
/// in an order (ranges, events, the digest) is sorted by key or by revision.

/// One key's current value and its bookkeeping.
///
/// Guarantees: `createRevision <= modRevision`; `modRevision` is the store revision of the
/// last successful put of the key; `version` is 1 when the key is created and grows by one
/// with every later put (a delete followed by a put starts again at 1).
public struct KVEntry: Sendable, Equatable {
    /// The key: non-empty, at most `KVStore.maxKeyBytes` UTF-8 bytes, no NUL.
    public var key: String
    /// The value: at most `KVStore.maxValueBytes` bytes.
    public var value: [UInt8]
    /// The store revision at which the key was (last) created.
    public var createRevision: UInt64
    /// The store revision of the last put of the key.
    public var modRevision: UInt64
    /// 1 on create, +1 on each later put.
    public var version: UInt64

    public init(key: String, value: [UInt8], createRevision: UInt64, modRevision: UInt64, version: UInt64) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
    }
}

/// A write to the store, as carried in a Raft log entry.
///
/// `ifRevision` makes the write a compare-and-set on the key's `modRevision`: the write
/// succeeds only if the key is at exactly that revision; `0` means "the key must not exist".
/// `nil` writes unconditionally.
public enum KVOperation: Sendable, Equatable {
    case put(key: String, value: [UInt8], ifRevision: UInt64?)
    case delete(key: String, ifRevision: UInt64?)

    /// The key the operation writes.
    public var key: String {
        switch self {
        case .put(let key, _, _), .delete(let key, _): key
        }
    }
}

/// Why an operation or a query was refused.
///
/// Guarantees: a failed `apply` leaves the store exactly as it was; `message` names the key
/// and the numbers involved; for `revisionMismatch`, `currentRevision` is the key's current
/// `modRevision` (0 if the key is absent).
public struct KVError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An extensible error code: a name, with the known codes as static constants.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A compare-and-set (`ifRevision`) did not match the key's current revision.
        public static let revisionMismatch = Code("revisionMismatch")
        /// A delete named a key that does not exist.
        public static let notFound = Code("notFound")
        /// The key is empty, too long or contains NUL.
        public static let invalidKey = Code("invalidKey")
        /// The value is larger than `KVStore.maxValueBytes`.
        public static let valueTooLarge = Code("valueTooLarge")
        /// An events query asked for revisions the history no longer keeps.
        public static let compacted = Code("compacted")
        /// A write carried a stale fencing epoch (produced by the state machine, not by `KVStore`).
        public static let staleEpoch = Code("staleEpoch")
    }

    public var code: Code
    /// A human-readable explanation naming the key and the numbers, e.g.
    /// `key "calls/7" is at revision 12, not 9`.
    public var message: String
    /// For `revisionMismatch`: the key's current `modRevision` (0 if absent); otherwise `nil`.
    public var currentRevision: UInt64?

    public init(code: Code, message: String, currentRevision: UInt64? = nil) {
        self.code = code
        self.message = message
        self.currentRevision = currentRevision
    }

    public var description: String { "\(code): \(message)" }
}

/// One change to the store, as recorded in its history.
///
/// Guarantees: `revision` is the store revision the change produced; the store's history
/// holds one event per successful operation, with consecutive revisions.
public enum KVEvent: Sendable, Equatable {
    /// The key was created or overwritten; the entry is its state after the put.
    case put(KVEntry)
    /// The key was deleted at `revision`.
    case deleted(key: String, revision: UInt64)

    /// The store revision of the change.
    public var revision: UInt64 {
        switch self {
        case .put(let entry): entry.modRevision
        case .deleted(_, let revision): revision
        }
    }

    /// The key that changed.
    public var key: String {
        switch self {
        case .put(let entry): entry.key
        case .deleted(let key, _): key
        }
    }
}

/// The replicated key-value store: a deterministic state machine over `KVOperation`s.
///
/// Guarantees:
/// - `apply` is deterministic: the same operations in the same order give the same results,
///   the same state (`==`) and the same `digest` on every replica.
/// - `revision` starts at 0 and grows by exactly one with every successful operation; a failed
///   operation changes nothing.
/// - The history keeps the events of the last `historyLimit` revisions (older ones are
///   dropped, oldest first); `events` reports `.compacted` rather than a partial answer.
/// - Results that have an order are sorted: `range` by key, `events` by revision.
public struct KVStore: Sendable, Equatable {
    /// The largest key, in UTF-8 bytes.
    public static let maxKeyBytes = 1024
    /// The largest value, in bytes (1 MiB).
    public static let maxValueBytes = 1 << 20

    /// The most events the history keeps.
    public let historyLimit: Int
    /// The store revision: +1 for every successful put or delete; starts at 0.
    public private(set) var revision: UInt64 = 0

    private var entries: [String: KVEntry] = [:]
    /// `history[historyStart...]` are the kept events, with consecutive revisions ending at
    /// `revision`. The dead prefix is trimmed when it grows past half the array, so append and
    /// drop are amortised O(1).
    private var history: [KVEvent] = []
    private var historyStart = 0

    /// A new, empty store at revision 0 keeping at most `historyLimit` events (negative means 0).
    public init(historyLimit: Int = 10_000) {
        self.historyLimit = max(0, historyLimit)
    }

    /// A store restored from a snapshot of its entries at `revision`, with an empty history
    /// (so `events` from any revision up to `revision` is `.compacted`).
    /// Precondition: keys are distinct and every entry's `modRevision` is at most `revision`.
    public init(entries: [KVEntry], revision: UInt64, historyLimit: Int = 10_000) {
        self.init(historyLimit: historyLimit)
        self.revision = revision
        for entry in entries {
            precondition(entry.modRevision <= revision, "entry \(entry.key.debugDescription) is newer than the snapshot")
            let previous = self.entries.updateValue(entry, forKey: entry.key)
            precondition(previous == nil, "duplicate key \(entry.key.debugDescription) in snapshot")
        }
    }

    /// The number of keys.
    public var count: Int { entries.count }

    /// A store restored exactly, history included (for a snapshot codec: the result is `==` to
    /// the store that `entries`, `revision`, `historyLimit` and `retainedHistory` were read from).
    /// Precondition: as for `init(entries:revision:historyLimit:)`; `history` holds at most
    /// `max(0, historyLimit)` events whose revisions are consecutive and end at `revision`.
    public init(entries: [KVEntry], revision: UInt64, historyLimit: Int, history: [KVEvent]) {
        self.init(entries: entries, revision: revision, historyLimit: historyLimit)
        precondition(history.count <= self.historyLimit, "\(history.count) events kept, over the history limit \(self.historyLimit)")
        precondition(UInt64(history.count) <= revision, "\(history.count) events kept at revision \(revision)")
        let first = revision - UInt64(history.count) + 1
        for (offset, event) in history.enumerated() {
            precondition(event.revision == first + UInt64(offset), "history event at revision \(event.revision), expected \(first + UInt64(offset))")
        }
        self.history = history
    }

    /// The events the history keeps, oldest first: consecutive revisions ending at `revision`
    /// (the same as `events(prefix: "", fromRevision: oldestRetainedRevision)`).
    public var retainedHistory: [KVEvent] { Array(history[historyStart...]) }

    /// The number of events the history currently keeps.
    public var retainedEventCount: Int { history.count - historyStart }

    /// The oldest revision whose event the history still holds; `revision + 1` when the
    /// history is empty. `events(fromRevision:)` accepts any revision from here on.
    public var oldestRetainedRevision: UInt64 { revision - UInt64(retainedEventCount) + 1 }

    /// The key's entry, or `nil` if absent.
    public func get(_ key: String) -> KVEntry? { entries[key] }

    /// The entries whose keys start with `prefix` (empty: all), sorted by key, at most `limit`
    /// of them (the first ones in key order) if given.
    public func range(prefix: String, limit: Int? = nil) -> [KVEntry] {
        if let limit, limit <= 0 { return [] }
        var keys: [String] = []
        if prefix.isEmpty {
            keys = Array(entries.keys)
        } else {
            for key in entries.keys where key.hasPrefix(prefix) { keys.append(key) }
        }
        keys.sort()
        if let limit, keys.count > limit { keys.removeSubrange(limit...) }
        return keys.map { entries[$0]! }
    }

    /// Applies one operation. On success returns the new store revision; on failure returns
    /// why and leaves the store unchanged.
    public mutating func apply(_ operation: KVOperation) -> Result<UInt64, KVError> {
        switch operation {
        case .put(let key, let value, let ifRevision):
            if let error = Self.validate(key: key) { return .failure(error) }
            if value.count > Self.maxValueBytes {
                return .failure(KVError(
                    code: .valueTooLarge,
                    message: "value for key \(key.debugDescription) is \(value.count) bytes, over the limit of \(Self.maxValueBytes) bytes"
                ))
            }
            let existing = entries[key]
            if let ifRevision, let error = Self.check(key: key, existing: existing, ifRevision: ifRevision) {
                return .failure(error)
            }
            let newRevision = revision + 1
            let entry = KVEntry(
                key: existing?.key ?? key,
                value: value,
                createRevision: existing?.createRevision ?? newRevision,
                modRevision: newRevision,
                version: (existing?.version ?? 0) + 1
            )
            entries[entry.key] = entry
            record(.put(entry), at: newRevision)
            return .success(newRevision)

        case .delete(let key, let ifRevision):
            if let error = Self.validate(key: key) { return .failure(error) }
            guard let existing = entries[key] else {
                return .failure(KVError(code: .notFound, message: "key \(key.debugDescription) does not exist"))
            }
            if let ifRevision, let error = Self.check(key: key, existing: existing, ifRevision: ifRevision) {
                return .failure(error)
            }
            let newRevision = revision + 1
            entries[key] = nil
            record(.deleted(key: existing.key, revision: newRevision), at: newRevision)
            return .success(newRevision)
        }
    }

    /// All changes with revision `>= fromRevision` to keys starting with `prefix` (empty: all),
    /// in revision order. `fromRevision` 0 is read as 1. Returns `[]` if `fromRevision` is past
    /// `revision`, and `.compacted` if the history no longer holds `fromRevision`.
    public func events(prefix: String, fromRevision: UInt64) -> Result<[KVEvent], KVError> {
        let from = max(fromRevision, 1)
        if from > revision { return .success([]) }
        let oldest = oldestRetainedRevision
        if from < oldest {
            return .failure(KVError(
                code: .compacted,
                message: "events from revision \(fromRevision) for prefix \(prefix.debugDescription) are compacted; the oldest kept revision is \(oldest) (store at revision \(revision))"
            ))
        }
        let first = historyStart + Int(from - oldest)
        let slice = history[first...]
        if prefix.isEmpty { return .success(Array(slice)) }
        return .success(slice.filter { $0.key.hasPrefix(prefix) })
    }

    /// A deterministic FNV-1a digest of the revision and every entry (key, value, create and
    /// modification revisions, version) in key order. The history is not included.
    public var digest: UInt64 {
        var digest = Digest()
        digest.add(revision)
        digest.add(UInt64(entries.count))
        for key in entries.keys.sorted() {
            let entry = entries[key]!
            digest.add(entry.key)
            digest.add(UInt64(entry.value.count))
            digest.add(entry.value)
            digest.add(entry.createRevision)
            digest.add(entry.modRevision)
            digest.add(entry.version)
        }
        return digest.value
    }

    /// Same revision, history limit, entries and kept history (regardless of how the history
    /// array happens to be laid out).
    public static func == (lhs: KVStore, rhs: KVStore) -> Bool {
        lhs.revision == rhs.revision
            && lhs.historyLimit == rhs.historyLimit
            && lhs.entries == rhs.entries
            && lhs.history[lhs.historyStart...] == rhs.history[rhs.historyStart...]
    }

    // MARK: - Internals

    private mutating func record(_ event: KVEvent, at newRevision: UInt64) {
        revision = newRevision
        guard historyLimit > 0 else { return }
        history.append(event)
        if history.count - historyStart > historyLimit { historyStart += 1 }
        if historyStart >= 64 && historyStart * 2 >= history.count {
            history.removeSubrange(..<historyStart)
            historyStart = 0
        }
    }

    /// Why `key` cannot be a key (empty, over `maxKeyBytes`, contains NUL), or nil.
    public static func validate(key: String) -> KVError? {
        let reason: String
        if key.isEmpty {
            reason = "it is empty"
        } else if key.utf8.count > maxKeyBytes {
            reason = "it is \(key.utf8.count) UTF-8 bytes, over the limit of \(maxKeyBytes)"
        } else if key.utf8.contains(0) {
            reason = "it contains NUL"
        } else {
            return nil
        }
        return KVError(code: .invalidKey, message: "key \(describe(key)) is invalid: \(reason)")
    }

    /// The key quoted and escaped, shortened to its first 64 characters if longer.
    private static func describe(_ key: String) -> String {
        guard key.count > 64 else { return key.debugDescription }
        return String(key.prefix(64)).debugDescription + "…"
    }

    private static func check(key: String, existing: KVEntry?, ifRevision: UInt64) -> KVError? {
        let current = existing?.modRevision ?? 0
        if current == ifRevision { return nil }
        let message: String
        if ifRevision == 0 {
            message = "key \(key.debugDescription) already exists at revision \(current), expected absent"
        } else if existing == nil {
            message = "key \(key.debugDescription) does not exist, not at revision \(ifRevision)"
        } else {
            message = "key \(key.debugDescription) is at revision \(current), not \(ifRevision)"
        }
        return KVError(code: .revisionMismatch, message: message, currentRevision: current)
    }
}
