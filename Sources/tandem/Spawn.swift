#if canImport(Glibc)
import Glibc
#endif

/// Small process helpers for the CLI (the agent's resources use TandemResources).
/// glibc's POSIX_SPAWN_SETSID (spawn.h), which Swift does not import.
let posixSpawnSetSID: Int32 = 0x80

enum Processes {
    /// The path of this executable, for starting agents and guards of the same version.
    static func selfExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Starts `argv` detached (its own session), with standard output and error appended to
    /// `logPath` and standard input from /dev/null. Returns its pid.
    static func spawnDetached(_ argv: [String], logPath: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(posixSpawnSetSID))
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, &cArgs, environ)
        guard rc == 0 else { throw CLIError("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    static func isAlive(_ pid: pid_t) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0 { return errno == EPERM }
        // A zombie (our own child not yet reaped) counts as dead.
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0 || errno == ECHILD
    }
}

/// An error the CLI prints as it is, then exits 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
