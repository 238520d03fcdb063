import Testing
@testable import TandemCore

private func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

private func put(_ key: String, _ value: String, ifRevision: UInt64? = nil) -> KVOperation {
    .put(key: key, value: bytes(value), ifRevision: ifRevision)
}

private func expectFailure(
    _ result: Result<UInt64, KVError>, _ code: KVError.Code,
    sourceLocation: SourceLocation = #_sourceLocation
) -> KVError? {
    switch result {
    case .success(let revision):
        Issue.record("expected \(code), got success at revision \(revision)", sourceLocation: sourceLocation)
        return nil
    case .failure(let error):
        #expect(error.code == code, sourceLocation: sourceLocation)
        return error
    }
}

/// A fixed, mixed sequence of operations (some of which fail) for determinism tests.
private func scriptedOperations() -> [KVOperation] {
    var rng = SplitMix64(seed: 42)
    var operations: [KVOperation] = []
    for step in 0..<500 {
        let key = "k/\(rng.next() % 37)"
        switch rng.next() % 4 {
        case 0: operations.append(.delete(key: key, ifRevision: nil))
        case 1: operations.append(.put(key: key, value: bytes("v\(step)"), ifRevision: rng.next() % 20))
        default: operations.append(.put(key: key, value: bytes("v\(step)"), ifRevision: nil))
        }
    }
    return operations
}

@Suite struct KeyValueTests {
    // MARK: put / get

    @Test func test_put_newKey_createsEntryAtVersionOne() {
        var store = KVStore()
        #expect(store.revision == 0)
        #expect(store.apply(put("calls/1", "ringing")) == .success(1))
        #expect(store.get("calls/1") == KVEntry(
            key: "calls/1", value: bytes("ringing"), createRevision: 1, modRevision: 1, version: 1))
        #expect(store.count == 1)
        #expect(store.revision == 1)
    }

    @Test func test_put_existingKey_keepsCreateRevisionAndBumpsVersion() {
        var store = KVStore()
        _ = store.apply(put("a", "1"))
        _ = store.apply(put("b", "1"))
        #expect(store.apply(put("a", "2")) == .success(3))
        #expect(store.get("a") == KVEntry(key: "a", value: bytes("2"), createRevision: 1, modRevision: 3, version: 2))
        #expect(store.count == 2)
    }

    @Test func test_get_absentKey_returnsNil() {
        let store = KVStore()
        #expect(store.get("nope") == nil)
    }

    @Test func test_put_afterDelete_restartsVersionAndCreateRevision() {
        var store = KVStore()
        _ = store.apply(put("a", "1"))
        _ = store.apply(put("a", "2"))
        _ = store.apply(.delete(key: "a", ifRevision: nil))
        #expect(store.apply(put("a", "3")) == .success(4))
        #expect(store.get("a") == KVEntry(key: "a", value: bytes("3"), createRevision: 4, modRevision: 4, version: 1))
    }

    @Test func test_put_emptyValue_isAllowed() {
        var store = KVStore()
        #expect(store.apply(.put(key: "a", value: [], ifRevision: nil)) == .success(1))
        #expect(store.get("a")?.value == [])
    }

    // MARK: compare-and-set

    @Test func test_put_ifRevisionMatches_succeeds() {
        var store = KVStore()
        _ = store.apply(put("a", "1"))
        #expect(store.apply(put("a", "2", ifRevision: 1)) == .success(2))
        #expect(store.get("a")?.value == bytes("2"))
    }

    @Test func test_put_ifRevisionMismatch_failsWithCurrentRevision() {
        var store = KVStore()
        _ = store.apply(put("calls/7", "1"))
        _ = store.apply(put("calls/7", "2"))
        let before = store
        let error = expectFailure(store.apply(put("calls/7", "3", ifRevision: 1)), .revisionMismatch)
        #expect(error?.currentRevision == 2)
        #expect(error?.message == "key \"calls/7\" is at revision 2, not 1")
        #expect(store == before)
        #expect(store.get("calls/7")?.value == bytes("2"))
    }

    @Test func test_put_ifRevisionZeroOnAbsentKey_creates() {
        var store = KVStore()
        #expect(store.apply(put("lock", "me", ifRevision: 0)) == .success(1))
        #expect(store.get("lock")?.version == 1)
    }

    @Test func test_put_ifRevisionZeroOnExistingKey_failsWithCurrentRevision() {
        var store = KVStore()
        _ = store.apply(put("lock", "me", ifRevision: 0))
        let error = expectFailure(store.apply(put("lock", "you", ifRevision: 0)), .revisionMismatch)
        #expect(error?.currentRevision == 1)
        #expect(error?.message.contains("\"lock\"") == true)
        #expect(store.get("lock")?.value == bytes("me"))
        #expect(store.revision == 1)
    }

    @Test func test_put_ifRevisionNonZeroOnAbsentKey_failsWithCurrentRevisionZero() {
        var store = KVStore()
        let error = expectFailure(store.apply(put("a", "1", ifRevision: 5)), .revisionMismatch)
        #expect(error?.currentRevision == 0)
        #expect(error?.message.contains("\"a\"") == true)
        #expect(error?.message.contains("5") == true)
        #expect(store.count == 0)
    }

    @Test func test_delete_ifRevisionMatches_removesKey() {
        var store = KVStore()
        _ = store.apply(put("a", "1"))
        #expect(store.apply(.delete(key: "a", ifRevision: 1)) == .success(2))
        #expect(store.get("a") == nil)
        #expect(store.count == 0)
    }

    @Test func test_delete_ifRevisionMismatch_failsWithCurrentRevision() {
        var store = KVStore()
        _ = store.apply(put("a", "1"))
        _ = store.apply(put("a", "2"))
        let error = expectFailure(store.apply(.delete(key: "a", ifRevision: 1)), .revisionMismatch)
        #expect(error?.currentRevision == 2)
        #expect(error?.message == "key \"a\" is at revision 2, not 1")
        #expect(store.get("a") != nil)
        #expect(store.revision == 2)
    }

    @Test func test_delete_ifRevisionZeroOnExistingKey_failsWithCurrentRevision() {
        var store = KVStore()
        _ = store.apply(put("a", "1"))
        let error = expectFailure(store.apply(.delete(key: "a", ifRevision: 0)), .revisionMismatch)
        #expect(error?.currentRevision == 1)
        #expect(store.get("a") != nil)
    }

    // MARK: delete absent

    @Test func test_delete_absentKey_failsNotFound() {
        var store = KVStore()
        let error = expectFailure(store.apply(.delete(key: "ghost", ifRevision: nil)), .notFound)
        #expect(error?.message.contains("\"ghost\"") == true)
        #expect(store.revision == 0)
    }

    @Test func test_delete_absentKeyWithIfRevisionZero_failsNotFound() {
        var store = KVStore()
        _ = store.apply(put("other", "x"))
        _ = expectFailure(store.apply(.delete(key: "ghost", ifRevision: 0)), .notFound)
        #expect(store.revision == 1)
    }

    // MARK: revision

    @Test func test_apply_mixedResults_advancesRevisionOnlyOnSuccess() {
        var store = KVStore()
        #expect(store.apply(put("a", "1")) == .success(1))
        _ = expectFailure(store.apply(.delete(key: "b", ifRevision: nil)), .notFound)
        #expect(store.revision == 1)
        _ = expectFailure(store.apply(put("a", "2", ifRevision: 9)), .revisionMismatch)
        #expect(store.revision == 1)
        _ = expectFailure(store.apply(put("", "2")), .invalidKey)
        #expect(store.revision == 1)
        #expect(store.apply(put("b", "1")) == .success(2))
        #expect(store.apply(.delete(key: "a", ifRevision: nil)) == .success(3))
        #expect(store.revision == 3)
        #expect(store.events(prefix: "", fromRevision: 1).map { $0.map(\.revision) } == .success([1, 2, 3]))
    }

    @Test func test_apply_failure_leavesStoreEqualToBefore() {
        var store = KVStore(historyLimit: 3)
        for i in 0..<5 { _ = store.apply(put("k\(i)", "v")) }
        let before = store
        let beforeDigest = store.digest
        _ = store.apply(put("k1", "w", ifRevision: 1))
        _ = store.apply(.delete(key: "zz", ifRevision: nil))
        _ = store.apply(.put(key: "k1", value: [UInt8](repeating: 0, count: KVStore.maxValueBytes + 1), ifRevision: nil))
        #expect(store == before)
        #expect(store.digest == beforeDigest)
        #expect(store.oldestRetainedRevision == 3)
    }

    // MARK: range

    @Test func test_range_prefix_returnsMatchingKeysSorted() {
        var store = KVStore()
        for key in ["calls/3", "calls/10", "agents/1", "calls/1", "calls", "callsx/1", "calls/2"] {
            _ = store.apply(put(key, key))
        }
        #expect(store.range(prefix: "calls/").map(\.key) == ["calls/1", "calls/10", "calls/2", "calls/3"])
        #expect(store.range(prefix: "calls").map(\.key) == ["calls", "calls/1", "calls/10", "calls/2", "calls/3", "callsx/1"])
        #expect(store.range(prefix: "nothing/").isEmpty)
        #expect(store.range(prefix: "calls/1").map(\.value) == [bytes("calls/1"), bytes("calls/10")])
    }

    @Test func test_range_emptyPrefix_returnsAllSorted() {
        var store = KVStore()
        for key in ["b", "c", "a"] { _ = store.apply(put(key, "x")) }
        #expect(store.range(prefix: "").map(\.key) == ["a", "b", "c"])
    }

    @Test func test_range_limit_returnsFirstKeysInOrder() {
        var store = KVStore()
        for i in [5, 3, 9, 1, 7] { _ = store.apply(put("k/\(i)", "x")) }
        #expect(store.range(prefix: "k/", limit: 2).map(\.key) == ["k/1", "k/3"])
        #expect(store.range(prefix: "k/", limit: 10).map(\.key) == ["k/1", "k/3", "k/5", "k/7", "k/9"])
        #expect(store.range(prefix: "k/", limit: 0).isEmpty)
    }

    @Test func test_range_deletedKey_isExcluded() {
        var store = KVStore()
        _ = store.apply(put("k/1", "x"))
        _ = store.apply(put("k/2", "x"))
        _ = store.apply(.delete(key: "k/1", ifRevision: nil))
        #expect(store.range(prefix: "k/").map(\.key) == ["k/2"])
    }

    // MARK: events

    @Test func test_events_fromRevisionWithPrefix_returnsMatchingChangesInRevisionOrder() throws {
        var store = KVStore()
        _ = store.apply(put("calls/1", "a"))      // 1
        _ = store.apply(put("agents/1", "b"))     // 2
        _ = store.apply(put("calls/2", "c"))      // 3
        _ = store.apply(put("calls/1", "d"))      // 4
        _ = store.apply(.delete(key: "calls/2", ifRevision: nil))  // 5
        _ = store.apply(put("agents/1", "e"))     // 6

        let events = try store.events(prefix: "calls/", fromRevision: 3).get()
        #expect(events == [
            .put(KVEntry(key: "calls/2", value: bytes("c"), createRevision: 3, modRevision: 3, version: 1)),
            .put(KVEntry(key: "calls/1", value: bytes("d"), createRevision: 1, modRevision: 4, version: 2)),
            .deleted(key: "calls/2", revision: 5),
        ])
        #expect(events.map(\.revision) == [3, 4, 5])
        #expect(events.map(\.key) == ["calls/2", "calls/1", "calls/2"])

        let all = try store.events(prefix: "", fromRevision: 0).get()
        #expect(all.map(\.revision) == [1, 2, 3, 4, 5, 6])
        #expect(try store.events(prefix: "agents/", fromRevision: 1).get().map(\.revision) == [2, 6])
    }

    @Test func test_events_fromRevisionPastCurrent_returnsEmpty() {
        var store = KVStore()
        #expect(store.events(prefix: "", fromRevision: 0) == .success([]))
        #expect(store.events(prefix: "", fromRevision: 1) == .success([]))
        _ = store.apply(put("a", "1"))
        #expect(store.events(prefix: "", fromRevision: 2) == .success([]))
        #expect(store.events(prefix: "", fromRevision: 1_000) == .success([]))
    }

    @Test func test_events_afterHistoryLimitExceeded_failsCompacted() throws {
        var store = KVStore(historyLimit: 3)
        for i in 1...5 { _ = store.apply(put("k/\(i)", "x")) }
        #expect(store.oldestRetainedRevision == 3)
        #expect(try store.events(prefix: "k/", fromRevision: 3).get().map(\.revision) == [3, 4, 5])
        for from: UInt64 in [0, 1, 2] {
            guard case .failure(let error) = store.events(prefix: "k/", fromRevision: from) else {
                Issue.record("expected compacted from \(from)")
                continue
            }
            #expect(error.code == .compacted)
            #expect(error.message.contains("3"))
        }
    }

    @Test func test_events_manyOperations_keepsLastHistoryLimitEvents() throws {
        var store = KVStore(historyLimit: 100)
        for i in 1...1_000 { _ = store.apply(put("k/\(i % 13)", "\(i)")) }
        #expect(store.oldestRetainedRevision == 901)
        #expect(store.retainedEventCount == 100)
        let events = try store.events(prefix: "", fromRevision: 901).get()
        #expect(events.map(\.revision) == Array(901...1_000))
        #expect(try store.events(prefix: "", fromRevision: 990).get().first?.revision == 990)
    }

    @Test func test_events_historyLimitZero_compactsEverything() {
        var store = KVStore(historyLimit: 0)
        _ = store.apply(put("a", "1"))
        #expect(store.oldestRetainedRevision == 2)
        guard case .failure(let error) = store.events(prefix: "", fromRevision: 1) else {
            Issue.record("expected compacted")
            return
        }
        #expect(error.code == .compacted)
        #expect(store.events(prefix: "", fromRevision: 2) == .success([]))
    }

    // MARK: validation

    @Test func test_put_emptyKey_failsInvalidKey() {
        var store = KVStore()
        let error = expectFailure(store.apply(put("", "x")), .invalidKey)
        #expect(error?.message.contains("empty") == true)
    }

    @Test func test_put_keyWithNul_failsInvalidKeyNamingKey() {
        var store = KVStore()
        let error = expectFailure(store.apply(put("bad\0key", "x")), .invalidKey)
        #expect(error?.message.contains("bad") == true)
        #expect(error?.message.contains("NUL") == true)
        #expect(store.count == 0)
    }

    @Test func test_put_keyOverMaxBytes_failsInvalidKeyNamingKeyAndSize() {
        var store = KVStore()
        let key = "long/" + String(repeating: "x", count: KVStore.maxKeyBytes)
        let error = expectFailure(store.apply(put(key, "x")), .invalidKey)
        #expect(error?.message.contains("long/xxx") == true)
        #expect(error?.message.contains("\(KVStore.maxKeyBytes + 5)") == true)
        #expect(error?.message.contains("\(KVStore.maxKeyBytes)") == true)
    }

    @Test func test_put_keyAtMaxBytes_succeeds() {
        var store = KVStore()
        let key = String(repeating: "é", count: KVStore.maxKeyBytes / 2)  // 2 UTF-8 bytes each
        #expect(store.apply(put(key, "x")) == .success(1))
    }

    @Test func test_delete_invalidKey_failsInvalidKey() {
        var store = KVStore()
        _ = expectFailure(store.apply(.delete(key: "", ifRevision: nil)), .invalidKey)
    }

    @Test func test_put_valueOverOneMiB_failsValueTooLargeNamingKeyAndSize() {
        var store = KVStore()
        let value = [UInt8](repeating: 7, count: (1 << 20) + 1)
        let error = expectFailure(store.apply(.put(key: "blob", value: value, ifRevision: nil)), .valueTooLarge)
        #expect(error?.message.contains("\"blob\"") == true)
        #expect(error?.message.contains("1048577") == true)
        #expect(error?.message.contains("1048576") == true)
        #expect(store.get("blob") == nil)
    }

    @Test func test_put_valueExactlyOneMiB_succeeds() {
        var store = KVStore()
        let value = [UInt8](repeating: 7, count: 1 << 20)
        #expect(store.apply(.put(key: "blob", value: value, ifRevision: nil)) == .success(1))
    }

    @Test func test_error_description_includesCodeAndMessage() {
        let error = KVError(code: .staleEpoch, message: "epoch 3 is older than 4")
        #expect(error.description == "staleEpoch: epoch 3 is older than 4")
        #expect(KVError.Code.revisionMismatch != KVError.Code.notFound)
        #expect(KVError.Code("custom").description == "custom")
    }

    // MARK: determinism

    @Test func test_digest_sameOpsSameOrder_equalAndDifferentAfterOneMoreOp() {
        var first = KVStore(historyLimit: 50)
        var second = KVStore(historyLimit: 50)
        var results: [Result<UInt64, KVError>] = []
        for operation in scriptedOperations() {
            let result = first.apply(operation)
            #expect(second.apply(operation) == result)
            results.append(result)
        }
        #expect(results.contains { if case .failure = $0 { true } else { false } })
        #expect(first.digest == second.digest)
        _ = first.apply(put("one/more", "op"))
        #expect(first.digest != second.digest)
    }

    @Test func test_digest_sameKeysDifferentValue_differs() {
        var first = KVStore()
        var second = KVStore()
        _ = first.apply(put("a", "1"))
        _ = second.apply(put("a", "2"))
        #expect(first.digest != second.digest)
    }

    @Test func test_digest_insertionOrder_affectsOnlyRevisionsNotIteration() {
        // Same final contents reached in different orders differ only through the revisions;
        // the digest never depends on dictionary iteration order.
        var first = KVStore()
        var second = KVStore()
        for i in 0..<200 { _ = first.apply(put("k\(i)", "v")) }
        for i in (0..<200).reversed() { _ = second.apply(put("k\(i)", "v")) }
        #expect(first.range(prefix: "").map(\.key) == second.range(prefix: "").map(\.key))
        #expect(first.digest != second.digest)
        let restoredFirst = KVStore(entries: first.range(prefix: ""), revision: first.revision)
        #expect(restoredFirst.digest == first.digest)
    }

    @Test func test_equality_sameOpsSameOrder_storesEqual() {
        var first = KVStore(historyLimit: 50)
        var second = KVStore(historyLimit: 50)
        for operation in scriptedOperations() {
            _ = first.apply(operation)
            _ = second.apply(operation)
        }
        #expect(first == second)
        _ = first.apply(put("one/more", "op"))
        #expect(first != second)
    }

    @Test func test_equality_sameStateDifferentHistoryLayout_storesEqual() {
        // A store restored from a snapshot at revision 290 and then given the last ten
        // operations keeps the same ten events as one that saw all 300, in a differently laid
        // out history array; equality looks only at the kept events.
        let operations = (0..<300).map { put("k\($0 % 7)", "\($0)") }
        var full = KVStore(historyLimit: 10)
        var atSnapshot = KVStore(historyLimit: 10)
        for (i, operation) in operations.enumerated() {
            _ = full.apply(operation)
            if i < 290 { _ = atSnapshot.apply(operation) }
        }
        var restored = KVStore(entries: atSnapshot.range(prefix: ""), revision: atSnapshot.revision, historyLimit: 10)
        #expect(restored != atSnapshot)  // its history is empty
        for operation in operations[290...] { _ = restored.apply(operation) }
        #expect(restored == full)
        #expect(restored.digest == full.digest)
    }

    // MARK: snapshot restore

    @Test func test_initEntries_snapshot_restoresStateWithCompactedHistory() throws {
        var original = KVStore()
        for i in 0..<10 { _ = original.apply(put("k/\(i % 4)", "\(i)")) }
        var restored = KVStore(entries: original.range(prefix: ""), revision: original.revision)
        #expect(restored.digest == original.digest)
        #expect(restored.get("k/1") == original.get("k/1"))
        #expect(restored.oldestRetainedRevision == 11)
        guard case .failure(let error) = restored.events(prefix: "", fromRevision: 5) else {
            Issue.record("expected compacted")
            return
        }
        #expect(error.code == .compacted)
        #expect(restored.apply(put("k/1", "new", ifRevision: original.get("k/1")!.modRevision)) == .success(11))
        #expect(try restored.events(prefix: "", fromRevision: 11).get().count == 1)
    }
}
