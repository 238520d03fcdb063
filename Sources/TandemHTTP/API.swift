import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import TandemAgent
import TandemCore

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

/// The answer to a write: the store revision it made.
public struct KVWriteBody: Codable, Sendable, ResponseEncodable {
    public var revision: UInt64
    public var index: UInt64
}

/// Every error the API answers: `{code, message}` with the right HTTP status.
public struct APIError: Error, Encodable, Sendable, HTTPResponseError {
    public var code: String
    public var message: String
    var statusCode: Int

    enum CodingKeys: String, CodingKey { case code, message }

    public init(_ status: HTTPResponse.Status, code: String, _ message: String) {
        self.code = code
        self.message = message
        self.statusCode = status.code
    }

    public var status: HTTPResponse.Status { .init(code: statusCode) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try JSONEncoder().encode(self)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A refusal of the core, with the status that fits it.
    static func refused(_ refusal: Refusal) -> APIError {
        let status: HTTPResponse.Status
        switch refusal.code {
        case .noLeader, .noQuorum, .busy: status = .serviceUnavailable
        case .timedOut, .outcomeUnknown: status = .gatewayTimeout
        case .unknownGroup, .unknownNode: status = .notFound
        case .invalid: status = .badRequest
        default: status = .conflict
        }
        return APIError(status, code: refusal.code.name, refusal.message)
    }

    static func kv(_ error: KVError) -> APIError {
        let status: HTTPResponse.Status
        switch error.code {
        case .revisionMismatch, .staleEpoch: status = .preconditionFailed
        case .notFound: status = .notFound
        case .invalidKey: status = .badRequest
        case .valueTooLarge: status = .contentTooLarge
        default: status = .conflict
        }
        return APIError(status, code: error.code.name, error.message)
    }
}

/// The node's local HTTP API (DESIGN §8; issue 5 completes it): status and the
/// replicated KV store.
public enum AgentAPI {
    public static func router(runtime: NodeRuntime) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/v1/status") { _, _ in
            await runtime.status()
        }
        router.get("/v1/kv/**") { request, context -> KVEntryBody in
            let key = try kvKey(context)
            if request.uri.queryParameters["local"] != "true" {
                // Linearizable by default: this node applies everything committed first.
                let barrier = await runtime.request(.readBarrier)
                if case .refused(let refusal) = barrier { throw APIError.refused(refusal) }
            }
            guard let entry = await runtime.state.kv.get(key) else {
                throw APIError(.notFound, code: "not_found", "no key \(key.debugDescription)")
            }
            return KVEntryBody(entry)
        }
        router.put("/v1/kv/**") { request, context -> KVWriteBody in
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
            let key = try kvKey(context)
            return try await write(.delete(key: key, ifRevision: try ifMatch(request)), runtime)
        }
        router.post("/v1/groups/:group/switchover") { request, context -> Response in
            let group = GroupID(try context.parameters.require("group"))
            let to = request.uri.queryParameters["to"].map { NodeID(String($0)) }
            let response = await runtime.request(.action(.switchover(group, to: to)), timeout: .seconds(30))
            switch response {
            case .moved(let group, let owner, let epoch, _):
                let text = #"{"group":"\#(group)","owner":"\#(owner)","epoch":\#(epoch)}"#
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
            case .refused(let refusal): throw APIError.refused(refusal)
            default: return Response(status: .accepted)
            }
        }
        return router
    }

    static func kvKey(_ context: BasicRequestContext) throws -> String {
        let key = context.parameters.getCatchAll().joined(separator: "/")
        guard !key.isEmpty else { throw APIError(.badRequest, code: "invalid_key", "the key is empty: use /v1/kv/KEY") }
        return key.removingPercentEncoding ?? key
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
        switch await runtime.request(.kv(operation, fence: nil)) {
        case .written(let revision, let index): return KVWriteBody(revision: revision, index: index)
        case .kvFailed(let error): throw APIError.kv(error)
        case .refused(let refusal): throw APIError.refused(refusal)
        case let other: throw APIError(.internalServerError, code: "unexpected", "unexpected answer \(other)")
        }
    }

    /// The API server on `host:port`: a Service for the agent's ServiceGroup (it stops
    /// accepting and drains on graceful shutdown).
    public static func application(runtime: NodeRuntime, host: String, port: Int, logger: Logger) -> some Service {
        Application(
            router: router(runtime: runtime),
            configuration: .init(address: .hostname(host, port: port), serverName: "tandem"),
            logger: logger)
    }
}
