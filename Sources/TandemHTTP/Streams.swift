import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TandemAgent
import TandemCore
import TandemStore

/// Server-sent events (text/event-stream): the event stream and KV watches.
extension AgentAPI {
    /// How often an idle stream sends a comment line: it keeps proxies from closing the
    /// connection and lets the server notice a client that went away.
    static let keepaliveInterval: Duration = .seconds(15)

    /// A response that streams what `produce` yields, with keep-alive comments, until
    /// `produce` returns (the agent stops) or the client goes away (then `produce` is
    /// cancelled: it must end, and give up its subscription, when its task is cancelled).
    static func serverSentEvents(produce: @escaping @Sendable (AsyncStream<ByteBuffer>.Continuation) async -> Void) -> Response {
        let body = ResponseBody { writer in
            let (outbox, sink) = AsyncStream<ByteBuffer>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
            let producer = Task {
                await produce(sink)
                sink.finish()
            }
            let keepalive = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: keepaliveInterval)
                    sink.yield(ByteBuffer(string: ": keepalive\n\n"))
                }
            }
            // A first comment, so that the client sees the stream open at once.
            sink.yield(ByteBuffer(string: ": tandem\n\n"))
            do {
                for await buffer in outbox { try await writer.write(buffer) }
                try await writer.finish(nil)
            } catch {
                // The client went away.
            }
            producer.cancel()
            keepalive.cancel()
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: body)
    }

    /// One SSE message: `id`, `event` and one `data` line of JSON.
    static func sseMessage(id: String?, event: String, json: some Encodable) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(json)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        var text = ""
        if let id { text += "id: \(id)\n" }
        text += "event: \(event)\ndata: \(data)\n\n"
        return ByteBuffer(string: text)
    }

    /// `GET /v1/events/stream`: the stored events after `since` (when given), then every new
    /// one as it is recorded; each message's id is the event's id.
    static func eventStream(runtime: NodeRuntime, since: Int64?) -> Response {
        serverSentEvents { sink in
                let (id, lastBefore, live) = await runtime.subscribeEvents()
                var last = since ?? lastBefore
                // History first, in pages, up to the subscription's start; then live events
                // newer than what was sent.
                if since != nil {
                    while last < lastBefore {
                        guard let page = try? runtime.storedEvents(after: last, limit: maxEventPage), !page.isEmpty else { break }
                        for event in page where event.id <= lastBefore {
                            sink.yield(sseMessage(id: String(event.id), event: "event", json: AgentStatus.EventRow(event)))
                        }
                        last = page.last!.id
                    }
                    last = max(last, lastBefore)
                }
                for await event in live where event.id == 0 || event.id > last {
                    sink.yield(sseMessage(id: event.id == 0 ? nil : String(event.id), event: "event", json: AgentStatus.EventRow(event)))
                }
                await runtime.unsubscribeEvents(id)
        }
    }

    /// A KV change as a watch sends it.
    struct WatchChange: Encodable {
        var type: String
        var key: String
        var revision: UInt64
        var entry: KVEntryBody?
    }

    /// `GET /v1/kv/watch`: changes under `prefix` from revision `from` (else from the next
    /// change on). 410 when `from` is older than the history kept.
    static func watchStream(runtime: NodeRuntime, prefix: String, from: UInt64?) async throws -> Response {
        let (id, items): (UInt64, AsyncStream<KVWatchItem>)
        switch await runtime.watchKV(prefix: prefix, from: from) {
        case .success(let watch): (id, items) = watch
        case .failure(let error): throw APIError(.gone, code: error.code.name, error.message + "; read the keys again (GET /v1/kv?prefix=) and watch from their revision")
        }
        return serverSentEvents { sink in
                for await item in items {
                    switch item {
                    case .change(.put(let entry)):
                        sink.yield(sseMessage(id: String(entry.modRevision), event: "put",
                                              json: WatchChange(type: "put", key: entry.key, revision: entry.modRevision, entry: KVEntryBody(entry))))
                    case .change(.deleted(let key, let revision)):
                        sink.yield(sseMessage(id: String(revision), event: "delete",
                                              json: WatchChange(type: "delete", key: key, revision: revision, entry: nil)))
                    case .ended(let error):
                        sink.yield(sseMessage(id: nil, event: "error", json: APIError(.gone, code: error.code.name, error.message)))
                    }
                }
                await runtime.unsubscribeEvents(id)
        }
    }
}
