import ArgumentParser
import Foundation
import TandemHTTP

/// `tandem kv get|put|del|list|watch`: the replicated key-value store.
struct KVCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv", abstract: "Read and write the replicated key-value store.",
        subcommands: [Get.self, Put.self, Del.self, List.self, Watch.self])

    /// The key as a URL path under /v1/kv/ (each segment percent-encoded).
    static func path(_ key: String) throws -> String {
        guard !key.isEmpty else { throw CLIError("the key is empty") }
        return "/v1/kv/" + key.split(separator: "/", omittingEmptySubsequences: false).map { pathComponent(String($0)) }.joined(separator: "/")
    }

    static func query(_ text: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    static func value(_ entry: KVEntryBody) -> String {
        entry.value ?? "base64:" + (entry.valueBase64 ?? "")
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a key's value (linearizable unless --local).")
        @OptionGroup var options: APIOptions
        @Argument var key: String
        @Flag(help: "Read what this node has applied, without asking the leader.") var local = false
        @Flag(help: "Print the entry as JSON (value, revisions, version).") var json = false
        func run() async throws {
            let answer = try options.client().call("GET", try KVCommand.path(key) + (local ? "?local=true" : ""))
            if json { print(answer.text); return }
            print(KVCommand.value(try JSONDecoder().decode(KVEntryBody.self, from: Data(answer.body))))
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a key (VALUE, or - to read it from standard input).")
        @OptionGroup var options: APIOptions
        @Argument var key: String
        @Argument var value: String
        @Option(help: "Write only if the key is at this revision (0: only if it does not exist).") var ifRevision: UInt64?
        func run() async throws {
            let bytes = value == "-" ? Array(FileHandle.standardInput.readDataToEndOfFile()) : Array(value.utf8)
            let headers = ifRevision.map { ["If-Match": String($0), "Content-Type": "application/octet-stream"] } ?? ["Content-Type": "application/octet-stream"]
            let answer = try options.client().call("PUT", try KVCommand.path(key), body: bytes, headers: headers)
            let written = try JSONDecoder().decode(KVWriteBody.self, from: Data(answer.body))
            print("written at revision \(written.revision)")
        }
    }

    struct Del: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a key.")
        @OptionGroup var options: APIOptions
        @Argument var key: String
        @Option(help: "Delete only if the key is at this revision.") var ifRevision: UInt64?
        func run() async throws {
            let answer = try options.client().call("DELETE", try KVCommand.path(key), headers: ifRevision.map { ["If-Match": String($0)] } ?? [:])
            let written = try JSONDecoder().decode(KVWriteBody.self, from: Data(answer.body))
            print("deleted at revision \(written.revision)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys under a prefix, with their values.")
        @OptionGroup var options: APIOptions
        @Argument(help: "The prefix (default: every key).") var prefix = ""
        @Flag(help: "Read what this node has applied, without asking the leader.") var local = false
        @Flag(help: "Print JSON.") var json = false
        func run() async throws {
            var path = "/v1/kv?prefix=\(KVCommand.query(prefix))"
            if local { path += "&local=true" }
            let answer = try options.client().call("GET", path)
            if json { print(answer.text); return }
            let list = try JSONDecoder().decode(KVListBody.self, from: Data(answer.body))
            var rows = [["KEY", "VALUE", "REVISION", "VERSION"]]
            for entry in list.entries {
                let value = KVCommand.value(entry)
                rows.append([entry.key, value.count > 60 ? String(value.prefix(57)) + "..." : value, String(entry.modRevision), String(entry.version)])
            }
            print(StatusTable.table(rows) + "store revision \(list.revision), \(list.entries.count) keys")
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print every change under a prefix as it is applied.")
        @OptionGroup var options: APIOptions
        @Argument(help: "The prefix (default: every key).") var prefix = ""
        @Option(help: "Start at this store revision (default: the next change).") var from: UInt64?
        func run() async throws {
            var path = "/v1/kv/watch?prefix=\(KVCommand.query(prefix))"
            if let from { path += "&from=\(from)" }
            try options.client().follow(path) { message in
                print("\(message.event) \(message.data)")
                flushOutput()
                if message.event == "error" { throw CLIError("the watch ended: \(message.data)") }
                return true
            }
        }
    }
}
