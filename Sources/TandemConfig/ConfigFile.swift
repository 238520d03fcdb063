import TandemCore
import Yams

/// Reads the cluster's configuration file (YAML; see docs/examples/pbx.yaml) into a
/// validated `TandemFile`.
///
/// Every rule is checked and every problem is reported at once, each with the key path of
/// the setting, the line it is on and what to do: the file's own rules (syntax, unknown
/// keys, durations, sizes, addresses, resources, checks) and the core's
/// `ClusterConfig.validate()` (timing rule 5, ids, prefer lists, capacity, …).
///
/// Defaults: `timing: balanced`, `revision: 1`, `snapshot_threshold: 1000`,
/// `data_dir: /var/lib/tandem`; node `priority: 0`; group `failback: manual`; check
/// `interval: 1s`, `timeout: 500ms`, `rise: 2`, `fall: 3`, `http` `status: 200`, `disk`
/// `min_free: 0B`; `exec` resource, notifier and fence `timeout: 10s`; `systemd`
/// `timeout: 30s`; vip `announce: 3`, `announce_interval: 200ms`. With explicit timing,
/// `margin` defaults to lease/9 rounded to the nearest whole millisecond (at least 1ms) and
/// `rho` to 0.01.
public enum ConfigFile {
    /// Reads the file at `path`, then parses and validates it as `parse(yaml:source:)` does.
    /// An unreadable file (missing, a directory, no permission, not UTF-8) gives one problem
    /// naming the path and the reason.
    public static func load(path: String) throws(ConfigFileError) -> TandemFile {
        try read(path: path).file
    }

    /// `load(path:)`, with the file's text (what a configuration revision stores).
    public static func read(path: String) throws(ConfigFileError) -> (file: TandemFile, text: String) {
        let text: String
        do {
            text = try TextFile.read(path: path)
        } catch {
            throw ConfigFileError(source: path, problems: [
                ConfigFileError.Problem(key: "", line: nil, message: error.message, source: path),
            ])
        }
        return (try parse(yaml: text, source: path), text)
    }

    /// Parses and validates `yaml`; `source` names it in problems (usually the file path).
    /// On any problem throws all problems found (not just the first), ordered by line.
    public static func parse(yaml: String, source: String) throws(ConfigFileError) -> TandemFile {
        let reader = Reader(source: source)
        let file = compose(yaml, reader: reader).flatMap { FileParser(reader: reader).file($0) }
        let problems = reader.sortedProblems()
        guard let file, problems.isEmpty else {
            throw ConfigFileError(source: source, problems: problems.isEmpty ? [reader.fallbackProblem()] : problems)
        }
        return file
    }

    /// The document's root node, or nil after reporting a syntax error or an empty file.
    private static func compose(_ yaml: String, reader: Reader) -> Node? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            reader.report(syntaxError: error, in: yaml)
            return nil
        } catch {
            reader.report("", line: nil, "the file could not be read as YAML: \(error)")
            return nil
        }
        guard let root, !Reader.isNull(root) else {
            reader.report("", line: nil, "the file is empty; write the configuration (see docs/examples/pbx.yaml)")
            return nil
        }
        return root
    }
}

/// A configuration file that was refused, with every problem found in it.
public struct ConfigFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// One thing wrong with the file: where it is and what to do about it.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// The key path of the offending setting, such as `groups.pbx.checks[0].interval`;
        /// empty when the problem is not about one setting (a syntax error, an unreadable file).
        public var key: String
        /// The 1-based line the problem is on, when known.
        public var line: Int?
        /// What is wrong and what to do.
        public var message: String
        /// The file (or other source) the problem is in, as given to `ConfigFile`.
        public var source: String

        public init(key: String, line: Int?, message: String, source: String = "") {
            self.key = key
            self.line = line
            self.message = message
            self.source = source
        }

        /// `"FILE:LINE: KEY: MESSAGE"`; the line, key and file parts are left out when unknown
        /// or empty.
        public var description: String {
            var prefix = source
            if let line { prefix += prefix.isEmpty ? "\(line)" : ":\(line)" }
            if !key.isEmpty { prefix += prefix.isEmpty ? key : ": \(key)" }
            return prefix.isEmpty ? message : "\(prefix): \(message)"
        }
    }

    /// The file (or other source) that was refused.
    public var source: String
    /// The problems, at least one, ordered by line (problems without a line last).
    public var problems: [Problem]

    public init(source: String, problems: [Problem]) {
        self.source = source
        self.problems = problems
    }

    /// The problems' keys, for quick checks.
    public var keys: [String] { problems.map(\.key) }

    /// One problem per line, each as `"FILE:LINE: KEY: MESSAGE"`.
    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}
