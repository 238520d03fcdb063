import Glibc
import Synchronization

// Small concurrency tools the rest of the module builds on. Blocking system calls (waitid,
// fsync, poll on an ICMP socket, getaddrinfo) never run on Swift's cooperative pool, which
// has as many threads as cores: each runs on an OS thread of its own, started here.

/// A one-shot event: `fire()` once, any number of waiters, each cancellable.
final class OneShot: Sendable {
    private struct State {
        var fired = false
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    var isFired: Bool { state.withLock { $0.fired } }

    func fire() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard !s.fired else { return [] }
            s.fired = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once fired, or as soon as the calling task is cancelled.
    func wait() async {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.fired || Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// True when fired within `timeout`; false on timeout or cancellation.
    func wait(timeout: Duration) async -> Bool {
        if isFired { return true }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        return isFired
    }
}

private final class ThreadBody {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// Starts a detached OS thread running `body`. False when the system refuses a thread.
@discardableResult
func startThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, 512 * 1024)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, &attributes, { context in
        Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().body()
        return nil
    }, context)
    if rc != 0 {
        Unmanaged<ThreadBody>.fromOpaque(context).release()
        return false
    }
    return true
}

/// Runs blocking `body` on a thread of its own and returns its value, or `nil` when it has not
/// finished within `timeout` (it then finishes on its own; its result is dropped). The caller
/// is never held longer than `timeout`, even by a system call that hangs (a dead NFS mount).
func onThread<T: Sendable>(timeout: Duration, _ body: @escaping @Sendable () -> T) async -> T? {
    let result = Mutex<T?>(nil)
    let done = OneShot()
    guard startThread({
        let value = body()
        result.withLock { $0 = value }
        done.fire()
    }) else {
        return nil
    }
    _ = await done.wait(timeout: timeout)
    return result.withLock { $0 }
}

/// Runs `operation` in a task of its own and returns its value, or `nil` after `timeout`
/// (the operation is then cancelled and left to finish in the background). Unlike a task
/// group, this does not wait for an operation that ignores cancellation (a NIO future).
func withTimeout<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async -> T) async -> T? {
    let result = Mutex<T?>(nil)
    let done = OneShot()
    let task = Task {
        let value = await operation()
        result.withLock { $0 = value }
        done.fire()
    }
    let finished = await withTaskCancellationHandler {
        await done.wait(timeout: timeout)
    } onCancel: {
        task.cancel()
    }
    guard finished else {
        task.cancel()
        return nil
    }
    return result.withLock { $0 }
}

extension Duration {
    /// Whole milliseconds, rounded up (for poll and for messages).
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    }

    /// "500ms", "2s", "1.5s": for messages.
    var shortDescription: String {
        let ms = milliseconds
        if ms < 1000 { return "\(ms)ms" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms / 1000).\(String(ms % 1000 / 100))s"
    }
}

/// The text of an errno value: "Connection refused".
func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}
