import ArgumentParser
import Foundation
import TandemAgent
import TandemHTTP

/// `tandem drill run|list|show`: acceptance drills against the live cluster, run by the
/// agent asked (which also runs the probe), and their records.
struct DrillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill", abstract: "Run a drill against the live cluster and keep its acceptance record; list and show records.",
        subcommands: [Run.self, List.self, Show.self])

    /// "500ms", "1.5s", "2s" or a bare number of milliseconds.
    static func milliseconds(_ text: String) throws -> Double {
        let t = text.trimmingCharacters(in: .whitespaces)
        let value: Double?
        if t.hasSuffix("ms") { value = Double(t.dropLast(2)) } else if t.hasSuffix("s") { value = Double(t.dropLast()).map { $0 * 1000 } } else { value = Double(t) }
        guard let value, value >= 0, value.isFinite else { throw CLIError("\(text.debugDescription) is not a duration: write it as 500ms or 1.5s") }
        return value
    }

    static func decode<T: Decodable>(_ type: T.Type, _ answer: HTTPClient.Answer) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(answer.body))
        } catch {
            throw CLIError("the agent's answer is not what this version of tandem reads: \(answer.text.prefix(300))")
        }
    }

    static func summary(_ r: DrillRecord) -> String {
        var out = "drill \(r.id): \(r.scenario) of \(r.group) — \(r.state.uppercased())\n"
        out += "  expected:     \(r.expected)\n"
        out += "  owner:        \(r.ownerBefore ?? "none") (epoch \(r.epochBefore)) → \(r.ownerAfter ?? "none") (epoch \(r.epochAfter.map(String.init) ?? "?"))\n"
        if let ms = r.interruptionMs {
            out += "  interruption: " + String(format: "%.1f ms", ms) + (r.maxInterruptionMs.map { String(format: " (allowed %.1f ms)", $0) } ?? "") + " seen by \(r.probe?.target ?? "?")\n"
        }
        for p in r.phases {
            out += "  phase \(p.name.padding(toLength: 17, withPad: " ", startingAt: 0)) " + (p.atMs.map { String(format: "%8.1f ms", $0) } ?? "       -   ") + "  \(p.detail)\n"
        }
        for c in r.checks { out += "  \(c.passed ? "pass" : "FAIL")  \(c.what): \(c.detail)\n" }
        if !r.alarmsRaised.isEmpty { out += "  alarms raised: \(r.alarmsRaised.count), cleared: \(r.alarmsCleared.count)\n" }
        if !r.openIssues.isEmpty { out += "  open issues: \(r.openIssues.joined(separator: "; "))\n" }
        out += "  operator:     \(r.operator ?? "not confirmed")\n"
        return out
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a drill: switchover, active-failure, service-failure, link-failure, isolation, recovery or observe.")
        @OptionGroup var options: APIOptions
        @Argument(help: "The scenario.") var scenario: String
        @Option(name: .long, help: "The group (default: the first).") var group: String?
        @Option(name: .long, help: "Probe the service as a client: tcp://HOST:PORT, http://HOST:PORT/PATH or udp://HOST:PORT.") var probe: String?
        @Option(name: .long, help: "The longest interruption that passes, e.g. 500ms.") var maxInterruption: String?
        @Option(name: .long, help: "How long the fault lasts at most, in seconds (default 10).") var faultSeconds: Double?
        @Option(name: .long, help: "observe: how long to watch, in seconds (default 60).") var observeSeconds: Double?
        @Option(name: .long, help: "Who confirms the record.") var `operator`: String?
        @Flag(name: .long, help: "Ask for the name of the person who confirms the record.") var confirm = false
        @Flag(name: .long, help: "Print the record as JSON.") var json = false

        func run() async throws {
            var name = self.operator
            if confirm, name == nil {
                print("Type your name to confirm this drill's record: ", terminator: "")
                flushOutput()
                guard let line = readLine()?.trimmingCharacters(in: .whitespaces), !line.isEmpty else {
                    throw CLIError("no name was typed: the drill was not started (or pass --operator NAME)")
                }
                name = line
            }
            var body: [String: Any] = ["scenario": scenario]
            if let group { body["group"] = group }
            if let probe { body["probe"] = probe }
            if let maxInterruption { body["maxInterruptionMs"] = try DrillCommand.milliseconds(maxInterruption) }
            if let faultSeconds { body["faultSeconds"] = faultSeconds }
            if let observeSeconds { body["observeSeconds"] = observeSeconds }
            if let name { body["operator"] = name }
            let client = try options.client()
            let started = try DrillCommand.decode(DrillRecord.self, try client.call(
                "POST", "/v1/drills", body: Array(try JSONSerialization.data(withJSONObject: body)), timeout: .seconds(10)))
            if !json { print("drill \(started.id) started on \(started.node): \(started.expected)") }
            var shown = 0
            var record = started
            var failures = 0
            while record.state == "running" {
                try await Task.sleep(for: .milliseconds(300))
                do {
                    record = try DrillCommand.decode(DrillRecord.self, try client.call("GET", "/v1/drills/\(pathComponent(started.id))", timeout: .seconds(10)))
                    failures = 0
                } catch {
                    // The drill itself may make the agent slow to answer for a moment.
                    failures += 1
                    if failures >= 20 { throw error }
                    continue
                }
                if !json {
                    for line in record.steps.dropFirst(shown) { print("  " + line) }
                    flushOutput()
                }
                shown = record.steps.count
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                print(String(decoding: try encoder.encode(record), as: UTF8.self))
            } else {
                print(DrillCommand.summary(record), terminator: "")
            }
            guard record.state == "passed" else {
                throw CLIError("drill \(record.id) FAILED: " + record.checks.filter { !$0.passed }.map(\.what).joined(separator: "; "))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the drill records (newest first).")
        @OptionGroup var options: APIOptions
        @Flag(name: .long, help: "Print the agent's JSON answer.") var json = false

        func run() async throws {
            let answer = try options.client().call("GET", "/v1/drills")
            if json {
                print(answer.text)
                return
            }
            let list = try DrillCommand.decode(DrillListBody.self, answer)
            var rows = [["ID", "SCENARIO", "GROUP", "RESULT", "INTERRUPTION", "OPERATOR"]]
            for d in list.drills {
                rows.append([d.id, d.scenario, d.group, d.state, d.interruptionMs.map { String(format: "%.1f ms", $0) } ?? "-", d.operator ?? "-"])
            }
            print(StatusTable.table(rows), terminator: "")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a drill record; export it as JSON or as a self-contained HTML page.")
        @OptionGroup var options: APIOptions
        @Argument(help: "The drill's id (see `tandem drill list`).") var id: String
        @Flag(name: .long, help: "Print the record as JSON.") var json = false
        @Option(name: .long, help: "Write the record as an HTML page with its timeline to this file.") var html: String?

        func run() async throws {
            let client = try options.client()
            if let html {
                let page = try client.call("GET", "/v1/drills/\(pathComponent(id))/report.html")
                try Data(page.body).write(to: URL(fileURLWithPath: html))
                print("wrote \(html)")
                return
            }
            let answer = try client.call("GET", "/v1/drills/\(pathComponent(id))")
            if json {
                print(answer.text)
                return
            }
            print(DrillCommand.summary(try DrillCommand.decode(DrillRecord.self, answer)), terminator: "")
        }
    }
}
