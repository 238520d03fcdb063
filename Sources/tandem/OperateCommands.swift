import ArgumentParser
import Foundation
import TandemAgent
import TandemHTTP

#if canImport(Glibc)
import Glibc
#endif

/// The answer of an operator action, as the CLI prints it.
private func report(_ action: ActionBody) -> String {
    switch action.outcome {
    case "moved": "\(action.action): done — \(action.owner ?? "?") owns \(action.group ?? "?") at epoch \(action.epoch.map(String.init) ?? "?") (asked by \(action.by))"
    default: "\(action.action): done (log index \(action.index), asked by \(action.by))"
    }
}

private func jsonBody(_ object: [String: Any]) -> [UInt8] {
    Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8))
}

/// A path component, percent-encoded.
func pathComponent(_ text: String) -> String {
    var allowed = CharacterSet.urlPathAllowed
    allowed.remove(charactersIn: "/?#")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}

/// `on` or `off`.
enum Switch: String, ExpressibleByArgument, CaseIterable {
    case on, off
}

/// Operator actions wait this long for their outcome (a switchover waits for the move).
private let actionTimeout: Duration = .seconds(35)

/// POSTs an operator action and prints its outcome (or the agent's JSON).
private func perform(_ options: APIOptions, _ path: String, body: [String: Any] = [:], json: Bool) throws {
    let answer = try options.client().call("POST", path, body: body.isEmpty ? [] : jsonBody(body), timeout: actionTimeout)
    if json {
        print(answer.text)
        return
    }
    guard let action = try? JSONDecoder().decode(ActionBody.self, from: Data(answer.body)) else {
        throw CLIError("the agent's answer is not what this version of tandem reads: \(answer.text.prefix(300))")
    }
    print(report(action))
}

struct SwitchoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchover", abstract: "Move a group to a standby now (planned: no data lost); waits until it has moved.")
    @OptionGroup var options: APIOptions
    @Argument(help: "The group to move.") var group: String
    @Option(name: .long, help: "The node to move it to (default: the best ready standby).") var to: String?
    @Flag(name: .long, help: "Print the agent's JSON answer.") var json = false

    func run() async throws {
        try perform(options, "/v1/groups/\(pathComponent(group))/switchover", body: to.map { ["to": $0] } ?? [:], json: json)
    }
}

struct FailbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failback", abstract: "Move a group back to its most preferred ready node; waits until it has moved.")
    @OptionGroup var options: APIOptions
    @Argument(help: "The group to move back.") var group: String
    @Flag(name: .long, help: "Print the agent's JSON answer.") var json = false

    func run() async throws {
        try perform(options, "/v1/groups/\(pathComponent(group))/failback", json: json)
    }
}

struct MaintenanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maintenance", abstract: "Drain a node (its groups move away; it stays a voter) or return it to service.")
    @OptionGroup var options: APIOptions
    @Argument(help: "The node.") var node: String
    @Argument(help: "on or off.") var state: Switch
    @Flag(name: .long, help: "Print the agent's JSON answer.") var json = false

    func run() async throws {
        try perform(options, "/v1/nodes/\(pathComponent(node))/maintenance", body: ["on": state == .on], json: json)
    }
}

struct FreezeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "freeze", abstract: "Pause (on) or resume (off) every automatic move of the cluster.")
    @OptionGroup var options: APIOptions
    @Argument(help: "on or off.") var state: Switch
    @Flag(name: .long, help: "Print the agent's JSON answer.") var json = false

    func run() async throws {
        try perform(options, "/v1/freeze", body: ["on": state == .on], json: json)
    }
}

/// `tandem events [--follow] [--since ID]`.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Show the events one agent recorded (role changes with their reasons, links, checks, operator actions), or every node's.")
    @OptionGroup var options: APIOptions
    @Flag(name: .long, help: "Every reachable node's newest events, merged by time (not with --since or --follow).") var cluster = false
    @Flag(name: .long, help: "Keep printing new events as they happen.") var follow = false
    @Option(name: .long, help: "Only events after this id (default: the last --limit).") var since: Int64?
    @Option(name: .long, help: "How many events to show (at most 1000).") var limit = 50
    @Flag(name: .long, help: "One JSON object per line (stable for scripts).") var json = false

    func run() async throws {
        guard (1...1000).contains(limit) else { throw CLIError("--limit must be from 1 to 1000") }
        let client = try options.client()
        if cluster {
            guard since == nil, !follow else { throw CLIError("--cluster shows the newest events of every node; it takes neither --since nor --follow (those follow one node)") }
            let merged = try client.json(EventsBody.self, "GET", "/v1/events?scope=cluster&limit=\(limit)", timeout: .seconds(5))
            for event in merged.events { print(line(event)) }
            if let missing = merged.missing, !missing.isEmpty, !json {
                FileHandle.standardError.write(Data("not included (no answer): \(missing.joined(separator: ", "))\n".utf8))
            }
            return
        }
        var after: Int64
        var printed = 0
        if let since {
            after = since
            while true {
                let page = try client.json(EventsBody.self, "GET", "/v1/events?since=\(after)&limit=1000")
                for event in page.events.prefix(limit - printed) { print(line(event)) }
                printed += page.events.count
                after = page.last
                if page.events.count < 1000 || printed >= limit { break }
            }
        } else {
            let page = try client.json(EventsBody.self, "GET", "/v1/events?limit=\(limit)")
            for event in page.events { print(line(event)) }
            printed = page.events.count
            after = page.last
        }
        guard follow else {
            if printed == 0, !json { FileHandle.standardError.write(Data("no events after id \(after)\n".utf8)) }
            return
        }
        flushOutput()  // the history now, not with the first new event (when piped)
        try client.follow("/v1/events/stream?since=\(after)") { message in
            guard message.event == "event", let row = try? JSONDecoder().decode(AgentStatus.EventRow.self, from: Data(message.data.utf8))
            else { return true }
            print(line(row))
            flushOutput()
            return true
        }
    }

    func line(_ e: AgentStatus.EventRow) -> String {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return (try? encoder.encode(e)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        }
        return EventLine.render(e)
    }
}

enum EventLine {
    static func render(_ e: AgentStatus.EventRow) -> String {
        let date = Date(timeIntervalSince1970: Double(e.wallMilliseconds) / 1000)
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS"
        var text = "\(formatter.string(from: date)) #\(e.id) \(e.node) \(e.kind)"
        if let group = e.group { text += " \(group)" }
        if let epoch = e.epoch { text += " epoch \(epoch)" }
        text += ": \(e.reason)"
        if !e.evidence.isEmpty { text += " [\(e.evidence)]" }
        return text
    }
}

/// `tandem version`.
struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print this tandem's version (and the agent's, when one answers).")
    @OptionGroup var options: APIOptions

    func run() async throws {
        print("tandem \(TandemVersion.current)")
        if let client = try? options.client(), let status = try? client.json(AgentStatus.self, "GET", "/v1/status", timeout: .seconds(2)) {
            print("agent \(status.node) of cluster \(status.cluster): \(status.version)")
        }
    }
}

/// Flushes standard output (a followed stream's lines reach a pipe at once).
func flushOutput() {
    fflush(nil)
}
