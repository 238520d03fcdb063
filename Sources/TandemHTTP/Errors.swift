import Foundation
import Hummingbird
import NIOCore
import TandemCore

/// Every error the API answers: `{code, message}` with the right HTTP status.
public struct APIError: Error, Encodable, Sendable, HTTPResponseError {
    public var code: String
    public var message: String
    /// Per node, what it would refuse (a configuration change).
    public var problems: [String: [String]]?
    var statusCode: Int

    enum CodingKeys: String, CodingKey { case code, message, problems }

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

/// Turns every error that is not already an `APIError` (a route that does not exist, a
/// method a route does not take, a body too large, anything unexpected) into the API's
/// JSON error shape, so that a client always gets `{code, message}`.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError where error.status == .notFound {
            // The router says 404 for a known path with a method it does not take: 405.
            if let allowed = AgentAPI.allowedMethods(request.uri.path), !allowed.isEmpty {
                var headers = HTTPFields()
                headers[.contentType] = "application/json"
                headers[.allow] = allowed.joined(separator: ", ")
                let body = APIError(.methodNotAllowed, code: "method_not_allowed",
                                    "\(request.uri.path) takes \(allowed.joined(separator: ", ")), not \(request.method)")
                return Response(status: .methodNotAllowed, headers: headers,
                                body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(body))))
            }
            throw APIError(.notFound, code: "not_found", "no such endpoint: \(request.method) \(request.uri.path) (see /v1/openapi.json)")
        } catch let error as HTTPError {
            let status = error.status
            let code: String
            switch status {
            case .notFound: code = "not_found"
            case .methodNotAllowed: code = "method_not_allowed"
            case .contentTooLarge: code = "too_large"
            case .unauthorized: code = "unauthorized"
            default: code = status.code < 500 ? "bad_request" : "internal"
            }
            let message = error.body ?? (status == .notFound
                ? "no such endpoint: \(request.method) \(request.uri.path) (see /v1/openapi.json)"
                : status.reasonPhrase)
            throw APIError(status, code: code, message)
        } catch let error as DecodingError {
            throw APIError(.badRequest, code: "invalid_body", "the body is not what this endpoint takes: \(describe(error))")
        } catch let error as NIOTooManyBytesError {
            let limit = error.maxBytes.map { " (at most \($0) bytes)" } ?? ""
            throw APIError(.contentTooLarge, code: "too_large", "the body is larger than this endpoint takes\(limit)")
        } catch {
            throw APIError(.internalServerError, code: "internal", "\(error)")
        }
    }
}

/// A decoding error in words: which field and what was wrong.
func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
        return keys.isEmpty ? "the body" : keys.joined(separator: ".")
    }
    switch error {
    case .typeMismatch(let type, let context): return "\(path(context)) must be \(type): \(context.debugDescription)"
    case .valueNotFound(let type, let context): return "\(path(context)) must be a \(type), not null"
    case .keyNotFound(let key, _): return "the field \(key.stringValue) is missing"
    case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
    @unknown default: return "\(error)"
    }
}

/// Decodes a JSON body of at most `limit` bytes; an empty body decodes as `{}`.
func decodeBody<T: Decodable>(_ type: T.Type, from request: Request, limit: Int = 64 * 1024) async throws -> T {
    var request = request
    let buffer = try await request.collectBody(upTo: limit)
    let bytes = buffer.readableBytes == 0 ? Array("{}".utf8) : Array(buffer: buffer)
    do {
        return try JSONDecoder().decode(T.self, from: Data(bytes))
    } catch let error as DecodingError {
        throw APIError(.badRequest, code: "invalid_body", "the body is not what this endpoint takes: \(describe(error))")
    }
}
