import TandemCore

/// Configuration revisions made on a running cluster (`POST /v1/config`, rollback): what may
/// change without a restart, and the file text of a revision.
public enum ConfigRevisions {
    /// `text` with its top-level `revision:` set to `revision`: the line is replaced in
    /// place (comments and layout kept), or added at the top when the file has none. A
    /// rollback stores an older file under a new revision this way, so that every stored
    /// file parses to exactly the configuration the log carries.
    public static func document(_ text: String, withRevision revision: UInt64) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for index in lines.indices where lines[index].hasPrefix("revision:") {
            let rest = lines[index].dropFirst("revision:".count)
            let comment = rest.firstIndex(of: "#").map { "  " + rest[$0...] } ?? ""
            lines[index] = "revision: \(revision)\(comment)"
            return lines.joined(separator: "\n")
        }
        return "revision: \(revision)\n" + text
    }

    /// Why a running cluster cannot take `new` in place of `current` without a restart of
    /// its agents, one sentence per setting (empty: every change may be applied live).
    ///
    /// Live: groups (added, removed, prefer, failback, anti-affinity, resources, checks),
    /// node priority, site and capacity, notifiers, fence, event retention, snapshot
    /// threshold. Not live: the nodes themselves (ids, kinds, link counts, addresses: the
    /// links are bound at start), the API address and settings, the key files and the data
    /// directory. (The cluster name, the timing and the voters are the log's own rules:
    /// `ReplicatedState.changeProblem`.)
    public static func restartOnlyChanges(from current: TandemFile, to new: TandemFile) -> [String] {
        var found: [String] = []
        let old = current.cluster, next = new.cluster
        let oldNodes = old.nodes.map { "\($0.id):\($0.kind):\($0.links)" }
        let newNodes = next.nodes.map { "\($0.id):\($0.kind):\($0.links)" }
        if oldNodes != newNodes {
            found.append("nodes: adding, removing or reordering nodes, or changing a kind or a link count, needs a restart of every agent (\(oldNodes.joined(separator: " ")) → \(newNodes.joined(separator: " ")))")
        }
        for node in next.nodes.map(\.id) where old.node(node) != nil && current.addresses[node] != new.addresses[node] {
            found.append("nodes.\(node): its link or api addresses changed; the agents bind them at start, so restart them with the new file")
        }
        if current.api != new.api { found.append("api: token_file, read and tls are read at start; restart the agents with the new file") }
        if current.keyFiles != new.keyFiles { found.append("key_files: keys are rotated by restarting the agents with the new file") }
        if current.dataDir != new.dataDir { found.append("data_dir: the store cannot move while the agent runs") }
        return found
    }
}
