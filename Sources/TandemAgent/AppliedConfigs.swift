#if canImport(Glibc)
import Glibc
#endif
import TandemConfig
import TandemCore

/// The configuration revisions this node applied from the log, one file per revision in
/// `DATA_DIR/run-NODE/config-REVISION.yaml` (written durably before the revision is used).
///
/// The agent starts from the newer of its `--config` file and the newest applied revision,
/// so a node restarted after a change made through the API runs that change, not the older
/// file. The guard stops a group as the revision it was started with describes it.
public enum AppliedConfigs {
    public static func directory(dataDir: String, node: NodeID) -> String { "\(dataDir)/run-\(node.name)" }

    public static func path(dataDir: String, node: NodeID, revision: UInt64) -> String {
        "\(directory(dataDir: dataDir, node: node))/config-\(revision).yaml"
    }

    /// Writes revision `revision`'s file durably: a temporary file, fsync, rename, fsync of
    /// the directory.
    public static func write(_ document: String, dataDir: String, node: NodeID, revision: UInt64) throws(AgentError) {
        let directory = directory(dataDir: dataDir, node: node)
        mkdir(directory, 0o700)
        let target = path(dataDir: dataDir, node: node, revision: revision)
        let temporary = target + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AgentError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(document.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw AgentError("cannot write \(temporary): \(reason)")
            }
            offset += n
        }
        guard fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw AgentError("cannot write \(temporary): \(reason)")
        }
        close(fd)
        guard rename(temporary, target) == 0 else {
            throw AgentError("cannot rename \(temporary) to \(target): \(String(cString: strerror(errno)))")
        }
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }

    /// The revisions applied here, newest first.
    public static func revisions(dataDir: String, node: NodeID) -> [UInt64] {
        guard let dir = opendir(directory(dataDir: dataDir, node: node)) else { return [] }
        defer { closedir(dir) }
        var found: [UInt64] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasPrefix("config-"), name.hasSuffix(".yaml"),
                  let revision = UInt64(name.dropFirst("config-".count).dropLast(".yaml".count)) else { continue }
            found.append(revision)
        }
        return found.sorted(by: >)
    }

    /// The configuration this node runs: `file` (read from `--config`), or the newest
    /// revision applied here from the log when that is newer. Such a stored revision that
    /// no longer parses is an error naming it (it parsed when it was applied).
    public static func effective(_ file: TandemFile, node: NodeID) throws(AgentError) -> (file: TandemFile, document: String?) {
        guard let newest = revisions(dataDir: file.dataDir, node: node).first, newest > file.cluster.revision else {
            return (file, nil)
        }
        let path = path(dataDir: file.dataDir, node: node, revision: newest)
        do {
            let (stored, text) = try ConfigFile.read(path: path)
            return (stored, text)
        } catch {
            throw AgentError("the configuration revision \(newest) applied earlier here does not read: \(error)")
        }
    }

    /// Revision `revision` as this node applied it (`file` itself for its own revision);
    /// nil when it is not stored here.
    public static func load(revision: UInt64, like file: TandemFile, node: NodeID) -> TandemFile? {
        if revision == file.cluster.revision { return file }
        return try? ConfigFile.load(path: path(dataDir: file.dataDir, node: node, revision: revision))
    }
}
