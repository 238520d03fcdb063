import Foundation
import Hummingbird
import NIOCore
import TandemAgent
import TandemConfig
import TandemCore

extension ConfigView: ResponseEncodable {}
extension ConfigChangeResult: ResponseEncodable {}

/// `GET /v1/config/history`: the revisions kept, oldest first (without their files).
public struct ConfigHistoryBody: Codable, Sendable, ResponseEncodable {
    public var revisions: [ConfigView]
}

struct RollbackRequest: Decodable {
    var revision: UInt64
}

extension AgentAPI {
    /// The largest configuration file `POST /v1/config` takes.
    static let maxConfigBytes = 256 * 1024

    /// Configuration: the current revision and the history, a new revision (checked on every
    /// reachable node, then committed through the log), a rollback. Reading a file needs an
    /// operate token even where reads are open: it may hold commands and webhook URLs with
    /// credentials in them.
    static func addConfigRoutes(_ router: Router<BasicRequestContext>, runtime: NodeRuntime, access: APIAccess) {
        router.get("/v1/config") { request, _ -> ConfigView in
            _ = try access.check(request, needs: .operate, to: "reading the configuration")
            let revision = try integerQuery(request, "revision", min: 1).map(UInt64.init)
            guard let view = await runtime.config(revision: revision) else {
                throw APIError(.notFound, code: "not_found", "revision \(revision.map(String.init) ?? "?") is not in the history; GET /v1/config/history lists the kept revisions")
            }
            return view
        }
        router.get("/v1/config/history") { request, _ -> ConfigHistoryBody in
            _ = try access.check(request, needs: .operate, to: "reading the configuration history")
            return ConfigHistoryBody(revisions: await runtime.configHistory())
        }
        router.post("/v1/config") { request, _ -> ConfigChangeResult in
            let who = try access.check(request, needs: .admin, to: "changing the configuration")
            let dryRun: Bool
            switch request.uri.queryParameters["dry_run"] {
            case nil, "false": dryRun = false
            case "true": dryRun = true
            case let other?:
                throw APIError(.badRequest, code: "invalid_dry_run", "dry_run must be true or false, got \(String(other).debugDescription)")
            }
            var request = request
            let body = try await request.collectBody(upTo: maxConfigBytes)
            guard let document = String(validating: Array(buffer: body), as: UTF8.self), !document.isEmpty else {
                throw APIError(.badRequest, code: "invalid_config", "the body must be the whole configuration file (YAML, UTF-8)")
            }
            return try await changed(runtime.changeConfig(document: document, who: who, dryRun: dryRun))
        }
        router.post("/v1/config/rollback") { request, _ -> ConfigChangeResult in
            let who = try access.check(request, needs: .admin, to: "rolling the configuration back")
            let body = try await decodeBody(RollbackRequest.self, from: request)
            return try await changed(runtime.rollbackConfig(to: body.revision, who: who))
        }
    }

    static func changed(_ result: Result<ConfigChangeResult, ConfigChangeError>) throws -> ConfigChangeResult {
        switch result {
        case .success(let done): return done
        case .failure(let error):
            var api = APIError(.init(code: error.status), code: error.code, error.message)
            if !error.problems.isEmpty { api.problems = error.problems }
            throw api
        }
    }
}
