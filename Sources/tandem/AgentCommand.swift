import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import TandemAgent
import TandemConfig
import TandemCore
import TandemHTTP
import TandemWire
import UnixSignals

/// `tandem agent --config FILE --node ID`: runs one node until SIGTERM or SIGINT, which
/// first hand this node's groups to a standby.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Run this machine's node of the cluster (the same file on every node).")

    @Option(name: .long, help: "The cluster's configuration file.")
    var config: String = "/etc/tandem/tandem.yaml"

    @Option(name: .long, help: "Which node of the file this machine is.")
    var node: String

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(name: .long, help: "How long SIGTERM waits for this node's groups to move to a standby.")
    var handOverSeconds: Double = 30

    func run() async throws {
        let (given, text) = try readConfig(config)
        let id = NodeID(node)
        guard given.cluster.node(id) != nil else {
            throw CLIError("\(config): there is no node \(node.debugDescription); the file has \(given.cluster.nodes.map(\.id.name).joined(separator: ", "))")
        }
        // A revision applied from the log since the file was written is newer: run that.
        let file: TandemFile
        let document: String
        do {
            let effective = try AppliedConfigs.effective(given, node: id)
            file = effective.file
            document = effective.document ?? text
        } catch {
            throw CLIError("\(error)")
        }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw CLIError("unknown log level \(logLevel.debugDescription); use trace, debug, info, notice, warning, error or critical")
        }
        var keys: [ClusterKey] = []
        for path in file.keyFiles {
            do { keys.append(try ClusterKey.load(path: path)) } catch { throw CLIError("\(error)") }
        }
        // The token file, TLS certificate and key are read before anything starts: a bad one
        // is refused at once.
        let access = try apiAccess(file.api)
        let tls = try apiTLS(file.api)
        try makeDirectory(file.dataDir)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "tandem.\(node)")
        logger.logLevel = level
        if file.cluster.revision != given.cluster.revision {
            logger.notice("running configuration revision \(file.cluster.revision), applied here from the log, not \(config)'s revision \(given.cluster.revision)")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let runtime: NodeRuntime
        do {
            runtime = try await NodeRuntime(
                file: file, document: document, configPath: config, node: id, keys: keys, executable: Processes.selfExecutable(),
                group: group, logger: logger, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw CLIError("\(error)")
        }
        var services: [any Service] = []
        if let api = file.addresses[id]?.api {
            if access.isOpen {
                logger.warning("api.token_file is not set: anyone who reaches \(api) can act on the cluster (switchover, maintenance, KV writes)")
            }
            if let tls {
                logger.info("the API serves HTTPS only, with \(tls.summary)")
                for warning in tls.warnings { logger.warning("\(warning)") }
            }
            services.append(AgentAPI.application(runtime: runtime, access: access, host: api.host, port: api.port, tls: tls, logger: logger))
        } else {
            logger.warning("node \(node) has no api address: status and KV are not served")
        }
        // Last in the list, so shut down first: the hand-over runs while the API still answers.
        services.append(RuntimeService(runtime: runtime, handOver: .milliseconds(Int64(handOverSeconds * 1000))))
        let serviceGroup = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await serviceGroup.run()
        // Read before the runtime's event loop goes away (the actor runs on it).
        let failure = await runtime.failure
        try? await group.shutdownGracefully()
        if let failure { throw CLIError("agent failed: \(failure)") }
    }
}

/// The API's access rules from `api:` (the token file read and checked).
func apiAccess(_ settings: APISettings) throws -> APIAccess {
    guard let path = settings.tokenFile else { return .open }
    do {
        return APIAccess(tokens: try TokenFile.load(path: path), reads: settings.reads)
    } catch {
        throw CLIError("\(error)")
    }
}

/// The API's certificate and key from `api.tls` (read and checked), or nil for plain HTTP.
func apiTLS(_ settings: APISettings) throws -> APITLS? {
    guard let tls = settings.tls else { return nil }
    do {
        return try APITLS(tls)
    } catch {
        throw CLIError("\(error)")
    }
}

/// The runtime as a service: runs until a graceful shutdown, then hands over and stops.
struct RuntimeService: Service {
    let runtime: NodeRuntime
    let handOver: Duration
    func run() async throws {
        // Returns at the graceful shutdown (SIGTERM/SIGINT: the wait is cancelled at once, so
        // the hand-over starts without delay) or when the runtime fails (checked every 200 ms).
        let runtime = self.runtime
        try? await cancelWhenGracefulShutdown {
            while await runtime.failure == nil { try await Task.sleep(for: .milliseconds(200)) }
        }
        await runtime.shutdown(handOverWithin: handOver)
    }
}

/// `tandem guard`: started by the agent, never by hand (see `GuardProcess`).
struct GuardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guard", abstract: "Internal: the standing guard the agent starts beside itself.", shouldDisplay: false)

    @Option(name: .long) var config: String
    @Option(name: .long) var node: String

    func run() async throws {
        let file = try loadConfig(config)
        let id = NodeID(node)
        let logger = Logger(label: "tandem.guard.\(node)")
        let hands = Hands(file: file, node: id, logger: logger)
        let process = GuardProcess(
            teardown: { group, epoch, revision, reason in
                // Stopped as the revision it was started with describes it.
                if revision != file.cluster.revision, let applied = AppliedConfigs.load(revision: revision, like: file, node: id) {
                    await Hands.stop(group, epoch: epoch, reason: reason, file: applied, node: id, logger: logger)
                } else {
                    if revision != file.cluster.revision {
                        logger.error("configuration revision \(revision) of \(group) is not stored here; stopping it as \(config) says")
                    }
                    await hands.stop(group, epoch: epoch, reason: reason)
                }
            },
            log: { logger.notice("\($0)") })
        await process.run()
    }
}

/// `tandem config check FILE` here; `show`, `apply`, `history`, `rollback` in ConfigCommands.swift.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check a configuration file, or see and change the cluster's configuration.",
        subcommands: [Check.self, Show.self, Apply.self, History.self, Rollback.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a configuration file without running anything; print every problem.")
        @Argument(help: "The file to check.") var file: String
        func run() async throws {
            let loaded = try loadConfig(file)
            let timing = loaded.cluster.timing
            print("\(file): ok — cluster \(loaded.cluster.name), \(loaded.cluster.nodes.count) nodes, \(loaded.cluster.groups.count) groups, timing \(timing.profile ?? "explicit") (heartbeat \(timing.heartbeat), election timeout \(timing.electionTimeout), lease \(timing.lease))")
        }
    }
}

/// `tandem keygen [FILE]`.
struct KeygenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen", abstract: "Make a new cluster key (to standard output, or to FILE with mode 0600).")
    @Argument(help: "Write the key to this file (created with mode 0600; an existing file is not overwritten).")
    var file: String?

    func run() async throws {
        let text = ClusterKey.generate().fileText
        guard let file else {
            print(text, terminator: "")
            FileHandle.standardError.write(Data("keep it secret: the agent accepts the key file only with mode 0600 (chmod 600 FILE)\n".utf8))
            return
        }
        guard try createSecretFile(file, text) else {
            throw CLIError("cannot create \(file): \(String(cString: strerror(EEXIST)))")
        }
    }
}

/// Creates `path` with mode 0600 and writes `text` to it, durably (fsync). Returns false,
/// writing nothing, when the file already exists; throws naming the path otherwise.
func createSecretFile(_ path: String, _ text: String) throws -> Bool {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    if fd < 0, errno == EEXIST { return false }
    guard fd >= 0 else { throw CLIError("cannot create \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    guard write(fd, bytes, bytes.count) == bytes.count, fsync(fd) == 0 else {
        throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
    return true
}

/// Loads and validates a configuration file, or fails listing every problem.
func loadConfig(_ path: String) throws -> TandemFile {
    try readConfig(path).file
}

/// `loadConfig`, with the file's text.
func readConfig(_ path: String) throws -> (file: TandemFile, text: String) {
    do {
        return try ConfigFile.read(path: path)
    } catch {
        throw CLIError(error.problems.map(\.description).joined(separator: "\n"))
    }
}

func makeDirectory(_ path: String) throws {
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    } catch {
        throw CLIError("cannot create the data directory \(path): \(error.localizedDescription)")
    }
}
