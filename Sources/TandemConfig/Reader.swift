import TandemCore
import Yams

/// A YAML node and the key path that leads to it, such as `groups.pbx.checks[0]`.
struct Located {
    var node: Node
    var path: String

    /// The 1-based line the node starts on.
    var line: Int? { node.mark?.line }

    /// The path of the entry `key` inside this mapping.
    func path(of key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// How the path is named in messages: "the top level" for the root.
    var name: String { path.isEmpty ? "the top level" : path }

    /// Where the path is, for messages: "in groups.pbx", or "at the top level".
    var place: String { path.isEmpty ? "at the top level" : "in \(path)" }
}

/// The entries of one YAML mapping, in file order. Entries whose value is null (`key:` with
/// nothing after it, `~`, `null`) count as absent for `subscript` but are still known to
/// `has(_:)` so that a required key can be reported as empty rather than missing.
struct Fields {
    struct Entry {
        var key: String
        var keyLine: Int?
        var value: Located
    }

    /// The mapping itself.
    var at: Located
    /// The entries in file order.
    var entries: [Entry]

    /// The value of `key`, or nil when it is absent or null.
    subscript(key: String) -> Located? {
        guard let entry = entries.first(where: { $0.key == key }), !Reader.isNull(entry.value.node) else { return nil }
        return entry.value
    }

    /// Whether `key` is written at all (possibly with a null value).
    func has(_ key: String) -> Bool { entries.contains { $0.key == key } }

    /// The line of `key`, or of the mapping when it is absent.
    func line(of key: String) -> Int? {
        entries.first { $0.key == key }?.keyLine ?? at.line
    }
}

/// Walks the YAML tree: reads typed values, collects every problem with its key path and
/// line, and remembers the line of every key path it visits (to place the core's problems).
final class Reader {
    let source: String
    private var problems: [ConfigFileError.Problem] = []
    private var lines: [String: Int] = [:]

    init(source: String) {
        self.source = source
    }

    // MARK: Problems

    /// Adds a problem at `key`.
    func report(_ key: String, line: Int?, _ message: String) {
        problems.append(ConfigFileError.Problem(key: key, line: line, message: message, source: source))
    }

    /// Adds a problem about the value at `at`.
    func report(_ at: Located, _ message: String) {
        report(at.path, line: at.line, message)
    }

    /// Whether a problem has already been reported at exactly `key`.
    func hasProblem(at key: String) -> Bool {
        problems.contains { $0.key == key }
    }

    /// Every problem so far, ordered by line (problems without a line last), otherwise in
    /// the order they were found.
    func sortedProblems() -> [ConfigFileError.Problem] {
        problems.enumerated()
            .sorted { ($0.element.line ?? .max, $0.offset) < ($1.element.line ?? .max, $1.offset) }
            .map(\.element)
    }

    /// Used only should parsing fail without saying why (a bug): never an empty error.
    func fallbackProblem() -> ConfigFileError.Problem {
        ConfigFileError.Problem(key: "", line: nil, message: "the configuration could not be read", source: source)
    }

    /// Reports a YAML syntax error with the line and column from Yams.
    func report(syntaxError error: YamlError, in yaml: String) {
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = "YAML syntax error at column \(mark.column): \(problem)"
            if let context {
                message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
            }
            report("", line: mark.line, message + "; check the indentation, colons and quotes here")
        case .reader(let problem, let offset, _, _):
            let line = offset.map { offset in yaml.prefix(offset).count(where: { $0 == "\n" }) + 1 }
            report("", line: line, "the text cannot be read as YAML: \(problem); save the file as UTF-8 text")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let names = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            report("", line: context.mark.line,
                   "the key \(names) appears more than once in one mapping; keep one and remove the others")
        default:
            report("", line: nil, "the file could not be read as YAML: \(error)")
        }
    }

    // MARK: Lines of key paths

    /// Remembers that `path` is written on `line`.
    func note(_ path: String, line: Int?) {
        if let line, lines[path] == nil { lines[path] = line }
    }

    /// The line of `key` (a core key such as `nodes.a.priority`), or of the nearest enclosing
    /// key that was written (`timing.lease` → `timing` when a profile was named).
    func line(forKey key: String) -> Int? {
        var key = Substring(key)
        while !key.isEmpty {
            if let line = lines[String(key)] { return line }
            if key.last == "]", let open = key.lastIndex(of: "[") {
                key = key[..<open]
            } else if let dot = key.lastIndex(of: ".") {
                key = key[..<dot]
            } else {
                return nil
            }
        }
        return nil
    }

    // MARK: Structure

    /// Whether `node` is a YAML null: an empty plain value, `~` or `null`.
    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// What a node is, for messages ("a list", "a mapping", "the text 'x'").
    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): "'\(scalar.string)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// The entries of the mapping at `at`, each key's line noted. When `allowed` is given,
    /// every other key is reported as unknown (with a suggestion). Nil (after a report) when
    /// `at` is not a mapping; `expected` says what should be there.
    func mapping(_ at: Located, allowed: [String]? = nil, expected: String) -> Fields? {
        guard case .mapping(let mapping) = at.node else {
            report(at, "expected \(expected), found \(Reader.describe(at.node))")
            return nil
        }
        var entries: [Fields.Entry] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                report(at.path, line: keyNode.mark?.line ?? at.line,
                       "a key in \(at.name) is \(Reader.describe(keyNode)); keys must be plain names")
                continue
            }
            let path = at.path(of: scalar.string)
            note(path, line: keyNode.mark?.line)
            entries.append(Fields.Entry(key: scalar.string, keyLine: keyNode.mark?.line, value: Located(node: value, path: path)))
        }
        let fields = Fields(at: at, entries: entries)
        if let allowed { checkKeys(fields, allowed: allowed) }
        return fields
    }

    /// Reports every key of `fields` that is not in `allowed`, suggesting the nearest allowed
    /// key when one is close; `kind` names what the mapping is ("tcp check") when the allowed
    /// keys depend on it.
    func checkKeys(_ fields: Fields, allowed: [String], kind: String? = nil) {
        for entry in fields.entries where !allowed.contains(entry.key) {
            let place = kind.map { "\(fields.at.place) (\($0))" } ?? fields.at.place
            var message = "unknown key '\(entry.key)' \(place)"
            if let suggestion = Suggestion.nearest(to: entry.key, among: allowed) {
                message += "; did you mean '\(suggestion)'?"
            } else {
                message += "; the keys allowed here are: \(allowed.joined(separator: ", "))"
            }
            report(entry.value.path, line: entry.keyLine, message)
        }
    }

    /// The items of the list at `at`, each with its path (`checks[0]`) and line noted; nil
    /// (after a report) when `at` is not a list.
    func sequence(_ at: Located, expected: String) -> [Located]? {
        guard case .sequence(let sequence) = at.node else {
            report(at, "expected \(expected), found \(Reader.describe(at.node))")
            return nil
        }
        return sequence.enumerated().map { index, node in
            let item = Located(node: node, path: "\(at.path)[\(index)]")
            note(item.path, line: item.line)
            return item
        }
    }

    /// The value of a required key: reports it as missing (or empty) and returns nil when it
    /// is absent or null. `hint` says what to write.
    func require(_ fields: Fields, _ key: String, hint: String) -> Located? {
        if let value = fields[key] { return value }
        let path = fields.at.path(of: key)
        if fields.has(key) {
            report(path, line: fields.line(of: key), "'\(key)' has no value; \(hint)")
        } else {
            report(path, line: fields.line(of: key), "'\(key)' is missing from \(fields.at.name); \(hint)")
        }
        return nil
    }

    // MARK: Scalars

    /// The text of the scalar at `at`; nil (after a report) for a list or mapping, or for an
    /// empty text unless `allowEmpty`.
    func text(_ at: Located, allowEmpty: Bool = false) -> String? {
        guard case .scalar(let scalar) = at.node else {
            report(at, "expected a single value, found \(Reader.describe(at.node))")
            return nil
        }
        if !allowEmpty, scalar.string.trimmingSpaces.isEmpty {
            report(at, "the value is empty; write a value or remove the key")
            return nil
        }
        return scalar.string
    }

    /// The scalar at `at` read by `parse`; nil (after a report with the parser's message) when
    /// it does not parse.
    func value<T>(_ at: Located, _ parse: (String) throws(ValueError) -> T) -> T? {
        guard let text = text(at) else { return nil }
        do {
            return try parse(text)
        } catch {
            report(at, error.message)
            return nil
        }
    }

    /// A whole number at `at` within `range`; `what` names it in the message.
    func integer(_ at: Located, in range: ClosedRange<Int>, what: String) -> Int? {
        guard let value = value(at, Values.integer) else { return nil }
        guard range.contains(value) else {
            let bounds = range.upperBound == .max ? "at least \(range.lowerBound)" : "from \(range.lowerBound) to \(range.upperBound)"
            report(at, "\(what) must be \(bounds), got \(value)")
            return nil
        }
        return value
    }

    /// A duration at `at`; when `positive`, zero is refused.
    func duration(_ at: Located, positive: Bool = true, what: String) -> Duration? {
        guard let value = value(at, Values.duration) else { return nil }
        if positive, value <= .zero {
            report(at, "\(what) must be longer than zero; give a positive duration such as 500ms or 2s")
            return nil
        }
        return value
    }

    /// A list of texts at `at` (each item noted), skipping items that are not texts (after a
    /// report); nil (after a report) when `at` is not a list.
    func texts(_ at: Located, expected: String) -> [(text: String, at: Located)]? {
        guard let items = sequence(at, expected: expected) else { return nil }
        return items.compactMap { item in text(item).map { ($0.trimmingSpaces, item) } }
    }
}

/// "Did you mean …?" for unknown keys: the allowed key with the smallest edit distance, when
/// that distance is small for the key's length.
enum Suggestion {
    static func nearest(to key: String, among candidates: [String]) -> String? {
        let limit = min(3, max(1, (key.count + 1) / 3))
        let scored = candidates.map { (candidate: $0, distance: distance(key.lowercased(), $0)) }
        guard let best = scored.min(by: { $0.distance < $1.distance }), best.distance <= limit else { return nil }
        return best.candidate
    }

    /// The edit distance between `a` and `b`: insertions, deletions, substitutions and
    /// transpositions of adjacent characters ("fsat" → "fast") each count 1 (optimal string
    /// alignment distance).
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
