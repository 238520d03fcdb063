import Foundation
import TandemCore
@testable import TandemStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Durability settings, crash-like reopening, events and the errors the store reports.
@Suite struct StoreTests {
    // MARK: Durability

    /// The file is in WAL mode with synchronous FULL (a commit is fsynced), as SQLite reports,
    /// on a new file and again on reopening it.
    @Test func test_open_walModeAndSynchronousFull() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("store.sqlite")
        for _ in 0..<2 {
            let settings = try Store(path: path).settings()
            #expect(settings.journalMode == "wal")
            #expect(settings.synchronous == 2)  // FULL
            #expect(settings.migrations == ["v1"])
        }
    }

    /// A new store loads the empty state.
    @Test func test_newStore_loadsEmptyState() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(try Store(path: directory.file("store.sqlite")).load() == PersistentState())
    }

    /// What `persist` wrote is in the files as soon as it returns: another connection sees
    /// it while the first is still open, and so does a copy of the files taken at that
    /// moment (what a `kill -9` or a power cut after the fsync leaves: the database and its
    /// WAL, never checkpointed, no clean shutdown), opened elsewhere.
    @Test func test_persist_visibleWithoutCloseAndRecoveredFromCopiedFiles() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("store.sqlite")
        var g = Generator(seed: 7)
        var builder = StateBuilder()
        builder.advance(&g, by: 30)
        let ops: [PersistOp] = [
            .incarnation(3), .hardState(term: 5, vote: "a"),
            .entries(g.entries(from: 1, count: 40, term: 4)),
            .snapshot(Snapshot(index: 10, term: 4, state: builder.state), keepingLaterEntries: true),
            .activationRecord(group: "pbx", epoch: 12),
        ]
        var reference = PersistentState()
        for op in ops { reference.apply(op) }

        let store = try Store(path: path)
        try store.persist(ops)
        // Not closed, not deallocated: as if the process were frozen (or killed) right now.
        withExtendedLifetime(store) {}

        #expect(try Store(path: path).load() == reference)

        // The committed data is in the WAL (no checkpoint has run yet).
        let walSize = (try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        #expect(walSize > 0)
        let copy = try TemporaryDirectory()
        defer { copy.remove() }
        for suffix in ["", "-wal"] {
            try FileManager.default.copyItem(atPath: path + suffix, toPath: copy.file("store.sqlite") + suffix)
        }
        #expect(try Store(path: copy.file("store.sqlite")).load() == reference)
        _ = store
    }

    /// A failed persist writes nothing of its batch (one transaction).
    @Test func test_persist_refusedBatch_writesNothing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.file("store.sqlite"))
        var g = Generator(seed: 3)
        try store.persist([.entries(g.entries(from: 1, count: 3, term: 1))])
        let before = try store.load()
        var bad = g.entries(from: 4, count: 3, term: 1)
        bad[2].index = 9  // 4, 5, 9: not consecutive
        let error = storeError { () throws(StoreError) in
            try store.persist([.hardState(term: 9, vote: "b"), .entries(bad)])
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.description.contains("9 follows 5") == true)
        #expect(try store.load() == before)

        // A term the codec cannot carry (above Int64.max) is refused before anything is written.
        let huge = Entry(term: UInt64.max, index: 4, command: .leader("a"))
        let error2 = storeError { () throws(StoreError) in try store.persist([.incarnation(8), .entries([huge])]) }
        #expect(error2?.code == .invalidArgument)
        #expect(try store.load() == before)
    }

    // MARK: Events

    static func event(_ n: Int) -> StoredEvent {
        StoredEvent(
            wallTime: 1_750_000_000_000 + Int64(n),
            event: Event(
                kind: n % 3 == 0 ? .activated : Event.Kind("custom_\(n)"), node: n % 2 == 0 ? "a" : "b",
                term: UInt64(n), group: n % 4 == 0 ? nil : "pbx", epoch: n % 5 == 0 ? nil : UInt64(n) * 10,
                reason: n == 7 ? "nul\u{0}inside, naïve ☎︎" : "reason \(n)", evidence: n % 2 == 0 ? "" : "lease 240ms"))
    }

    /// A step's events go in the transaction of its persists: both are there after reopening,
    /// and an op the store refuses stores neither.
    @Test func test_persistWithEvents_oneTransaction() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.file("store.sqlite"))
        let stored = try store.persist([.hardState(term: 3, vote: "a")], events: [Self.event(1), Self.event(2)])
        #expect(stored.map(\.event) == [Self.event(1).event, Self.event(2).event])
        let reopened = try Store(path: store.path)
        #expect(try reopened.load().term == 3)
        #expect(try reopened.events(after: nil, limit: 10).map(\.event) == [Self.event(1).event, Self.event(2).event])

        let gap = Entry(term: 1, index: 5, command: .leader("a"))
        let refused = storeError { () throws(StoreError) in
            try store.persist([.entries([gap, Entry(term: 1, index: 7, command: .leader("a"))])], events: [Self.event(3)])
        }
        #expect(refused?.code == .invalidArgument)
        #expect(try reopened.events(after: nil, limit: 10).count == 2)
    }

    @Test func test_events_appendPageAndPrune() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.file("store.sqlite"))
        let input = (1...25).map(Self.event)
        let stored = try store.appendEvents(Array(input[0..<10])) + store.appendEvents(Array(input[10...]))
        #expect(stored.map(\.event) == input.map(\.event))
        #expect(stored.map(\.wallTime) == input.map(\.wallTime))
        #expect(zip(stored, stored.dropFirst()).allSatisfy { $0.id < $1.id })

        // Paging with `after`, in ascending id order, from a reopened store.
        let reopened = try Store(path: store.path)
        var pages: [[StoredEvent]] = []
        var after: Int64? = nil
        while true {
            let page = try reopened.events(after: after, limit: 10)
            if page.isEmpty { break }
            pages.append(page)
            after = page.last!.id
        }
        #expect(pages.map(\.count) == [10, 10, 5])
        #expect(pages.flatMap { $0 } == stored)
        #expect(try reopened.events(after: stored[19].id, limit: 100) == Array(stored[20...]))
        #expect(try reopened.events(after: nil, limit: 0).isEmpty)

        // Pruning keeps the newest; ids are never reused.
        #expect(try store.pruneEvents(keepingNewest: 5) == 20)
        #expect(try store.events(after: nil, limit: 100) == Array(stored[20...]))
        #expect(try store.pruneEvents(keepingNewest: 50) == 0)
        #expect(try store.pruneEvents(keepingNewest: 0) == 5)
        #expect(try store.events(after: nil, limit: 100).isEmpty)
        let later = try store.appendEvents([Self.event(26)])
        #expect(later[0].id > stored.last!.id)
        // Events are written without an fsync of their own, but every other write stays
        // FULL: the connection is back to synchronous = FULL after appending them.
        #expect(try store.settings().synchronous == 2)

        let negative = storeError { () throws(StoreError) in _ = try store.events(after: nil, limit: -1) }
        #expect(negative?.code == .invalidArgument)
    }

    // MARK: Errors

    /// A directory that does not exist, or that cannot be written, is named in the error.
    @Test func test_open_unwritableOrMissingDirectory_clearError() throws {
        let missing = "/nonexistent-tandem-\(UUID().uuidString)/store.sqlite"
        let error = storeError { () throws(StoreError) in _ = try Store(path: missing) }
        #expect(error?.code == .cannotOpen)
        #expect(error?.description.contains(missing) == true)
        #expect(error?.description.contains("does not exist") == true)
        print("missing directory: \(error.map(String.init(describing:)) ?? "no error")")

        // Root may write anywhere a mode allows; /proc refuses new files even to root.
        let directory = try TemporaryDirectory()
        defer {
            chmod(directory.path, 0o755)
            directory.remove()
        }
        let path: String
        if geteuid() == 0 {
            path = "/proc/tandem-store-test.sqlite"
        } else {
            #expect(chmod(directory.path, 0o555) == 0)
            path = directory.file("store.sqlite")
        }
        let error2 = storeError { () throws(StoreError) in _ = try Store(path: path) }
        #expect(error2?.code == .cannotOpen)
        #expect(error2?.description.contains(path) == true)
        print("unwritable directory: \(error2.map(String.init(describing:)) ?? "no error")")
    }

    /// A file that is not an SQLite database, or is another program's, is refused.
    @Test func test_open_garbageOrForeignFile_refused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let garbage = directory.file("garbage.sqlite")
        var g = Generator(seed: 1)
        _ = FileManager.default.createFile(atPath: garbage, contents: Data((0..<8192).map { _ in UInt8(g.int(0...255)) }))
        let error = storeError { () throws(StoreError) in _ = try Store(path: garbage) }
        #expect(error?.code == .notAStore)
        #expect(error?.description.contains(garbage) == true)
        print("garbage file: \(error.map(String.init(describing:)) ?? "no error")")

        let foreign = directory.file("foreign.sqlite")
        try Store(path: foreign).executeForTesting("PRAGMA application_id = 42")
        let error2 = storeError { () throws(StoreError) in _ = try Store(path: foreign) }
        #expect(error2?.code == .notAStore)
        #expect(error2?.description.contains("another program") == true)
    }

    /// A file migrated by a newer version is refused, naming the unknown migration.
    @Test func test_open_newerSchema_refused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("store.sqlite")
        try Store(path: path).executeForTesting("INSERT INTO grdb_migrations (identifier) VALUES ('v2-from-the-future')")
        let error = storeError { () throws(StoreError) in _ = try Store(path: path) }
        #expect(error?.code == .newerSchema)
        #expect(error?.description.contains("v2-from-the-future") == true)
        print("newer schema: \(error.map(String.init(describing:)) ?? "no error")")
    }

    /// A gap in the log (made by raw SQL) is reported by `load`, not a crash.
    @Test func test_load_logGap_reported() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.file("store.sqlite"))
        var g = Generator(seed: 5)
        try store.persist([.entries(g.entries(from: 1, count: 10, term: 1))])
        try store.executeForTesting("DELETE FROM log WHERE idx IN (4, 5)")
        let error = storeError { () throws(StoreError) in _ = try store.load() }
        #expect(error?.code == .logGap)
        #expect(error?.description.contains("indexes 4...5 are missing before entry 6") == true)
        print("gap: \(error.map(String.init(describing:)) ?? "no error")")

        // Right after a snapshot.
        var builder = StateBuilder()
        builder.advance(&g, by: 3)
        try store.persist([
            .entries(g.entries(from: 4, count: 7, term: 1)),
            .snapshot(Snapshot(index: 3, term: 1, state: builder.state), keepingLaterEntries: true),
        ])
        #expect(try store.load().entries.map(\.index) == Array(4...10))
        try store.executeForTesting("DELETE FROM log WHERE idx = 4")
        let error2 = storeError { () throws(StoreError) in _ = try store.load() }
        #expect(error2?.code == .logGap)
        #expect(error2?.description.contains("right after the snapshot at index 3: index 4 is missing") == true)
    }

    /// A row whose blob does not decode, or disagrees with its columns, names table and index.
    @Test func test_load_corruptRow_namesTableAndIndex() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.file("store.sqlite"))
        var g = Generator(seed: 6)
        try store.persist([.entries(g.entries(from: 1, count: 10, term: 2))])
        try store.executeForTesting("UPDATE log SET data = x'01FF02' WHERE idx = 7")
        let error = storeError { () throws(StoreError) in _ = try store.load() }
        #expect(error?.code == .corrupt)
        #expect(error?.description.contains("table log, index 7") == true)
        print("corrupt entry: \(error.map(String.init(describing:)) ?? "no error")")

        try store.persist([.entries(g.entries(from: 7, count: 4, term: 2))])
        try store.executeForTesting("UPDATE log SET term = 3 WHERE idx = 8")
        let error2 = storeError { () throws(StoreError) in _ = try store.load() }
        #expect(error2?.code == .corrupt)
        #expect(error2?.description.contains("table log, index 8: the row says index 8 term 3") == true)

        try store.executeForTesting("UPDATE log SET term = 2 WHERE idx = 8")
        var builder = StateBuilder()
        builder.advance(&g, by: 3)
        try store.persist([.snapshot(Snapshot(index: 5, term: 2, state: builder.state), keepingLaterEntries: true)])
        try store.executeForTesting("UPDATE snapshot SET data = substr(data, 1, length(data) - 1)")
        let error3 = storeError { () throws(StoreError) in _ = try store.load() }
        #expect(error3?.code == .corrupt)
        #expect(error3?.description.contains("table snapshot, index 5") == true)

        try store.executeForTesting("UPDATE snapshot SET data = 'text'")
        let error4 = storeError { () throws(StoreError) in _ = try store.load() }
        #expect(error4?.code == .corrupt)
        #expect(error4?.description.contains("not a blob") == true)
    }
}
