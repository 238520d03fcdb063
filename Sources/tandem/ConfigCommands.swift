import ArgumentParser
import Foundation
import TandemAgent
import TandemConfig
import TandemHTTP

/// How long a configuration change may take: the check on every node, then the commit.
private let configTimeout: Duration = .seconds(20)

private func decode<T: Decodable>(_ type: T.Type, _ answer: HTTPClient.Answer) throws -> T {
    do {
        return try JSONDecoder().decode(T.self, from: Data(answer.body))
    } catch {
        throw CLIError("the agent's answer is not what this version of tandem reads: \(answer.text.prefix(300))")
    }
}

private func report(_ result: ConfigChangeResult, dryRun: Bool) -> String {
    var text = dryRun
        ? "revision \(result.revision): would be taken by \(result.checkedBy.joined(separator: ", ")); nothing was changed"
        : "revision \(result.revision) is the cluster's configuration (log index \(result.index ?? 0)); checked by \(result.checkedBy.joined(separator: ", "))"
    if !result.unreachable.isEmpty {
        text += "\nnot reachable, so not checked: \(result.unreachable.joined(separator: ", ")) — each applies it when it is back (an alarm says if it cannot)"
    }
    return text
}

extension ConfigCommand {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the cluster's configuration file (the current revision, or --revision N).")
        @OptionGroup var options: APIOptions
        @Option(name: .long, help: "A revision from `tandem config history`.") var revision: UInt64?
        @Flag(name: .long, help: "Print the agent's JSON answer.") var json = false

        func run() async throws {
            let answer = try options.client().call("GET", "/v1/config" + (revision.map { "?revision=\($0)" } ?? ""))
            if json {
                print(answer.text)
                return
            }
            let view = try decode(ConfigView.self, answer)
            let who = view.index == 0 ? "from the nodes' files" : "by \(view.author) at \(view.time), log index \(view.index)"
            FileHandle.standardError.write(Data("# revision \(view.revision)\(view.current ? " (current)" : ""), \(who)\n".utf8))
            print(view.document, terminator: view.document.hasSuffix("\n") ? "" : "\n")
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make FILE the cluster's next configuration revision: checked on every reachable node, then committed; refused whole if any node would refuse it.")
        @OptionGroup var options: APIOptions
        @Argument(help: "The whole configuration file, with revision: one more than the current.") var file: String
        @Flag(name: .long, help: "Only check it on every node; change nothing.") var dryRun = false
        @Flag(name: .long, help: "Print the agent's JSON answer.") var json = false

        func run() async throws {
            // Checked here first, so that a typo is shown with its line before anything is sent.
            let (_, text) = try readConfig(file)
            let answer = try options.client().call(
                "POST", "/v1/config" + (dryRun ? "?dry_run=true" : ""), body: Array(text.utf8),
                headers: ["Content-Type": "application/yaml"], timeout: configTimeout)
            if json {
                print(answer.text)
                return
            }
            print(report(try decode(ConfigChangeResult.self, answer), dryRun: dryRun))
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the configuration revisions the cluster keeps.")
        @OptionGroup var options: APIOptions
        @Flag(name: .long, help: "Print the agent's JSON answer.") var json = false

        func run() async throws {
            let answer = try options.client().call("GET", "/v1/config/history")
            if json {
                print(answer.text)
                return
            }
            let body = try decode(ConfigHistoryBody.self, answer)
            var rows = [["REVISION", "INDEX", "BY", "AT", ""]]
            for view in body.revisions.reversed() {
                rows.append([String(view.revision), view.index == 0 ? "-" : String(view.index), view.author,
                             view.time.isEmpty ? "-" : view.time, view.current ? "current" : ""])
            }
            print(StatusTable.table(rows))
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an earlier revision's file current again, as a new revision (checked on every node like apply).")
        @OptionGroup var options: APIOptions
        @Argument(help: "The revision to return to (see `tandem config history`).") var revision: UInt64
        @Flag(name: .long, help: "Print the agent's JSON answer.") var json = false

        func run() async throws {
            let body = Array("{\"revision\":\(revision)}".utf8)
            let answer = try options.client().call("POST", "/v1/config/rollback", body: body, timeout: configTimeout)
            if json {
                print(answer.text)
                return
            }
            print(report(try decode(ConfigChangeResult.self, answer), dryRun: false))
        }
    }
}
