import Glibc

/// What became of a command run by ``runShell(_:environment:timeout:killGrace:outputLimit:)``.
public struct CommandResult: Sendable, Equatable, CustomStringConvertible {
    public enum Outcome: Sendable, Equatable {
        /// It ended by itself (exit code, or killed by a signal someone else sent).
        case finished(Termination)
        /// It ran past its timeout; its whole process group was killed.
        case timedOut(Duration)
        /// The calling task was cancelled; its whole process group (if started) was killed.
        case cancelled
        /// It could not be started at all.
        case launchFailed(String)
    }

    /// The command, for messages (cut to 80 characters).
    public var command: String
    public var outcome: Outcome
    /// The last few KB of stdout and stderr, interleaved as written, trimmed.
    public var output: String

    /// The exit code when the command exited by itself.
    public var exitCode: Int32? {
        if case .finished(.exited(let code)) = outcome { return code }
        return nil
    }

    /// True when it exited with 0.
    public var succeeded: Bool { exitCode == 0 }

    /// "exit 3", "timed out after 5s (process group killed)", …, for messages.
    public var status: String {
        switch outcome {
        case .finished(let termination): termination.description
        case .timedOut(let timeout): "timed out after \(timeout.shortDescription) (process group killed)"
        case .cancelled: "cancelled (process group killed)"
        case .launchFailed(let why): why
        }
    }

    /// "`cmd`: exit 3: last line of output", for error messages.
    public var description: String {
        let lastLines = output.split(separator: "\n").suffix(3).joined(separator: " | ")
        return lastLines.isEmpty ? "`\(command)`: \(status)" : "`\(command)`: \(status): \(lastLines)"
    }
}

/// Runs `/bin/sh -c command` with the agent's environment plus `environment`, in a session and
/// process group of its own, stdin from /dev/null, and waits for it at most `timeout`.
///
/// On timeout (or cancellation of the calling task) the whole process group, grandchildren
/// included, gets SIGTERM, then SIGKILL after `killGrace`; the call returns once that is done
/// and the shell is reaped. Processes the command leaves running in the background after it
/// exits normally are left alone (a start script may launch a daemon), and so they do not hold
/// the call up, output goes to an unlinked temporary file rather than a pipe: what such a
/// daemon later writes lands there, so daemons started by scripts should redirect their output.
public func runShell(
    _ command: String, environment: [String: String] = [:], timeout: Duration,
    killGrace: Duration = .seconds(1), outputLimit: Int = 4096
) async -> CommandResult {
    await runCommand(["/bin/sh", "-c", command], display: command, environment: environment, timeout: timeout,
                     killGrace: killGrace, outputLimit: outputLimit)
}

/// Runs a program directly (no shell); `argv[0]` is an absolute path or is looked up in PATH.
/// Otherwise as ``runShell(_:environment:timeout:killGrace:outputLimit:)``.
public func runCommand(
    _ argv: [String], display: String? = nil, environment: [String: String] = [:], timeout: Duration,
    killGrace: Duration = .seconds(1), outputLimit: Int = 4096
) async -> CommandResult {
    var shown = display ?? argv.joined(separator: " ")
    if shown.count > 80 { shown = String(shown.prefix(77)) + "..." }
    guard !argv.isEmpty else { return CommandResult(command: shown, outcome: .launchFailed("empty command"), output: "") }
    if Task.isCancelled { return CommandResult(command: shown, outcome: .cancelled, output: "") }
    let output = OutputFile()
    let child: ChildProcess
    do {
        child = try ChildProcess.spawn(argv, environment: mergedEnvironment(environment), output: output?.fd)
    } catch {
        return CommandResult(command: shown, outcome: .launchFailed(error.description), output: "")
    }
    let outcome: CommandResult.Outcome
    if await child.waitForExit(timeout: timeout) {
        outcome = .finished(await child.reap())
    } else {
        let cancelled = Task.isCancelled
        await child.terminate(grace: killGrace)
        outcome = cancelled ? .cancelled : .timedOut(timeout)
    }
    return CommandResult(command: shown, outcome: outcome, output: output?.tail(outputLimit) ?? "")
}

/// The agent's own environment with `extra` added (and overriding), as "KEY=VALUE" strings.
func mergedEnvironment(_ extra: [String: String]) -> [String] {
    var result: [String] = []
    var index = 0
    while let entry = environ[index] {
        index += 1
        let text = String(cString: entry)
        let key = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? text
        if extra[key] == nil { result.append(text) }
    }
    for (key, value) in extra.sorted(by: { $0.key < $1.key }) { result.append("\(key)=\(value)") }
    return result
}

/// An unlinked temporary file that collects a command's stdout and stderr.
private final class OutputFile {
    let fd: Int32

    init?() {
        let directory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(directory)/tandem-output-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        self.fd = fd
    }

    deinit { close(fd) }

    /// The last `limit` bytes, as text (invalid UTF-8 repaired), trimmed.
    func tail(_ limit: Int) -> String {
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0 else { return "" }
        let size = Int(info.st_size)
        let start = max(0, size - limit)
        var bytes = [UInt8](repeating: 0, count: size - start)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
        guard n > 0 else { return "" }
        let text = String(decoding: bytes[..<n], as: UTF8.self)
        let trimmed = text.trimmingWhitespace()
        return start > 0 ? "..." + trimmed : trimmed
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
