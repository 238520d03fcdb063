/// The node's durable state in one SQLite file (DESIGN §6): Raft hard state, log, snapshot,
/// activation records, incarnation, and the event history.
///
/// Durability. The file is in WAL mode with `synchronous = FULL`. Every `persist` is one
/// transaction, and with FULL, SQLite fsyncs the WAL before `COMMIT` returns, so when
/// `persist` returns the change survives a crash of the process *and* a power loss. With
/// `synchronous = NORMAL` (SQLite's usual advice for WAL, and what GRDB's `.wal` journal
/// configuration sets) the WAL is only fsynced at checkpoints: a committed transaction
/// survives a process crash but may be lost on power loss or a kernel panic. That is not
/// acceptable here: the core's contract (`PersistOp`) is that nothing after a persist —
/// a vote granted, an append acknowledged, a group activated under a raised activation
/// record — is acted on before the persist is durable; a vote forgotten after a power cut
/// lets a node vote twice in one term, and a forgotten activation record lets it activate
/// an epoch it already gave up. So FULL, and this store sets the pragmas itself rather than
/// using GRDB's `.wal` configuration (which would reset `synchronous` to NORMAL).
///
/// The one exception is `appendEvents` (history only, no protocol state): committed with
/// NORMAL, so it survives a process crash at once and a power loss from the next fsync on.
///
/// Group commit: every op of one `persist` call goes into one transaction, so one fsync
/// covers them all; the runtime batches the persists of a step (or of several) into one call.

import Foundation
import GRDB
import TandemCore
import TandemWire

/// One entry of the event history, as stored.
public struct StoredEvent: Sendable, Equatable {
    /// Assigned by the store, increasing, never reused (also after pruning); 0 for a new event.
    public var id: Int64
    /// Wall-clock time of the event, in milliseconds since the Unix epoch.
    public var wallTime: Int64
    public var event: Event

    public init(id: Int64 = 0, wallTime: Int64, event: Event) {
        self.id = id
        self.wallTime = wallTime
        self.event = event
    }
}

/// What the store is running with, for the startup log and for tests.
public struct StoreSettings: Sendable, Equatable {
    /// `PRAGMA journal_mode`: always "wal".
    public var journalMode: String
    /// `PRAGMA synchronous`: always 2 (FULL).
    public var synchronous: Int
    /// The migrations applied to the file, oldest first.
    public var migrations: [String]
}

/// The node's durable state over one SQLite database file (GRDB `DatabaseQueue`, WAL,
/// `synchronous = FULL`). Thread-safe: every call is serialised on the queue; a call
/// blocks its thread for the duration of its transaction (including the fsync).
///
/// Schema (version "v1"; integers are the two's-complement bit pattern of the core's
/// `UInt64`s, except log indexes, which must be at most `Int64.max` because SQL orders them):
///
/// ```sql
/// meta       (id = 1, term, vote TEXT NULL, incarnation)         -- exactly one row
/// log        (idx INTEGER PRIMARY KEY, term, data BLOB)           -- data: WireCodec.encode(Entry)
/// snapshot   (id = 1, idx, term, data BLOB)                       -- at most one row; WireCodec.encode(Snapshot)
/// activation (grp TEXT PRIMARY KEY, epoch)                        -- rule 3's records
/// events     (id INTEGER PRIMARY KEY AUTOINCREMENT, wall_ms, kind, node, term, grp NULL,
///             epoch NULL, reason, evidence)
/// ```
///
/// The file carries `PRAGMA application_id` 0x544E444D ("TNDM"), so that another
/// program's SQLite database is refused rather than written into.
public final class Store: Sendable {
    /// The database file.
    public let path: String
    private let queue: DatabaseQueue

    /// "TNDM": marks the file as a Tandem store.
    static let applicationID: Int32 = 0x544E_444D
    /// How long a write waits for a lock held by another process (an inspection tool)
    /// before failing. Short: a node blocked on its disk is a node not heartbeating.
    static let busyTimeout: TimeInterval = 1

    /// Opens the store at `path`, creating the file if needed (not its directory), migrating
    /// its schema, and running SQLite's `quick_check`.
    ///
    /// Refuses, with a `StoreError` naming the file: a directory that does not exist or is
    /// not writable (`.cannotOpen`), a file that is not a Tandem store (`.notAStore`), a file
    /// written by a newer schema version (`.newerSchema`), a file that fails the integrity
    /// check (`.corrupt`).
    public init(path: String) throws(StoreError) {
        self.path = path
        var configuration = Configuration()
        configuration.label = "tandem-store"
        configuration.busyMode = .timeout(Self.busyTimeout)
        configuration.prepareDatabase { db in
            // Refuse another program's database before changing anything in it.
            let applicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
            if applicationID != 0 && applicationID != Self.applicationID {
                throw Problem(
                    .notAStore,
                    "the file is an SQLite database of another program (application_id \(applicationID)), not a Tandem store")
            }
            if applicationID == 0 {
                let tables = try String.fetchAll(
                    db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
                if !tables.isEmpty {
                    throw Problem(
                        .notAStore,
                        "the file is an SQLite database with tables \(tables.prefix(5).joined(separator: ", ")) but no Tandem schema")
                }
            }
            // See the type's documentation: WAL, and FULL so that a commit is durable.
            let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            guard mode == "wal" else {
                throw Problem(.sqlite, "SQLite refused WAL mode (journal_mode is \(mode ?? "unknown"))")
            }
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw Self.storeError(error, path: path, operation: "open")
        }
        try open()
    }

    /// Migrates the schema (refusing a newer one), checks integrity and the pragmas.
    private func open() throws(StoreError) {
        let migrator = Self.migrator
        try access("open") { db in
            let applied = try migrator.appliedIdentifiers(db)
            let unknown = applied.subtracting(Self.migrationIdentifiers)
            if !unknown.isEmpty {
                throw Problem(
                    .newerSchema,
                    "the file was written by a newer version of Tandem (schema migrations \(unknown.sorted().joined(separator: ", ")) are unknown to this version, which knows \(Self.migrationIdentifiers.joined(separator: ", "))); refusing to open it: run the newer version, or restore the file from a backup"
                )
            }
        }
        do {
            try migrator.migrate(queue)
        } catch {
            throw Self.storeError(error, path: path, operation: "migrate")
        }
        try access("integrity check") { db in
            let problems = try String.fetchAll(db, sql: "PRAGMA quick_check(5)")
            if problems != ["ok"] {
                throw Problem(.corrupt, "SQLite's quick_check reports: \(problems.joined(separator: "; "))")
            }
        }
        let settings = try settings()
        guard settings.journalMode == "wal", settings.synchronous == 2 else {
            throw StoreError(
                code: .sqlite, path: path, operation: "open",
                message: "expected journal_mode wal and synchronous FULL (2), got \(settings.journalMode) and \(settings.synchronous)")
        }
    }

    static let migrationIdentifiers = ["v1"]

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    PRAGMA application_id = \(Store.applicationID);
                    CREATE TABLE meta (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        term INTEGER NOT NULL,
                        vote TEXT,
                        incarnation INTEGER NOT NULL
                    );
                    INSERT INTO meta (id, term, vote, incarnation) VALUES (1, 0, NULL, 0);
                    CREATE TABLE log (
                        idx INTEGER PRIMARY KEY CHECK (idx >= 0),
                        term INTEGER NOT NULL,
                        data BLOB NOT NULL
                    );
                    CREATE TABLE snapshot (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        idx INTEGER NOT NULL CHECK (idx >= 0),
                        term INTEGER NOT NULL,
                        data BLOB NOT NULL
                    );
                    CREATE TABLE activation (
                        grp TEXT NOT NULL PRIMARY KEY,
                        epoch INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE events (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        wall_ms INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        node TEXT NOT NULL,
                        term INTEGER NOT NULL,
                        grp TEXT,
                        epoch INTEGER,
                        reason TEXT NOT NULL,
                        evidence TEXT NOT NULL
                    );
                    """)
        }
        return migrator
    }

    /// Closes the database. Later calls fail. Optional: the file is consistent at every
    /// commit, and the connection is closed when the store is deallocated.
    public func close() throws(StoreError) {
        do {
            try queue.close()
        } catch {
            throw Self.storeError(error, path: path, operation: "close")
        }
    }

    /// The journal mode, synchronous level and applied migrations, as SQLite reports them.
    public func settings() throws(StoreError) -> StoreSettings {
        let migrator = Self.migrator
        return try access("read settings") { db in
            StoreSettings(
                journalMode: try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "",
                synchronous: try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1,
                migrations: try migrator.completedMigrations(db))
        }
    }

    // MARK: - Persistent state

    /// Reads everything back: hard state, snapshot, log, activation records, incarnation.
    ///
    /// Verifies what the core relies on: every blob decodes and agrees with its row's index
    /// and term (else `.corrupt`, naming the table and index), and the entries after the
    /// snapshot are contiguous from the snapshot's index + 1 (else `.logGap`, naming the gap).
    public func load() throws(StoreError) -> PersistentState {
        try access("load") { db in
            var state = PersistentState()

            guard let meta = try Row.fetchOne(db, sql: "SELECT term, CAST(vote AS BLOB), incarnation FROM meta WHERE id = 1")
            else { throw Problem(.corrupt, "table meta has no row") }
            state.term = Term(bitPattern: try Cell.integer(meta, 0, "meta", "term", row: "1"))
            state.vote = try Cell.optionalText(meta, 1, "meta", "vote", row: "1").map { NodeID($0) }
            state.incarnation = Incarnation(bitPattern: try Cell.integer(meta, 2, "meta", "incarnation", row: "1"))

            if let row = try Row.fetchOne(db, sql: "SELECT idx, term, data FROM snapshot WHERE id = 1") {
                let index = try Cell.index(row, 0, "snapshot", row: "1")
                let term = Term(bitPattern: try Cell.integer(row, 1, "snapshot", "term", row: "\(index)"))
                let bytes = try Cell.blob(row, 2, "snapshot", "data", row: "\(index)")
                let snapshot: Snapshot
                do {
                    snapshot = try WireCodec.decodeSnapshot(bytes)
                } catch {
                    throw Problem(.corrupt, "table snapshot, index \(index): the snapshot (\(bytes.count) bytes) does not decode: \(error)")
                }
                guard snapshot.index == index, snapshot.term == term else {
                    throw Problem(
                        .corrupt,
                        "table snapshot, index \(index): the row says index \(index) term \(term), its data says index \(snapshot.index) term \(snapshot.term)")
                }
                state.snapshot = snapshot
            }

            let rows = try Row.fetchCursor(db, sql: "SELECT idx, term, data FROM log ORDER BY idx")
            while let row = try rows.next() {
                let index = try Cell.index(row, 0, "log", row: "?")
                let term = Term(bitPattern: try Cell.integer(row, 1, "log", "term", row: "\(index)"))
                let bytes = try Cell.blob(row, 2, "log", "data", row: "\(index)")
                let entry: Entry
                do {
                    entry = try WireCodec.decodeEntry(bytes)
                } catch {
                    throw Problem(.corrupt, "table log, index \(index): the entry (\(bytes.count) bytes) does not decode: \(error)")
                }
                guard entry.index == index, entry.term == term else {
                    throw Problem(
                        .corrupt,
                        "table log, index \(index): the row says index \(index) term \(term), its data says index \(entry.index) term \(entry.term)")
                }
                state.entries.append(entry)
            }

            // The entries after the snapshot must run on from it without a gap (the core's log
            // preconditions on it). Entries at or before the snapshot's index are returned as
            // stored (the core ignores them; the op sequences the core emits never leave any).
            let base = state.snapshot?.index ?? 0
            var expected = base + 1
            for entry in state.entries where entry.index >= expected {
                guard entry.index == expected else {
                    let after = expected - 1 == base
                        ? (state.snapshot == nil ? "at the start of the log (no snapshot)" : "right after the snapshot at index \(base)")
                        : "after entry \(expected - 1)"
                    let missing = entry.index - expected == 1 ? "index \(expected) is" : "indexes \(expected)...\(entry.index - 1) are"
                    throw Problem(
                        .logGap,
                        "table log has a gap \(after): \(missing) missing before entry \(entry.index); the node cannot restart from this log (restore the file from a backup, or remove it to rejoin as an empty node)"
                    )
                }
                expected += 1
            }

            let records = try Row.fetchCursor(db, sql: "SELECT CAST(grp AS BLOB), epoch FROM activation")
            while let row = try records.next() {
                let group = GroupID(try Cell.text(row, 0, "activation", "grp", row: "?"))
                let epoch = Epoch(bitPattern: try Cell.integer(row, 1, "activation", "epoch", row: group.name))
                // Two spellings that Swift considers the same string are one key for the
                // core: keep the highest, as `PersistentState.apply` would.
                state.activationRecords[group] = max(state.activationRecords[group] ?? 0, epoch)
            }
            return state
        }
    }

    /// Applies `ops` in order, exactly as `PersistentState.apply` would, in ONE transaction
    /// (one fsync): when it returns, all of them are durable. When it throws, the
    /// transaction was rolled back — except that an I/O error in the commit's own fsync
    /// leaves it unknown whether the batch reached the disk.
    ///
    /// Refused up front (`.invalidArgument`, nothing written): an `.entries` op whose indexes
    /// are not consecutive and increasing, a log index above `Int64.max`, and an entry or
    /// snapshot whose encoding does not decode back to it (every blob is decoded once before
    /// it is written, so that `load` can always read what `persist` accepted).
    ///
    /// A throwing `persist` means the disk did not take the state; the runtime must not act
    /// on anything that followed the persist (treat it as fatal).
    /// `events`: stored in the same transaction (so the step's events cost no second fsync);
    /// returned with their ids.
    @discardableResult
    public func persist(_ ops: [PersistOp], events: [StoredEvent] = []) throws(StoreError) -> [StoredEvent] {
        guard !ops.isEmpty else { return try appendEvents(events) }
        for op in ops {
            if let problem = Self.problem(in: op) {
                throw StoreError(code: .invalidArgument, path: path, operation: "persist", message: problem)
            }
        }
        // Encode (and decode again) before writing: what `persist` accepts, `load` can read,
        // so a value the codec cannot carry fails this call rather than the next restart.
        var encoded: [[UInt8]] = []
        for op in ops {
            switch op {
            case .entries(let entries):
                for entry in entries {
                    let bytes = WireCodec.encode(entry)
                    try check(bytes, decodesTo: entry, "entry \(entry.index)", WireCodec.decodeEntry)
                    encoded.append(bytes)
                }
            case .snapshot(let snapshot, _):
                let bytes = WireCodec.encode(snapshot)
                try check(bytes, decodesTo: snapshot, "the snapshot at index \(snapshot.index)", WireCodec.decodeSnapshot)
                encoded.append(bytes)
            case .hardState, .activationRecord, .incarnation:
                break
            }
        }
        return try access("persist", write: true) { db in
            var blobs = encoded.makeIterator()
            for op in ops { try Self.apply(op, encoded: &blobs, db) }
            return try Self.insert(events, db)
        }
    }

    /// Throws `.invalidArgument` unless `bytes` decode to `value`.
    private func check<T: Equatable>(
        _ bytes: [UInt8], decodesTo value: T, _ what: String, _ decode: ([UInt8]) throws(WireError) -> T
    ) throws(StoreError) {
        let decoded: T
        do {
            decoded = try decode(bytes)
        } catch {
            throw StoreError(
                code: .invalidArgument, path: path, operation: "persist",
                message: "\(what) cannot be stored: its encoding does not decode: \(error)")
        }
        guard decoded == value else {
            throw StoreError(
                code: .invalidArgument, path: path, operation: "persist",
                message: "\(what) cannot be stored: its encoding decodes to a different value")
        }
    }

    /// Why the store cannot take `op`, or nil.
    static func problem(in op: PersistOp) -> String? {
        let maxIndex = LogIndex(Int64.max)
        switch op {
        case .entries(let entries):
            var previous: LogIndex?
            for entry in entries {
                if entry.index > maxIndex { return "entry index \(entry.index) is above \(maxIndex)" }
                if let previous, entry.index != previous + 1 {
                    return "the entries of one op must have consecutive indexes: \(entry.index) follows \(previous)"
                }
                previous = entry.index
            }
            return nil
        case .snapshot(let snapshot, _):
            return snapshot.index > maxIndex ? "snapshot index \(snapshot.index) is above \(maxIndex)" : nil
        case .hardState, .activationRecord, .incarnation:
            return nil
        }
    }

    /// One `PersistOp`, mirroring `PersistentState.apply`.
    private static func apply(_ op: PersistOp, encoded: inout IndexingIterator<[[UInt8]]>, _ db: Database) throws {
        switch op {
        case .hardState(let term, let vote):
            try db.cachedStatement(sql: "UPDATE meta SET term = ?, vote = CAST(? AS TEXT) WHERE id = 1")
                .execute(arguments: [Int64(bitPattern: term), vote.map { Cell.textArgument($0.name) }])
            guard db.changesCount == 1 else { throw Problem(.corrupt, "table meta has no row") }

        case .entries(let entries):
            // Remove every entry at or after the first one's index, then append.
            guard let first = entries.first else { return }
            try db.cachedStatement(sql: "DELETE FROM log WHERE idx >= ?").execute(arguments: [Int64(first.index)])
            let insert = try db.cachedStatement(sql: "INSERT INTO log (idx, term, data) VALUES (?, ?, ?)")
            for entry in entries {
                try insert.execute(
                    arguments: [Int64(entry.index), Int64(bitPattern: entry.term), Data(encoded.next()!)])
            }

        case .snapshot(let snapshot, let keepingLaterEntries):
            let bytes = encoded.next()!
            // An older (or the same) snapshot than the one held is ignored.
            if let row = try Row.fetchOne(db, sql: "SELECT idx FROM snapshot WHERE id = 1") {
                let current = try Cell.index(row, 0, "snapshot", row: "1")
                if current >= snapshot.index { return }
            }
            try db.execute(
                sql: "INSERT OR REPLACE INTO snapshot (id, idx, term, data) VALUES (1, ?, ?, ?)",
                arguments: [Int64(snapshot.index), Int64(bitPattern: snapshot.term), Data(bytes)])
            if keepingLaterEntries {
                try db.execute(sql: "DELETE FROM log WHERE idx <= ?", arguments: [Int64(snapshot.index)])
            } else {
                try db.execute(sql: "DELETE FROM log")
            }

        case .activationRecord(let group, let epoch):
            // Only ever raised. The max is taken here rather than in SQL, where the
            // bit patterns of epochs above Int64.max would compare as negative.
            let name = Cell.textArgument(group.name)
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT epoch FROM activation WHERE grp = CAST(? AS TEXT)"), arguments: [name])
            let current = try row.map { Epoch(bitPattern: try Cell.integer($0, 0, "activation", "epoch", row: group.name)) }
            let raised = max(current ?? 0, epoch)
            if raised == current { return }
            try db.cachedStatement(
                sql: "INSERT INTO activation (grp, epoch) VALUES (CAST(? AS TEXT), ?) ON CONFLICT (grp) DO UPDATE SET epoch = excluded.epoch"
            ).execute(arguments: [name, Int64(bitPattern: raised)])

        case .incarnation(let incarnation):
            try db.cachedStatement(sql: "UPDATE meta SET incarnation = ? WHERE id = 1")
                .execute(arguments: [Int64(bitPattern: incarnation)])
            guard db.changesCount == 1 else { throw Problem(.corrupt, "table meta has no row") }
        }
    }

    // MARK: - Events

    /// Appends events (their `id`s are ignored) in one transaction; returns them with the
    /// ids the store gave them.
    ///
    /// Events alone are history, not protocol state: this transaction is committed with
    /// `synchronous = NORMAL`, so it costs no fsync of its own (the runtime writes it on the
    /// step's path, where an fsync delayed the next message by about half a millisecond).
    /// It is in the WAL when this returns, so it survives a crash of the process; it is made
    /// durable against power loss by the next `persist` (whose fsync covers the whole WAL)
    /// or checkpoint. Every other write stays `FULL`.
    @discardableResult
    public func appendEvents(_ events: [StoredEvent]) throws(StoreError) -> [StoredEvent] {
        guard !events.isEmpty else { return [] }
        do {
            return try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                var stored: [StoredEvent] = []
                let outcome = Result { try db.inTransaction { stored = try Self.insert(events, db); return .commit } }
                // Back to FULL whatever happened; if even that fails, the caller hears of it
                // (the runtime treats a store it cannot trust as fatal on the next persist).
                try db.execute(sql: "PRAGMA synchronous = FULL")
                try outcome.get()
                return stored
            }
        } catch {
            throw Self.storeError(error, path: path, operation: "append events")
        }
    }

    private static func insert(_ events: [StoredEvent], _ db: Database) throws -> [StoredEvent] {
        guard !events.isEmpty else { return [] }
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO events (wall_ms, kind, node, term, grp, epoch, reason, evidence)
                VALUES (?, CAST(? AS TEXT), CAST(? AS TEXT), ?, CAST(? AS TEXT), ?, CAST(? AS TEXT), CAST(? AS TEXT))
                """)
        var stored = events
        for i in stored.indices {
            let e = stored[i].event
            try insert.execute(arguments: [
                stored[i].wallTime, Cell.textArgument(e.kind.name), Cell.textArgument(e.node.name),
                Int64(bitPattern: e.term), e.group.map { Cell.textArgument($0.name) },
                e.epoch.map { Int64(bitPattern: $0) }, Cell.textArgument(e.reason), Cell.textArgument(e.evidence),
            ])
            stored[i].id = db.lastInsertedRowID
        }
        return stored
    }

    /// Up to `limit` events with an id above `after` (all, when nil), oldest first.
    /// Page on with the last returned id.
    public func events(after id: Int64?, limit: Int) throws(StoreError) -> [StoredEvent] {
        try access("read events") { db in try Self.readEvents(db, after: id, limit: limit, path: path) }
    }

    /// The query of `events(after:limit:)`, for this store's connection and for a
    /// `StoreReader`'s; `path` names the file in its errors.
    static func readEvents(_ db: Database, after id: Int64?, limit: Int, path: String) throws -> [StoredEvent] {
        guard limit >= 0 else {
            throw StoreError(code: .invalidArgument, path: path, operation: "read events", message: "limit \(limit) is negative")
        }
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT id, wall_ms, CAST(kind AS BLOB), CAST(node AS BLOB), term, CAST(grp AS BLOB), epoch,
                       CAST(reason AS BLOB), CAST(evidence AS BLOB)
                FROM events WHERE id > ? ORDER BY id LIMIT ?
                """,
            arguments: [id ?? Int64.min, limit])
        var events: [StoredEvent] = []
        while let row = try rows.next() {
            let id = try Cell.integer(row, 0, "events", "id", row: "?")
            let key = "\(id)"
            let event = Event(
                kind: Event.Kind(try Cell.text(row, 2, "events", "kind", row: key)),
                node: NodeID(try Cell.text(row, 3, "events", "node", row: key)),
                term: Term(bitPattern: try Cell.integer(row, 4, "events", "term", row: key)),
                group: try Cell.optionalText(row, 5, "events", "grp", row: key).map { GroupID($0) },
                epoch: try Cell.optionalInteger(row, 6, "events", "epoch", row: key).map(Epoch.init(bitPattern:)),
                reason: try Cell.text(row, 7, "events", "reason", row: key),
                evidence: try Cell.text(row, 8, "events", "evidence", row: key))
            events.append(
                StoredEvent(id: id, wallTime: try Cell.integer(row, 1, "events", "wall_ms", row: key), event: event))
        }
        return events
    }

    /// Deletes all but the `keepingNewest` newest events; returns how many it deleted.
    @discardableResult
    public func pruneEvents(keepingNewest count: Int) throws(StoreError) -> Int {
        guard count >= 0 else {
            throw StoreError(code: .invalidArgument, path: path, operation: "prune events", message: "count \(count) is negative")
        }
        return try access("prune events", write: true) { db in
            guard let oldestKept = try Int64.fetchOne(
                db, sql: "SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?", arguments: [max(count - 1, 0)])
            else { return 0 }
            if count == 0 {
                try db.execute(sql: "DELETE FROM events")
            } else {
                try db.execute(sql: "DELETE FROM events WHERE id < ?", arguments: [oldestKept])
            }
            return db.changesCount
        }
    }

    // MARK: - Access and errors

    /// Runs `body` in a transaction (a write when `write`), turning every failure into a
    /// `StoreError` naming the file and `operation`.
    func access<T>(_ operation: String, write: Bool = false, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return write ? try queue.write(body) : try queue.read(body)
        } catch {
            throw Self.storeError(error, path: path, operation: operation)
        }
    }

    /// Raw SQL, for tests that damage the file on purpose.
    func executeForTesting(_ sql: String) throws(StoreError) {
        try access("execute", write: true) { db in try db.execute(sql: sql) }
    }

    static func storeError(_ error: any Error, path: String, operation: String) -> StoreError {
        switch error {
        case let error as StoreError:
            return error
        case let problem as Problem:
            return StoreError(code: problem.code, path: path, operation: operation, message: problem.message)
        case let error as DatabaseError:
            let code: StoreError.Code
            var message = "SQLite error \(error.extendedResultCode.rawValue): \(error.message ?? "no message")"
            switch error.resultCode {
            case .SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_AUTH:
                code = .cannotOpen
                message += Self.openHint(path)
            case .SQLITE_NOTADB:
                code = .notAStore
                message += " (the file is not an SQLite database)"
            case .SQLITE_CORRUPT:
                code = .corrupt
            default:
                code = .sqlite
            }
            if let sql = error.sql {
                let statement = sql.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
                message += " — while executing `\(statement.count > 120 ? statement.prefix(117) + "..." : statement)`"
            }
            return StoreError(code: code, path: path, operation: operation, message: message, sqliteCode: error.extendedResultCode.rawValue)
        default:
            return StoreError(code: .sqlite, path: path, operation: operation, message: "\(error)")
        }
    }

    /// Why SQLite may not have been able to open or write the file, when the file system says.
    static func openHint(_ path: String) -> String {
        let files = FileManager.default
        let directory = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        if !files.fileExists(atPath: directory, isDirectory: &isDirectory) {
            return "; the directory \(directory) does not exist"
        }
        if !isDirectory.boolValue { return "; \(directory) is not a directory" }
        if files.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return "; \(path) is a directory"
        }
        if !files.isWritableFile(atPath: directory) {
            return "; the directory \(directory) is not writable by this process (SQLite needs to create \(path), -wal and -shm files there)"
        }
        if files.fileExists(atPath: path), !files.isWritableFile(atPath: path) {
            return "; the file is not writable by this process"
        }
        return ""
    }
}

/// A failure found inside a transaction; `Store.access` adds the file and the operation.
struct Problem: Error {
    var code: StoreError.Code
    var message: String
    init(_ code: StoreError.Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// Strict reading of columns: a value of the wrong type is a `.corrupt` problem naming the
/// table, column and row, never a crash. Text is read as `CAST(column AS BLOB)` and written
/// as `CAST(? AS TEXT)` from UTF-8 bytes, so that strings round-trip exactly (GRDB binds and
/// reads text as C strings, which would cut them at a NUL).
enum Cell {
    static func value(_ row: Row, _ i: Int) -> DatabaseValue { row[i] }

    static func integer(_ row: Row, _ i: Int, _ table: String, _ column: String, row key: String) throws -> Int64 {
        guard case .int64(let v) = value(row, i).storage else {
            throw Problem(.corrupt, "table \(table), row \(key): column \(column) is \(value(row, i)), not an integer")
        }
        return v
    }

    static func optionalInteger(_ row: Row, _ i: Int, _ table: String, _ column: String, row key: String) throws -> Int64? {
        if value(row, i).isNull { return nil }
        return try integer(row, i, table, column, row: key)
    }

    /// A log index: a non-negative integer.
    static func index(_ row: Row, _ i: Int, _ table: String, row key: String) throws -> LogIndex {
        let v = try integer(row, i, table, "idx", row: key)
        guard v >= 0 else { throw Problem(.corrupt, "table \(table), row \(key): index \(v) is negative") }
        return LogIndex(v)
    }

    static func blob(_ row: Row, _ i: Int, _ table: String, _ column: String, row key: String) throws -> [UInt8] {
        guard case .blob(let data) = value(row, i).storage else {
            throw Problem(.corrupt, "table \(table), index \(key): column \(column) is \(value(row, i)), not a blob")
        }
        return [UInt8](data)
    }

    static func text(_ row: Row, _ i: Int, _ table: String, _ column: String, row key: String) throws -> String {
        guard let text = try optionalText(row, i, table, column, row: key) else {
            throw Problem(.corrupt, "table \(table), row \(key): column \(column) is NULL")
        }
        return text
    }

    static func optionalText(_ row: Row, _ i: Int, _ table: String, _ column: String, row key: String) throws -> String? {
        switch value(row, i).storage {
        case .null: return nil
        case .blob(let data): return String(decoding: data, as: UTF8.self)
        case .string(let s): return s
        default: throw Problem(.corrupt, "table \(table), row \(key): column \(column) is \(value(row, i)), not text")
        }
    }

    /// The UTF-8 bytes of `text`, to be bound where the SQL says `CAST(? AS TEXT)`.
    static func textArgument(_ text: String) -> Data { Data(text.utf8) }
}

/// A read-only connection of its own to a store's file, for readers that must not wait for
/// (or hold up) the agent's writes: in WAL mode a reader sees the last committed state while
/// the writer goes on. Opened after the `Store` has created and migrated the file.
public final class StoreReader: Sendable {
    public let path: String
    private let queue: DatabaseQueue

    public init(path: String) throws(StoreError) {
        self.path = path
        var configuration = Configuration()
        configuration.label = "tandem-store-reader"
        configuration.readonly = true
        configuration.busyMode = .timeout(Store.busyTimeout)
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw Store.storeError(error, path: path, operation: "open for reading")
        }
    }

    /// As `Store.events(after:limit:)`.
    public func events(after id: Int64?, limit: Int) throws(StoreError) -> [StoredEvent] {
        do {
            return try queue.read { db in try Store.readEvents(db, after: id, limit: limit, path: path) }
        } catch {
            throw Store.storeError(error, path: path, operation: "read events")
        }
    }

    /// The newest event's id (0: none).
    public func lastEventID() throws(StoreError) -> Int64 {
        do {
            return try queue.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM events") ?? 0 }
        } catch {
            throw Store.storeError(error, path: path, operation: "read events")
        }
    }
}
