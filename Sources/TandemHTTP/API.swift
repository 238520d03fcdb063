import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import TandemAgent
import TandemConfig
import TandemCore
import TandemStore

extension AgentStatus: ResponseEncodable {}

/// A KV entry as the API shows it. The value is UTF-8 text when it is, else base64.
public struct KVEntryBody: Codable, Sendable, ResponseEncodable {
    public var key: String
    public var value: String?
    public var valueBase64: String?
    public var createRevision: UInt64
    public var modRevision: UInt64
    public var version: UInt64

    init(_ entry: KVEntry) {
        key = entry.key
        if let text = String(validating: entry.value, as: UTF8.self) {
            value = text
        } else {
            valueBase64 = Data(entry.value).base64EncodedString()
        }
        createRevision = entry.createRevision
        modRevision = entry.modRevision
        version = entry.version
    }
}

/// `GET /v1/kv?prefix=`: the entries and the store revision they were read at.
public struct KVListBody: Codable, Sendable, ResponseEncodable {
    public var revision: UInt64
    public var entries: [KVEntryBody]
}

/// The answer to a write: the store revision it made.
public struct KVWriteBody: Codable, Sendable, ResponseEncodable {
    public var revision: UInt64
    public var index: UInt64
}

/// `GET /v1/events`: stored events, oldest first, and the id to page on with.
public struct EventsBody: Codable, Sendable, ResponseEncodable {
    public var events: [AgentStatus.EventRow]
    /// The last id returned (or `since` when none): pass it as `since` for the next page.
    /// 0 for `scope=cluster` (no paging).
    public var last: Int64
    /// With `scope=cluster`: the nodes whose events are in, and those that did not answer.
    public var answered: [String]?
    public var missing: [String]?

    public init(events: [AgentStatus.EventRow], last: Int64, answered: [String]? = nil, missing: [String]? = nil) {
        self.events = events
        self.last = last
        self.answered = answered
        self.missing = missing
    }
}

/// The outcome of an operator action, once committed and carried out.
public struct ActionBody: Codable, Sendable, ResponseEncodable {
    /// "moved" (a switchover or failback carried out) or "done" (committed and applied).
    public var outcome: String
    public var action: String
    /// Who asked (the token's name, or "anonymous" without a token file).
    public var by: String
    public var group: String?
    public var owner: String?
    public var epoch: UInt64?
    public var index: UInt64
}

struct SwitchoverRequest: Decodable {
    var to: String?
}

struct SwitchRequest: Decodable {
    var on: Bool
}

/// The node's local HTTP API (DESIGN §8, docs/openapi.json): status, events, operator
/// actions, the replicated KV store, metrics.
public enum AgentAPI {
    /// The longest an action waits for its outcome before answering 504 (the outcome is
    /// then unknown: the action may still complete; its events tell).
    static let actionTimeout: Duration = .seconds(30)
    /// The most events one `GET /v1/events` returns.
    static let maxEventPage = 1000

    public static func router(runtime: NodeRuntime, access: APIAccess = .open) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        let metrics = AgentMetrics()

        router.get("/v1/status") { request, _ in
            _ = try access.check(request, needs: .read, to: "reading the status")
            return await runtime.status()
        }
        router.get("/") { _, _ in
            // Everything the page uses is inline or from this node's API: no other origin.
            Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8",
                    .contentSecurityPolicy: "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
                    .cacheControl: "no-cache",
                ],
                body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html)))
        }
        router.get("/v1/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        router.get("/metrics") { request, _ in
            _ = try access.check(request, needs: .read, to: "reading metrics")
            let text = metrics.render(await runtime.status())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }

        // MARK: Events
        router.get("/v1/events") { request, _ -> EventsBody in
            _ = try access.check(request, needs: .read, to: "reading events")
            let limit = try integerQuery(request, "limit", min: 1, max: Int64(maxEventPage)) ?? 100
            switch request.uri.queryParameters["scope"] {
            case nil, "node": break
            case "cluster":
                // The newest events of every node a link reaches, merged by time (ids are each
                // node's own, so there is no paging).
                guard request.uri.queryParameters["since"] == nil else {
                    throw APIError(.badRequest, code: "invalid_since", "since pages one node's events (ids are per node); leave it out with scope=cluster")
                }
                do {
                    let merged = try await runtime.clusterEvents(limit: Int(limit))
                    return EventsBody(
                        events: merged.events.map(AgentStatus.EventRow.init), last: 0, answered: merged.answered, missing: merged.missing)
                } catch {
                    throw APIError(.serviceUnavailable, code: "store_unavailable", "cannot read the events: \(error)")
                }
            case let other?:
                throw APIError(.badRequest, code: "invalid_scope", "scope must be node (this node's events) or cluster (every reachable node's), got \(String(other).debugDescription)")
            }
            let stored: [StoredEvent]
            let since: Int64
            do {
                // Without `since`: the newest `limit` events (ids are consecutive; pruning
                // removes only the oldest).
                since = try integerQuery(request, "since", min: 0) ?? max(0, try runtime.lastStoredEventID() - limit)
                stored = try runtime.storedEvents(after: since, limit: Int(limit))
            } catch let error as APIError {
                throw error
            } catch {
                throw APIError(.serviceUnavailable, code: "store_unavailable", "cannot read the events: \(error)")
            }
            return EventsBody(events: stored.map(AgentStatus.EventRow.init), last: stored.last?.id ?? since)
        }
        router.get("/v1/events/stream") { request, _ -> Response in
            _ = try access.check(request, needs: .read, to: "following events")
            // Replay from `since` (or Last-Event-ID, as a reconnecting EventSource sends),
            // else only what comes from now on.
            var since = try integerQuery(request, "since", min: 0)
            if let last = request.headers[HTTPField.Name("Last-Event-ID")!] {
                guard let value = Int64(last), value >= 0 else {
                    throw APIError(.badRequest, code: "invalid_last_event_id", "Last-Event-ID must be an event id, got \(last.debugDescription)")
                }
                since = since ?? value
            }
            return eventStream(runtime: runtime, since: since)
        }

        // MARK: Operator actions
        router.post("/v1/groups/:group/switchover") { request, context -> ActionBody in
            let who = try access.check(request, needs: .operate, to: "a switchover")
            let group = GroupID(try context.parameters.require("group"))
            let body = try await decodeBody(SwitchoverRequest.self, from: request)
            let to = body.to ?? request.uri.queryParameters["to"].map(String.init)
            if let to, to.isEmpty { throw APIError(.badRequest, code: "invalid_target", "to is empty: name a node, or leave it out") }
            return try await operate(.switchover(group, to: to.map { NodeID($0) }), by: who, runtime)
        }
        router.post("/v1/groups/:group/failback") { request, context -> ActionBody in
            let who = try access.check(request, needs: .operate, to: "a failback")
            let group = GroupID(try context.parameters.require("group"))
            return try await operate(.failback(group), by: who, runtime)
        }
        router.post("/v1/nodes/:node/maintenance") { request, context -> ActionBody in
            let who = try access.check(request, needs: .operate, to: "maintenance")
            let node = NodeID(try context.parameters.require("node"))
            let body = try await decodeBody(SwitchRequest.self, from: request)
            return try await operate(.maintenance(node, on: body.on), by: who, runtime)
        }
        router.post("/v1/freeze") { request, _ -> ActionBody in
            let who = try access.check(request, needs: .operate, to: "freeze")
            let body = try await decodeBody(SwitchRequest.self, from: request)
            return try await operate(.freeze(on: body.on), by: who, runtime)
        }

        // MARK: KV
        router.get("/v1/kv") { request, _ -> KVListBody in
            _ = try access.check(request, needs: .read, to: "reading keys")
            let prefix = request.uri.queryParameters["prefix"].map(String.init) ?? ""
            let limit = try integerQuery(request, "limit", min: 1)
            try await readBarrier(request, runtime)
            let kv = await runtime.state.kv
            return KVListBody(revision: kv.revision, entries: kv.range(prefix: prefix, limit: limit.map(Int.init)).map(KVEntryBody.init))
        }
        router.get("/v1/kv/watch") { request, _ -> Response in
            _ = try access.check(request, needs: .read, to: "watching keys")
            let prefix = request.uri.queryParameters["prefix"].map(String.init) ?? ""
            let from = try integerQuery(request, "from", min: 0).map(UInt64.init)
            return try await watchStream(runtime: runtime, prefix: prefix, from: from)
        }
        router.get("/v1/kv/**") { request, context -> KVEntryBody in
            _ = try access.check(request, needs: .read, to: "reading keys")
            let key = try kvKey(context)
            try await readBarrier(request, runtime)
            guard let entry = await runtime.state.kv.get(key) else {
                throw APIError(.notFound, code: "not_found", "no key \(key.debugDescription)")
            }
            return KVEntryBody(entry)
        }
        router.put("/v1/kv/**") { request, context -> KVWriteBody in
            _ = try access.check(request, needs: .operate, to: "writing keys")
            let key = try kvKey(context)
            var request = request
            let body = try await request.collectBody(upTo: KVStore.maxValueBytes + 1)
            guard body.readableBytes <= KVStore.maxValueBytes else {
                throw APIError(.contentTooLarge, code: "value_too_large", "a value may have at most \(KVStore.maxValueBytes) bytes")
            }
            let operation = KVOperation.put(key: key, value: Array(buffer: body), ifRevision: try ifMatch(request))
            return try await write(operation, runtime)
        }
        router.delete("/v1/kv/**") { request, context -> KVWriteBody in
            _ = try access.check(request, needs: .operate, to: "deleting keys")
            let key = try kvKey(context)
            return try await write(.delete(key: key, ifRevision: try ifMatch(request)), runtime)
        }
        addConfigRoutes(router, runtime: runtime, access: access)
        addDrillRoutes(router, runtime: runtime, access: access)
        return router
    }

    // MARK: - Helpers

    /// The routes and their methods, for 405 answers (keep in step with `router`). A `*`
    /// is one path segment, a trailing `**` any number of them.
    static let routes: [(pattern: [String], methods: [String])] = [
        ([], ["GET"]), (["metrics"], ["GET"]), (["v1", "openapi.json"], ["GET"]), (["v1", "status"], ["GET"]),
        (["v1", "events"], ["GET"]), (["v1", "events", "stream"], ["GET"]),
        (["v1", "groups", "*", "switchover"], ["POST"]), (["v1", "groups", "*", "failback"], ["POST"]),
        (["v1", "nodes", "*", "maintenance"], ["POST"]), (["v1", "freeze"], ["POST"]),
        (["v1", "kv"], ["GET"]), (["v1", "kv", "watch"], ["GET"]), (["v1", "kv", "**"], ["GET", "PUT", "DELETE"]),
        (["v1", "config"], ["GET", "POST"]), (["v1", "config", "history"], ["GET"]), (["v1", "config", "rollback"], ["POST"]),
        (["v1", "drills"], ["GET", "POST"]), (["v1", "drills", "*"], ["GET"]), (["v1", "drills", "*", "report.html"], ["GET"]),
    ]

    /// The methods the route of `path` takes (nil: no route has this path).
    static func allowedMethods(_ path: String) -> [String]? {
        let segments = path.split(separator: "/").map(String.init)
        for route in routes {
            let p = route.pattern
            let matches: Bool
            if p.last == "**" {
                let fixed = p.dropLast()
                matches = segments.count > fixed.count && zip(fixed, segments).allSatisfy { $0 == "*" || $0 == $1 }
            } else {
                matches = segments.count == p.count && zip(p, segments).allSatisfy { $0 == "*" || $0 == $1 }
            }
            if matches { return route.methods }
        }
        return nil
    }

    /// An optional integer query parameter within bounds; a clear 400 otherwise.
    static func integerQuery(_ request: Request, _ name: String, min: Int64, max: Int64 = Int64.max) throws -> Int64? {
        guard let text = request.uri.queryParameters[Substring(name)] else { return nil }
        guard let value = Int64(text), value >= min, value <= max else {
            let range = max == Int64.max ? "at least \(min)" : "from \(min) to \(max)"
            throw APIError(.badRequest, code: "invalid_\(name)", "\(name) must be a whole number \(range), got \(String(text).debugDescription)")
        }
        return value
    }

    static func operate(_ action: OperatorAction, by who: String, _ runtime: NodeRuntime) async throws -> ActionBody {
        switch await runtime.operate(action, by: who, timeout: actionTimeout) {
        case .moved(let group, let owner, let epoch, let index):
            return ActionBody(outcome: "moved", action: action.summary, by: who, group: group.name, owner: owner.name, epoch: epoch, index: index)
        case .done(let index):
            return ActionBody(outcome: "done", action: action.summary, by: who, index: index)
        case .refused(let refusal):
            throw APIError.refused(refusal)
        case let other:
            throw APIError(.internalServerError, code: "unexpected", "unexpected answer \(other)")
        }
    }

    /// Linearizable by default: this node applies everything committed first; `local=true`
    /// reads what this node has applied.
    static func readBarrier(_ request: Request, _ runtime: NodeRuntime) async throws {
        switch request.uri.queryParameters["local"] {
        case nil, "false": break
        case "true": return
        case let other?:
            throw APIError(.badRequest, code: "invalid_local", "local must be true or false, got \(String(other).debugDescription)")
        }
        // During an election or a leadership transfer no leader is known for a moment, or the
        // leader changes under the barrier: ask again (every 20 ms, for up to 5 s) rather
        // than fail the read at once.
        // A read has no effect, so a barrier that met a change of leader is simply asked again.
        let deadline = AgentClock.now() + .seconds(5)
        while true {
            let response = await runtime.requestRetryingWithoutLeader(.readBarrier, until: deadline)
            guard case .refused(let refusal) = response else { return }
            guard refusal.code == .outcomeUnknown, AgentClock.now() + .milliseconds(20) < deadline else {
                throw APIError.refused(refusal)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func kvKey(_ context: BasicRequestContext) throws -> String {
        let key = context.parameters.getCatchAll().joined(separator: "/")
        guard !key.isEmpty else { throw APIError(.badRequest, code: "invalid_key", "the key is empty: use /v1/kv/KEY") }
        let decoded = key.removingPercentEncoding ?? key
        // Reads check the key as writes do: a key that can never exist is a bad request.
        if let error = KVStore.validate(key: decoded) { throw APIError(.badRequest, code: "invalid_key", error.message) }
        return decoded
    }

    /// `If-Match: REVISION` makes a write a compare-and-set (0: the key must not exist).
    static func ifMatch(_ request: Request) throws -> UInt64? {
        guard let text = request.headers[.ifMatch] else { return nil }
        let trimmed = text.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
        guard let revision = UInt64(trimmed) else {
            throw APIError(.badRequest, code: "invalid_if_match", "If-Match must be a revision number, got \(text.debugDescription)")
        }
        return revision
    }

    static func write(_ operation: KVOperation, _ runtime: NodeRuntime) async throws -> KVWriteBody {
        switch await runtime.requestRetryingWithoutLeader(.kv(operation, fence: nil), until: AgentClock.now() + .seconds(10)) {
        case .written(let revision, let index): return KVWriteBody(revision: revision, index: index)
        case .kvFailed(let error): throw APIError.kv(error)
        case .refused(let refusal): throw APIError.refused(refusal)
        case let other: throw APIError(.internalServerError, code: "unexpected", "unexpected answer \(other)")
        }
    }

    /// The API server on `host:port` (HTTPS only when `tls` is given): a Service for the
    /// agent's ServiceGroup (it stops accepting and drains on graceful shutdown).
    public static func application(
        runtime: NodeRuntime, access: APIAccess, host: String, port: Int, tls: APITLS? = nil, logger: Logger
    ) -> some Service {
        Application(
            router: router(runtime: runtime, access: access),
            server: tls?.server ?? .http1(),
            configuration: .init(address: .hostname(host, port: port), serverName: "tandem"),
            logger: logger)
    }
}
