import Foundation
import Hummingbird
import NIOCore
import TandemAgent
import TandemConfig
import TandemCore

extension DrillRecord: ResponseEncodable {}

/// `GET /v1/drills`: the stored records (newest first) and the drills running now.
public struct DrillListBody: Codable, Sendable, ResponseEncodable {
    public struct Item: Codable, Sendable, Equatable {
        public var id: String
        public var scenario: String
        public var group: String
        public var state: String
        public var startWallMs: Int64
        public var interruptionMs: Double?
        public var `operator`: String?
    }
    public var drills: [Item]
}

extension AgentAPI {
    /// Drills: start one (it runs in the background on this node), list and read the records,
    /// and each record as a self-contained HTML page.
    static func addDrillRoutes(_ router: Router<BasicRequestContext>, runtime: NodeRuntime, access: APIAccess) {
        router.post("/v1/drills") { request, _ -> Response in
            let who = try access.check(request, needs: .operate, to: "running a drill")
            let body = try await decodeBody(DrillRequest.self, from: request)
            do {
                let record = try await runtime.startDrill(body, by: who)
                let json = try JSONEncoder().encode(record)
                return Response(
                    status: .accepted, headers: [.contentType: "application/json", .location: "/v1/drills/\(record.id)"],
                    body: .init(byteBuffer: ByteBuffer(bytes: json)))
            } catch let error as DrillError {
                throw APIError(.init(code: error.status), code: error.code, error.message)
            }
        }
        router.get("/v1/drills") { request, _ -> DrillListBody in
            _ = try access.check(request, needs: .read, to: "reading drill records")
            try await readBarrier(request, runtime)
            return DrillListBody(drills: try await records(runtime).map {
                DrillListBody.Item(id: $0.id, scenario: $0.scenario, group: $0.group, state: $0.state, startWallMs: $0.startWallMs,
                                   interruptionMs: $0.interruptionMs, operator: $0.operator)
            })
        }
        router.get("/v1/drills/:id") { request, context -> DrillRecord in
            _ = try access.check(request, needs: .read, to: "reading drill records")
            let drillID = try context.parameters.require("id")
            // A drill running (or run) here is read from memory; a stored one after a barrier.
            if let here = await runtime.drill(id: drillID) { return here }
            try await readBarrier(request, runtime)
            return try await record(drillID, runtime)
        }
        router.get("/v1/drills/:id/report.html") { request, context -> Response in
            _ = try access.check(request, needs: .read, to: "reading drill records")
            let record = try await record(try context.parameters.require("id"), runtime)
            return Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8",
                          .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; img-src data:"],
                body: .init(byteBuffer: ByteBuffer(string: DrillReport.html(record))))
        }
    }

    /// Every stored record (the replicated KV store), with those running here, newest first.
    static func records(_ runtime: NodeRuntime) async throws -> [DrillRecord] {
        let kv = await runtime.state.kv
        var found: [String: DrillRecord] = [:]
        for entry in kv.range(prefix: NodeRuntime.drillPrefix) {
            if let record = try? JSONDecoder().decode(DrillRecord.self, from: Data(entry.value)) { found[record.id] = record }
        }
        for record in await runtime.runningDrills() where found[record.id] == nil { found[record.id] = record }
        return found.values.sorted { ($0.startWallMs, $0.id) > ($1.startWallMs, $1.id) }
    }

    static func record(_ drillID: String, _ runtime: NodeRuntime) async throws -> DrillRecord {
        if let running = await runtime.drill(id: drillID) { return running }
        if let entry = await runtime.state.kv.get(NodeRuntime.drillPrefix + drillID),
           let record = try? JSONDecoder().decode(DrillRecord.self, from: Data(entry.value)) {
            return record
        }
        throw APIError(.notFound, code: "not_found", "no drill \(drillID.debugDescription); GET /v1/drills lists them")
    }
}
