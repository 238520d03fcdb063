/// The in-memory Raft log with a compacted prefix (the snapshot), and the state a node
/// keeps on disk.

struct RaftLog: Sendable {
    private(set) var snapshotIndex: LogIndex = 0
    private(set) var snapshotTerm: Term = 0
    /// `entries[i].index == snapshotIndex + 1 + i`.
    private(set) var entries: [Entry] = []

    init() {}

    init(snapshot: Snapshot?, entries: [Entry]) {
        if let snapshot {
            snapshotIndex = snapshot.index
            snapshotTerm = snapshot.term
        }
        self.entries = entries.filter { $0.index > snapshotIndex }
        for (offset, entry) in self.entries.enumerated() {
            precondition(entry.index == snapshotIndex + 1 + LogIndex(offset), "persisted log has a gap at \(entry.index)")
        }
    }

    var lastIndex: LogIndex { snapshotIndex + LogIndex(entries.count) }
    var lastTerm: Term { entries.last?.term ?? snapshotTerm }

    /// The term of the entry at `index`, or nil when it is compacted away or beyond the end.
    func term(at index: LogIndex) -> Term? {
        if index == snapshotIndex { return snapshotTerm }
        if index < snapshotIndex || index > lastIndex { return nil }
        return entries[Int(index - snapshotIndex - 1)].term
    }

    func entry(at index: LogIndex) -> Entry? {
        guard index > snapshotIndex, index <= lastIndex else { return nil }
        return entries[Int(index - snapshotIndex - 1)]
    }

    /// Up to `max` entries from `index` on.
    func slice(from index: LogIndex, max: Int) -> [Entry] {
        guard index > snapshotIndex, index <= lastIndex else { return [] }
        let start = Int(index - snapshotIndex - 1)
        return Array(entries[start..<(entries.count - start <= max ? entries.count : start + max)])
    }

    /// The first index of the term of the entry at `index` (for the rejection hint).
    func firstIndex(ofTermAt index: LogIndex) -> LogIndex {
        guard let t = term(at: index) else { return index }
        var i = index
        while i > snapshotIndex + 1, term(at: i - 1) == t { i -= 1 }
        return i
    }

    mutating func append(_ entry: Entry) {
        precondition(entry.index == lastIndex + 1)
        entries.append(entry)
    }

    /// Removes every entry at or after `index`.
    mutating func truncate(from index: LogIndex) {
        precondition(index > snapshotIndex)
        guard index <= lastIndex else { return }
        entries.removeSubrange(Int(index - snapshotIndex - 1)...)
    }

    /// Drops the entries through `index` (they are in a snapshot with term `term`).
    mutating func compact(through index: LogIndex, term: Term) {
        if index >= lastIndex {
            entries.removeAll(keepingCapacity: true)
        } else if index > snapshotIndex {
            entries.removeSubrange(0..<Int(index - snapshotIndex))
        }
        snapshotIndex = index
        snapshotTerm = term
    }
}

/// What a node keeps on disk (DESIGN §6): hard state, log, snapshot, activation records
/// and the incarnation. The runtime restores it and builds the core from it; `apply`
/// applies one `PersistOp` (the simulator uses it as its disk; the store mirrors it).
public struct PersistentState: Sendable, Equatable {
    public var term: Term = 0
    public var vote: NodeID?
    public var snapshot: Snapshot?
    public var entries: [Entry] = []
    public var activationRecords: [GroupID: Epoch] = [:]
    public var incarnation: Incarnation = 0

    public init() {}

    public mutating func apply(_ op: PersistOp) {
        switch op {
        case .hardState(let term, let vote):
            self.term = term
            self.vote = vote
        case .entries(let new):
            guard let first = new.first else { return }
            if let position = entries.firstIndex(where: { $0.index >= first.index }) {
                entries.removeSubrange(position...)
            }
            entries.append(contentsOf: new)
        case .snapshot(let snapshot, let keepingLaterEntries):
            if let current = self.snapshot, current.index >= snapshot.index { return }
            self.snapshot = snapshot
            entries = keepingLaterEntries ? entries.filter { $0.index > snapshot.index } : []
        case .activationRecord(let group, let epoch):
            activationRecords[group] = max(activationRecords[group] ?? 0, epoch)
        case .incarnation(let incarnation):
            self.incarnation = incarnation
        }
    }
}
