/// The OpenAPI document of the agent's API, served at /v1/openapi.json. docs/openapi.json is
/// the same text (a test compares them): edit the file, then run Tests/api/embed-openapi.sh.
enum OpenAPIDocument {
    static let json = ##"""
{
  "openapi": "3.0.3",
  "info": {
    "title": "Tandem agent API",
    "version": "1",
    "description": "The local HTTP API of a Tandem agent: status, events, operator actions, the replicated KV store, metrics. Every error is JSON {code, message} (the Error schema).\n\nTransport: plain HTTP on each node's api address, or HTTPS only when the configuration sets api.tls (cert_file, key_file); then a plain HTTP request gets no answer.\n\nAccess: with api.token_file, calls carry Authorization: Bearer TOKEN; each token has a role, read < operate < admin. Reads (GET) need a read token only when api.read is token (else a token is optional; a token that is sent must be valid), except the configuration file and its history, which need operate; operator actions and KV writes need operate; configuration changes need admin. Without a token file every endpoint is open. Missing or invalid token: 401 unauthorized; role too low: 403 forbidden.\n\nAn unknown path or a method a path does not take: 404 not_found. A 500 (code internal or unexpected) is a bug."
  },
  "servers": [
    {
      "url": "{scheme}://{address}",
      "description": "A node's api address: http, or https when api.tls is set (then https only).",
      "variables": {
        "scheme": {
          "enum": [
            "http",
            "https"
          ],
          "default": "http"
        },
        "address": {
          "default": "127.0.0.1:7480",
          "description": "HOST:PORT, the node's api setting"
        }
      }
    }
  ],
  "tags": [
    {
      "name": "status",
      "description": "Status and metrics."
    },
    {
      "name": "events",
      "description": "The event history and stream."
    },
    {
      "name": "actions",
      "description": "Operator actions (need role operate)."
    },
    {
      "name": "kv",
      "description": "The replicated key-value store (writes need role operate)."
    },
    {
      "name": "meta",
      "description": "The dashboard and this document."
    },
    {
      "name": "config",
      "description": "The cluster's configuration: revisions, history, rollback (changes need role admin)."
    },
    {
      "name": "drills",
      "description": "Acceptance drills and their records (running one needs role operate)."
    }
  ],
  "paths": {
    "/v1/status": {
      "get": {
        "operationId": "getStatus",
        "summary": "This node's status",
        "description": "Roles, epochs, links, readiness, alarms and the latest events, as this node sees them.",
        "tags": [
          "status"
        ],
        "security": [
          {},
          {
            "bearer": []
          }
        ],
        "responses": {
          "200": {
            "description": "The status.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/AgentStatus"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/v1/events": {
      "get": {
        "operationId": "listEvents",
        "summary": "Stored events, oldest first",
        "description": "Without since: the newest limit events. With since: the events with an id greater than since, oldest first, at most limit of them; page on with since=last.",
        "tags": [
          "events"
        ],
        "security": [
          {},
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "since",
            "in": "query",
            "required": false,
            "description": "Only events with an id greater than this (400 invalid_since otherwise).",
            "schema": {
              "type": "integer",
              "format": "int64",
              "minimum": 0,
              "maximum": 9223372036854775807
            }
          },
          {
            "name": "limit",
            "in": "query",
            "required": false,
            "description": "The most events to return (400 invalid_limit outside 1...1000).",
            "schema": {
              "type": "integer",
              "format": "int64",
              "minimum": 1,
              "maximum": 1000,
              "default": 100
            }
          },
          {
            "name": "scope",
            "in": "query",
            "required": false,
            "schema": {
              "type": "string",
              "enum": [
                "node",
                "cluster"
              ]
            },
            "description": "node (default): this node's stored events, paged by since. cluster: the newest limit events of every node a link reaches (asked over the cluster's links, 2 s), merged by each node's wall clock; no paging (since is refused)."
          }
        ],
        "responses": {
          "200": {
            "description": "The events.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Events"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          }
        }
      }
    },
    "/v1/events/stream": {
      "get": {
        "operationId": "streamEvents",
        "summary": "Follow events (server-sent events)",
        "description": "Every event recorded on this node from now on; with since (or Last-Event-ID, as a reconnecting EventSource sends it) first the stored events after that id. Each message is `id: <event id>` (absent for an event that was not stored), `event: event` and one `data:` line holding an EventRow as JSON. The stream starts with the comment line `: tandem`, and an idle stream sends `: keepalive` every 15 seconds. It never ends on its own (only when the agent stops or the client goes away).",
        "tags": [
          "events"
        ],
        "security": [
          {},
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "since",
            "in": "query",
            "required": false,
            "description": "Replay the stored events with an id greater than this first (400 invalid_since otherwise). Takes precedence over Last-Event-ID.",
            "schema": {
              "type": "integer",
              "format": "int64",
              "minimum": 0,
              "maximum": 9223372036854775807
            }
          },
          {
            "name": "Last-Event-ID",
            "in": "header",
            "required": false,
            "description": "Used as since when since is absent (400 invalid_last_event_id when it is not a whole number of at least 0).",
            "schema": {
              "type": "integer",
              "format": "int64",
              "minimum": 0,
              "maximum": 9223372036854775807
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The stream (text/event-stream). The schema describes one message of it.",
            "content": {
              "text/event-stream": {
                "schema": {
                  "$ref": "#/components/schemas/EventStreamMessage"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/v1/groups/{group}/switchover": {
      "post": {
        "operationId": "switchover",
        "summary": "Move a group to another node",
        "description": "Moves the group to the node named by to (in the body, else in the query), or to the best ready node. Answers once the move is carried out (outcome moved) or refused; 504 after 30 seconds without an outcome (the move may still complete: its events tell).",
        "tags": [
          "actions"
        ],
        "security": [
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "group",
            "in": "path",
            "required": true,
            "description": "The group's id.",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "to",
            "in": "query",
            "required": false,
            "description": "The target node, when the body does not name one (400 invalid_target when empty).",
            "schema": {
              "type": "string",
              "minLength": 1
            }
          }
        ],
        "requestBody": {
          "required": false,
          "description": "Optional (an empty body is {}); JSON of at most 64 KiB, whatever the Content-Type.",
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/SwitchoverRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The switchover was carried out.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Action"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          },
          "413": {
            "$ref": "#/components/responses/ContentTooLarge"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/v1/groups/{group}/failback": {
      "post": {
        "operationId": "failback",
        "summary": "Move a group back to its most preferred ready node",
        "description": "Answers once the move is carried out (outcome moved) or refused; 504 after 30 seconds without an outcome. The request body, if any, is ignored.",
        "tags": [
          "actions"
        ],
        "security": [
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "group",
            "in": "path",
            "required": true,
            "description": "The group's id.",
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The failback was carried out.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Action"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/v1/nodes/{node}/maintenance": {
      "post": {
        "operationId": "setMaintenance",
        "summary": "Put a node in maintenance, or take it out",
        "description": "A node in maintenance is not chosen to own groups. Answers once committed and applied.",
        "tags": [
          "actions"
        ],
        "security": [
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "node",
            "in": "path",
            "required": true,
            "description": "The node's id.",
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "required": true,
          "description": "JSON of at most 64 KiB, whatever the Content-Type.",
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/SwitchRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "Committed and applied (outcome done).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Action"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "413": {
            "$ref": "#/components/responses/ContentTooLarge"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/v1/freeze": {
      "post": {
        "operationId": "setFreeze",
        "summary": "Freeze automatic moves, or unfreeze",
        "description": "While frozen the cluster makes no automatic moves (operator actions still work). Answers once committed and applied.",
        "tags": [
          "actions"
        ],
        "security": [
          {
            "bearer": []
          }
        ],
        "requestBody": {
          "required": true,
          "description": "JSON of at most 64 KiB, whatever the Content-Type.",
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/SwitchRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "Committed and applied (outcome done).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Action"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "413": {
            "$ref": "#/components/responses/ContentTooLarge"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/v1/kv": {
      "get": {
        "operationId": "listKeys",
        "summary": "List keys",
        "description": "The entries whose keys start with prefix, sorted by key, and the store revision they were read at.",
        "tags": [
          "kv"
        ],
        "security": [
          {},
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "prefix",
            "in": "query",
            "required": false,
            "description": "Only keys starting with this (empty: all).",
            "schema": {
              "type": "string",
              "default": ""
            }
          },
          {
            "name": "limit",
            "in": "query",
            "required": false,
            "description": "At most this many entries, the first in key order (400 invalid_limit otherwise).",
            "schema": {
              "type": "integer",
              "format": "int64",
              "minimum": 1,
              "maximum": 9223372036854775807
            }
          },
          {
            "name": "local",
            "in": "query",
            "required": false,
            "description": "false (the default): a linearizable read; this node first applies everything the cluster has committed (a read barrier through the leader: 503 or 504 when it cannot). true: what this node has applied, at once and possibly stale. Only the words true and false are accepted.",
            "schema": {
              "type": "boolean",
              "default": false
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The entries.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/KVList"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/v1/kv/watch": {
      "get": {
        "operationId": "watchKeys",
        "summary": "Watch keys (server-sent events)",
        "description": "The changes to keys under prefix, from revision from (else from the next change on), as this node applies them. Each message is `id: <revision>`, `event: put` or `event: delete` and one `data:` line holding a WatchChange as JSON. When the history no longer holds what the watch needs, a last message `event: error` with an Error (code compacted) ends it. The stream starts with the comment line `: tandem`, and an idle stream sends `: keepalive` every 15 seconds. It never ends on its own (only when the agent stops or the client goes away). This route takes the path /v1/kv/watch: the key \"watch\" cannot be read with GET /v1/kv/{key}.",
        "tags": [
          "kv"
        ],
        "security": [
          {},
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "prefix",
            "in": "query",
            "required": false,
            "description": "Only keys starting with this (empty: all).",
            "schema": {
              "type": "string",
              "default": ""
            }
          },
          {
            "name": "from",
            "in": "query",
            "required": false,
            "description": "The first revision to send (0 is read as 1); 400 invalid_from otherwise, 410 when the history no longer holds it.",
            "schema": {
              "type": "integer",
              "format": "int64",
              "minimum": 0,
              "maximum": 9223372036854775807
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The stream (text/event-stream). The schema describes one message of it.",
            "content": {
              "text/event-stream": {
                "schema": {
                  "$ref": "#/components/schemas/WatchStreamMessage"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "410": {
            "$ref": "#/components/responses/Gone"
          }
        }
      }
    },
    "/v1/kv/{key}": {
      "parameters": [
        {
          "name": "key",
          "in": "path",
          "required": true,
          "description": "The key: any non-empty string of at most 1024 UTF-8 bytes without NUL. The server route is /v1/kv/** (a catch-all): the key is the rest of the path, so it may contain '/' (sent as is or as %2F); it is percent-decoded once. GET /v1/kv/watch is the watch stream, so the key \"watch\" cannot be read through GET (it can be written and deleted); the keys \".\" and \"..\" are dot segments that most clients remove from a URL before sending it.",
          "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1024,
            "pattern": "^[^\\u0000]+$"
          }
        }
      ],
      "get": {
        "operationId": "getKey",
        "summary": "Read a key",
        "tags": [
          "kv"
        ],
        "security": [
          {},
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "local",
            "in": "query",
            "required": false,
            "description": "false (the default): a linearizable read; this node first applies everything the cluster has committed (a read barrier through the leader: 503 or 504 when it cannot). true: what this node has applied, at once and possibly stale. Only the words true and false are accepted.",
            "schema": {
              "type": "boolean",
              "default": false
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The entry.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/KVEntry"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      },
      "put": {
        "operationId": "putKey",
        "summary": "Write a key",
        "description": "The body is the value, as raw bytes (at most 1 MiB). Answers once committed.",
        "tags": [
          "kv"
        ],
        "security": [
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "If-Match",
            "in": "header",
            "required": false,
            "description": "Makes the write a compare-and-set on the key's modRevision: it is carried out only if the key is at exactly this revision (0: only if the key does not exist), else 412 revisionMismatch. A decimal number; surrounding double quotes and spaces are ignored (an ETag-style \"12\" is read as 12); anything else is 400 invalid_if_match.",
            "schema": {
              "type": "integer",
              "minimum": 0,
              "maximum": 18446744073709551615
            }
          }
        ],
        "requestBody": {
          "required": false,
          "description": "The value: any bytes, at most 1048576 of them (413 value_too_large beyond); no body writes the empty value. The Content-Type is not looked at.",
          "content": {
            "application/octet-stream": {
              "schema": {
                "type": "string",
                "format": "binary",
                "maxLength": 1048576
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "Written.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/KVWrite"
                }
              }
            },
            "links": {
              "GetWrittenKey": {
                "operationId": "getKey",
                "parameters": {
                  "key": "$request.path.key"
                },
                "description": "The key as written."
              },
              "DeleteWrittenKey": {
                "operationId": "deleteKey",
                "parameters": {
                  "key": "$request.path.key"
                },
                "description": "Delete the key."
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "412": {
            "$ref": "#/components/responses/PreconditionFailed"
          },
          "413": {
            "$ref": "#/components/responses/ContentTooLarge"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      },
      "delete": {
        "operationId": "deleteKey",
        "summary": "Delete a key",
        "description": "Answers once committed; 404 notFound when the key does not exist.",
        "tags": [
          "kv"
        ],
        "security": [
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "If-Match",
            "in": "header",
            "required": false,
            "description": "Makes the write a compare-and-set on the key's modRevision: it is carried out only if the key is at exactly this revision (0: only if the key does not exist), else 412 revisionMismatch. A decimal number; surrounding double quotes and spaces are ignored (an ETag-style \"12\" is read as 12); anything else is 400 invalid_if_match.",
            "schema": {
              "type": "integer",
              "minimum": 0,
              "maximum": 18446744073709551615
            }
          }
        ],
        "responses": {
          "200": {
            "description": "Deleted.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/KVWrite"
                }
              }
            },
            "links": {
              "GetDeletedKey": {
                "operationId": "getKey",
                "parameters": {
                  "key": "$request.path.key"
                },
                "description": "The key is gone: 404."
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "412": {
            "$ref": "#/components/responses/PreconditionFailed"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/metrics": {
      "get": {
        "operationId": "getMetrics",
        "summary": "Prometheus metrics",
        "description": "This node's view in the Prometheus text exposition format 0.0.4, computed from the status at each scrape: tandem_info, tandem_leader, tandem_term, tandem_quorum, tandem_frozen, tandem_config_revision, tandem_commit_index, tandem_applied_index, tandem_kv_revision, tandem_uptime_seconds, tandem_group_active, tandem_epoch, tandem_group_ready_standbys, tandem_group_owner, tandem_link_up, tandem_link_rtt_seconds, tandem_link_loss_ratio, tandem_link_last_heard_seconds, tandem_replication_lag_entries, tandem_failovers_total, tandem_rejected_packets_total, tandem_alarms, tandem_stalls_total.",
        "tags": [
          "status"
        ],
        "security": [
          {},
          {
            "bearer": []
          }
        ],
        "responses": {
          "200": {
            "description": "The metrics.",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/v1/openapi.json": {
      "get": {
        "operationId": "getOpenAPI",
        "summary": "This document",
        "tags": [
          "meta"
        ],
        "security": [],
        "responses": {
          "200": {
            "description": "The OpenAPI document of the agent's API (docs/openapi.json).",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        }
      }
    },
    "/": {
      "get": {
        "operationId": "getDashboard",
        "summary": "The dashboard page",
        "description": "A self-contained HTML page (inline script and style) that shows this node's status and events from this API. Open to everyone: the page asks for a token when an endpoint it calls needs one.",
        "tags": [
          "meta"
        ],
        "security": [],
        "responses": {
          "200": {
            "description": "The page.",
            "content": {
              "text/html": {
                "schema": {
                  "type": "string"
                }
              }
            }
          }
        }
      }
    },
    "/v1/config": {
      "get": {
        "operationId": "getConfig",
        "summary": "The current configuration revision, or one from the history",
        "tags": [
          "config"
        ],
        "security": [
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "revision",
            "in": "query",
            "required": false,
            "schema": {
              "type": "integer",
              "format": "int64",
              "minimum": 1
            },
            "description": "A revision from the history (default: the current one)."
          }
        ],
        "responses": {
          "200": {
            "description": "The revision and its file.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ConfigView"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "description": "Needs an operate token even where reads are open (api.read: open): a file may hold commands and webhook URLs with credentials."
      },
      "post": {
        "operationId": "applyConfig",
        "summary": "Make a file the next configuration revision",
        "description": "The body is the whole configuration file (YAML, at most 256 KiB), with revision one more than the current. It is checked on this node and on every node a link reaches (it must read; the log must take it: same cluster name, timing and voters; nothing that needs a restart changes: nodes, addresses, api, key files, data_dir; each node has what it needs, e.g. a VIP's interface), then committed through the log with the file, who asked and when; every node applies it (a group's resources change once it is not running on the node). Refused whole if any node would refuse it. With dry_run=true only the check is made.",
        "tags": [
          "config"
        ],
        "security": [
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "dry_run",
            "in": "query",
            "required": false,
            "schema": {
              "type": "string",
              "enum": [
                "true",
                "false"
              ]
            },
            "description": "Only check it everywhere; change nothing."
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/yaml": {
              "schema": {
                "type": "string"
              }
            },
            "text/plain": {
              "schema": {
                "type": "string"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "Committed (or, for a dry run, checked).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ConfigChange"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          },
          "413": {
            "$ref": "#/components/responses/ContentTooLarge"
          },
          "422": {
            "$ref": "#/components/responses/UnprocessableContent"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/v1/config/history": {
      "get": {
        "operationId": "getConfigHistory",
        "summary": "The configuration revisions kept",
        "tags": [
          "config"
        ],
        "security": [
          {
            "bearer": []
          }
        ],
        "responses": {
          "200": {
            "description": "Oldest first, without their files (GET /v1/config?revision=N has each file).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ConfigHistory"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "description": "Needs an operate token, like GET /v1/config."
      }
    },
    "/v1/config/rollback": {
      "post": {
        "operationId": "rollbackConfig",
        "summary": "Make an earlier revision's file current again, as a new revision",
        "description": "The file of the revision named is made the next revision (its revision line rewritten), checked and committed as POST /v1/config does.",
        "tags": [
          "config"
        ],
        "security": [
          {
            "bearer": []
          }
        ],
        "requestBody": {
          "required": true,
          "description": "JSON of at most 64 KiB, whatever the Content-Type.",
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/RollbackRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "Committed.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ConfigChange"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          },
          "413": {
            "$ref": "#/components/responses/ContentTooLarge"
          },
          "422": {
            "$ref": "#/components/responses/UnprocessableContent"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/v1/drills": {
      "get": {
        "operationId": "listDrills",
        "summary": "The drill records, newest first (stored replicated), and those running on this node",
        "tags": [
          "drills"
        ],
        "security": [
          {},
          {
            "bearer": []
          }
        ],
        "responses": {
          "200": {
            "description": "The records.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/DrillList"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      },
      "post": {
        "operationId": "startDrill",
        "summary": "Start a drill on this node (it runs the drill and its probe)",
        "description": "Answers at once with the record in state running (Location: /v1/drills/ID); read it again until it is passed or failed. The fault is injected by the affected agent itself and ends at faultSeconds whatever happens. One drill at a time per node.",
        "tags": [
          "drills"
        ],
        "security": [
          {
            "bearer": []
          }
        ],
        "requestBody": {
          "required": true,
          "description": "JSON of at most 64 KiB, whatever the Content-Type.",
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/DrillRequest"
              }
            }
          }
        },
        "responses": {
          "202": {
            "description": "Started.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/DrillRecord"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          },
          "413": {
            "$ref": "#/components/responses/ContentTooLarge"
          }
        }
      }
    },
    "/v1/drills/{id}": {
      "get": {
        "operationId": "getDrill",
        "summary": "One drill's record (running or done)",
        "tags": [
          "drills"
        ],
        "security": [
          {},
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The record.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/DrillRecord"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          }
        }
      }
    },
    "/v1/drills/{id}/report.html": {
      "get": {
        "operationId": "getDrillReport",
        "summary": "One drill's record as a self-contained HTML page with an SVG timeline",
        "tags": [
          "drills"
        ],
        "security": [
          {},
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The page.",
            "content": {
              "text/html": {
                "schema": {
                  "type": "string"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          }
        }
      }
    }
  },
  "components": {
    "securitySchemes": {
      "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A token of api.token_file (NAME ROLE TOKEN lines)."
      }
    },
    "responses": {
      "BadRequest": {
        "description": "Bad input. code: invalid_limit, invalid_since, invalid_from, invalid_local, invalid_last_event_id, invalid_if_match, invalid_key, invalid_target, invalid_body (the JSON body is not what the endpoint takes), invalidKey (the store refuses the key), invalid (the cluster refuses the action, e.g. a witness as switchover target). For configuration: invalid_config (the file does not read; problems lists why), invalid_dry_run, invalid_revision. invalid_scope. invalid_drill (an unknown scenario, a bad probe or number).",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "Unauthorized": {
        "description": "code unauthorized: no token where one is needed, a header that is not 'Bearer TOKEN', or a token that is not in api.token_file.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "Forbidden": {
        "description": "code forbidden: the token's role is too low (read < operate < admin). Reads never answer it: no role is below read.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "NotFound": {
        "description": "code unknown_group, unknown_node, not_found (no such key, or no such endpoint) or notFound (deleting a key that does not exist).",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "Conflict": {
        "description": "The cluster refused the request: code target_not_ready, would_leave_no_standby, rolled_back, or another refusal or store error not listed elsewhere. For configuration: revision_conflict (the revision is not newer than the cluster's, or is already current). For drills: busy (a drill or a drill's fault is running on this node), not_ready (the group has no owner).",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "Gone": {
        "description": "code compacted: the history no longer holds the revision asked for; read the keys again and watch from their revision.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "PreconditionFailed": {
        "description": "code revisionMismatch (If-Match does not match the key's revision) or staleEpoch.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "ContentTooLarge": {
        "description": "code value_too_large or valueTooLarge (a value over 1 MiB), or too_large.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "ServiceUnavailable": {
        "description": "code no_leader, no_quorum or busy (retry later), or store_unavailable (the events cannot be read).",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "GatewayTimeout": {
        "description": "code timed_out or outcome_unknown: no outcome in time; the request may or may not have been carried out (its events tell).",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "UnprocessableContent": {
        "description": "code config_rejected: a node would refuse the configuration (problems lists each node's reasons); nothing was changed.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      }
    },
    "schemas": {
      "Error": {
        "type": "object",
        "description": "Every error the API answers.",
        "required": [
          "code",
          "message"
        ],
        "properties": {
          "code": {
            "type": "string",
            "description": "A stable, machine-readable code (see each response)."
          },
          "message": {
            "type": "string",
            "description": "What went wrong, in words."
          },
          "problems": {
            "type": "object",
            "description": "A configuration change: per node, what it would refuse.",
            "additionalProperties": {
              "type": "array",
              "items": {
                "type": "string"
              }
            }
          }
        }
      },
      "AgentStatus": {
        "type": "object",
        "description": "What GET /v1/status shows, from this node's point of view. Times are milliseconds unless named otherwise.",
        "required": [
          "cluster",
          "node",
          "version",
          "role",
          "term",
          "quorum",
          "configRevision",
          "commitIndex",
          "appliedIndex",
          "lastLogIndex",
          "incarnation",
          "timing",
          "frozen",
          "kvRevision",
          "kvDigest",
          "nodes",
          "groups",
          "links",
          "rejected",
          "stalls",
          "longestStallMilliseconds",
          "events",
          "uptimeSeconds",
          "ownerChanges",
          "alarms"
        ],
        "properties": {
          "cluster": {
            "type": "string",
            "description": "The cluster's name."
          },
          "node": {
            "type": "string",
            "description": "This node's id."
          },
          "version": {
            "type": "string",
            "description": "This node's software version."
          },
          "role": {
            "type": "string",
            "description": "This node's role: follower, pre-candidate, candidate, leader or learner."
          },
          "term": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "The consensus term."
          },
          "leader": {
            "type": "string",
            "description": "The leader this node knows; absent when none."
          },
          "quorum": {
            "type": "boolean",
            "description": "On the leader: a quorum acknowledged a round within the lease. Elsewhere: a leader is known."
          },
          "configRevision": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "The cluster's configuration revision (committed); each node's running revision is in nodes[].configRevision."
          },
          "commitIndex": {
            "type": "integer",
            "format": "int64",
            "minimum": 0
          },
          "appliedIndex": {
            "type": "integer",
            "format": "int64",
            "minimum": 0
          },
          "lastLogIndex": {
            "type": "integer",
            "format": "int64",
            "minimum": 0
          },
          "incarnation": {
            "type": "integer",
            "format": "int64",
            "minimum": 0
          },
          "timing": {
            "type": "string",
            "description": "The timing profile's name, or the timing in words when custom."
          },
          "frozen": {
            "type": "boolean",
            "description": "Automatic moves are frozen."
          },
          "kvRevision": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "The KV store's revision."
          },
          "kvDigest": {
            "type": "string",
            "description": "The KV store's digest, in hexadecimal (equal on replicas at the same revision)."
          },
          "nodes": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/NodeRow"
            }
          },
          "groups": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/GroupRow"
            }
          },
          "links": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/LinkRow"
            }
          },
          "rejected": {
            "type": "object",
            "description": "Rejected packets by reason.",
            "additionalProperties": {
              "type": "integer",
              "format": "int64"
            }
          },
          "stalls": {
            "type": "integer",
            "format": "int64",
            "description": "Times this agent noticed it was stalled."
          },
          "longestStallMilliseconds": {
            "type": "number",
            "format": "double"
          },
          "events": {
            "type": "array",
            "description": "The latest events (at most 50).",
            "items": {
              "$ref": "#/components/schemas/EventRow"
            }
          },
          "uptimeSeconds": {
            "type": "number",
            "format": "double"
          },
          "ownerChanges": {
            "type": "array",
            "description": "Owner changes this node decided as controller since it started.",
            "items": {
              "$ref": "#/components/schemas/OwnerChangeCount"
            }
          },
          "alarms": {
            "type": "array",
            "description": "Alarms open on this node.",
            "items": {
              "$ref": "#/components/schemas/Alarm"
            }
          }
        }
      },
      "NodeRow": {
        "type": "object",
        "required": [
          "id",
          "kind",
          "maintenance",
          "upstream",
          "health"
        ],
        "properties": {
          "id": {
            "type": "string"
          },
          "kind": {
            "type": "string",
            "description": "node, witness or learner."
          },
          "role": {
            "type": "string",
            "description": "For this node its role; for another node \"leader\" when it is the leader this node knows; absent otherwise."
          },
          "maintenance": {
            "type": "boolean"
          },
          "upstream": {
            "type": "boolean",
            "description": "The node last reported its upstream reachable."
          },
          "health": {
            "type": "object",
            "description": "Per group: the health the node last reported.",
            "additionalProperties": {
              "type": "boolean"
            }
          },
          "linksUp": {
            "type": "array",
            "description": "For peers: the links (1-based) over which this node hears the peer now. Absent for this node.",
            "items": {
              "type": "integer",
              "format": "int64"
            }
          },
          "match": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "On the leader: the log index the node is known to have matched. Absent elsewhere."
          },
          "lagEntries": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "On the leader: how many log entries the node is behind. Absent elsewhere."
          },
          "software": {
            "type": "string",
            "description": "The software version the node last reported running. Absent before its first report."
          },
          "configRevision": {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "description": "The configuration revision the node last reported running (its runtime applied it). Absent before its first report."
          }
        }
      },
      "GroupRow": {
        "type": "object",
        "required": [
          "id",
          "epoch",
          "reason",
          "activeHere",
          "readyStandbys",
          "notReady",
          "mismatched",
          "ownerSinceIndex"
        ],
        "properties": {
          "id": {
            "type": "string"
          },
          "owner": {
            "type": "string",
            "description": "The node that owns the group; absent when none."
          },
          "epoch": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "Grows with every change of owner."
          },
          "reason": {
            "type": "string",
            "description": "Why the group is where it is."
          },
          "activeHere": {
            "type": "boolean",
            "description": "This node has the group active."
          },
          "phase": {
            "type": "string",
            "description": "On this node: starting, running or stopping; absent when the group is not here."
          },
          "readyStandbys": {
            "type": "array",
            "description": "Nodes that could take the group over now.",
            "items": {
              "type": "string"
            }
          },
          "notReady": {
            "type": "object",
            "description": "The other candidates, with why they could not.",
            "additionalProperties": {
              "type": "string"
            }
          },
          "pending": {
            "type": "string",
            "description": "A switchover or failback in progress, in words; absent when none."
          },
          "mismatched": {
            "type": "object",
            "description": "Ready standbys that run another software version than the owner, or another configuration revision than the cluster's, and how.",
            "additionalProperties": {
              "type": "string"
            }
          },
          "ownerSinceWallMilliseconds": {
            "type": "integer",
            "format": "int64",
            "description": "When this node learned that the present owner took the group at the present epoch (Unix ms, this node's clock). Absent when that was before this agent started."
          },
          "ownerSinceIndex": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "The log index of the entry that made the present owner the owner (0: none yet)."
          },
          "lastProvenDrill": {
            "type": "string",
            "description": "The newest drill that passed for this group (its id)."
          },
          "lastProvenWallMilliseconds": {
            "type": "integer",
            "format": "int64",
            "description": "When that drill ended (Unix ms). Absent: never proven."
          }
        }
      },
      "LinkRow": {
        "type": "object",
        "required": [
          "peer",
          "link",
          "up",
          "loss",
          "stream"
        ],
        "properties": {
          "peer": {
            "type": "string"
          },
          "link": {
            "type": "integer",
            "format": "int64",
            "description": "The link's number, 1-based."
          },
          "up": {
            "type": "boolean"
          },
          "rttMilliseconds": {
            "type": "number",
            "format": "double",
            "description": "Smoothed round-trip time; absent before the first answer."
          },
          "loss": {
            "type": "number",
            "format": "double",
            "description": "Share of recent probes not answered, 0 to 1."
          },
          "lastSeenMillisecondsAgo": {
            "type": "number",
            "format": "double",
            "description": "Absent when nothing was heard yet."
          },
          "stream": {
            "type": "boolean"
          }
        }
      },
      "EventRow": {
        "type": "object",
        "required": [
          "id",
          "wallMilliseconds",
          "kind",
          "node",
          "term",
          "reason",
          "evidence"
        ],
        "properties": {
          "id": {
            "type": "integer",
            "format": "int64",
            "description": "The event's id in this node's store (consecutive); 0 for an event not stored."
          },
          "wallMilliseconds": {
            "type": "integer",
            "format": "int64",
            "description": "When, in milliseconds since 1970."
          },
          "kind": {
            "type": "string",
            "description": "started, campaign, leader, stepped_down, activated, deactivated, refused, assigned, stalled, leadership_transfer, switchover, snapshot, fence, operator_action, ..."
          },
          "node": {
            "type": "string",
            "description": "The node that recorded it."
          },
          "term": {
            "type": "integer",
            "format": "int64",
            "minimum": 0
          },
          "group": {
            "type": "string",
            "description": "Absent when the event is not about a group."
          },
          "epoch": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "Absent when the event is not about a group's epoch."
          },
          "reason": {
            "type": "string"
          },
          "evidence": {
            "type": "string",
            "description": "May be empty."
          }
        }
      },
      "OwnerChangeCount": {
        "type": "object",
        "required": [
          "group",
          "reason",
          "count"
        ],
        "properties": {
          "group": {
            "type": "string"
          },
          "reason": {
            "type": "string",
            "description": "failover, switchover, failback, released, initial, rollback or other."
          },
          "count": {
            "type": "integer",
            "format": "int64"
          }
        }
      },
      "Alarm": {
        "type": "object",
        "required": [
          "id",
          "kind",
          "severity",
          "message",
          "sinceWallMilliseconds"
        ],
        "properties": {
          "id": {
            "type": "string",
            "description": "Kind and subject, e.g. no_ready_standby:pbx or link_down:b:2."
          },
          "kind": {
            "type": "string",
            "description": "no_ready_standby, group_down, quorum_lost, link_down, replication_lag, self_demoted, ..."
          },
          "severity": {
            "type": "string",
            "description": "critical, major or minor."
          },
          "message": {
            "type": "string"
          },
          "sinceWallMilliseconds": {
            "type": "integer",
            "format": "int64",
            "description": "When it was raised, in milliseconds since 1970."
          }
        }
      },
      "Events": {
        "type": "object",
        "required": [
          "events",
          "last"
        ],
        "properties": {
          "events": {
            "type": "array",
            "description": "Oldest first.",
            "items": {
              "$ref": "#/components/schemas/EventRow"
            }
          },
          "last": {
            "type": "integer",
            "format": "int64",
            "description": "The id of the last event returned, or since (or where the page started) when none: pass it as since for the next page. 0 with scope=cluster."
          },
          "answered": {
            "type": "array",
            "items": {
              "type": "string"
            },
            "description": "scope=cluster: the nodes whose events are included."
          },
          "missing": {
            "type": "array",
            "items": {
              "type": "string"
            },
            "description": "scope=cluster: the nodes that did not answer (no link up, or silent for 2 s)."
          }
        }
      },
      "SwitchoverRequest": {
        "type": "object",
        "description": "The body of a switchover (other fields are ignored).",
        "properties": {
          "to": {
            "type": "string",
            "minLength": 1,
            "description": "The target node; absent: the to query parameter, else the best ready node. Empty is 400 invalid_target."
          }
        }
      },
      "SwitchRequest": {
        "type": "object",
        "description": "On or off (other fields are ignored).",
        "required": [
          "on"
        ],
        "properties": {
          "on": {
            "type": "boolean"
          }
        }
      },
      "Action": {
        "type": "object",
        "description": "The outcome of an operator action, once committed and carried out.",
        "required": [
          "outcome",
          "action",
          "by",
          "index"
        ],
        "properties": {
          "outcome": {
            "type": "string",
            "description": "moved (a switchover or failback carried out) or done (committed and applied)."
          },
          "action": {
            "type": "string",
            "description": "What was asked, in words, e.g. \"switchover of pbx to b\"."
          },
          "by": {
            "type": "string",
            "description": "Who asked: the token's name, or anonymous without a token file."
          },
          "group": {
            "type": "string",
            "description": "For moved: the group."
          },
          "owner": {
            "type": "string",
            "description": "For moved: its owner now."
          },
          "epoch": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "For moved: its epoch now."
          },
          "index": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "The log index at which the action was committed."
          }
        }
      },
      "KVEntry": {
        "type": "object",
        "description": "A key and its value: exactly one of value and valueBase64 is present.",
        "required": [
          "key",
          "createRevision",
          "modRevision",
          "version"
        ],
        "properties": {
          "key": {
            "type": "string"
          },
          "value": {
            "type": "string",
            "description": "The value, when it is valid UTF-8 (absent otherwise)."
          },
          "valueBase64": {
            "type": "string",
            "format": "byte",
            "description": "The value in base64, when it is not valid UTF-8 (absent otherwise)."
          },
          "createRevision": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "The store revision at which the key was (last) created."
          },
          "modRevision": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "The store revision of the key's last write."
          },
          "version": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "1 on create, +1 on each later write."
          }
        }
      },
      "KVList": {
        "type": "object",
        "required": [
          "revision",
          "entries"
        ],
        "properties": {
          "revision": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "The store revision the entries were read at."
          },
          "entries": {
            "type": "array",
            "description": "Sorted by key.",
            "items": {
              "$ref": "#/components/schemas/KVEntry"
            }
          }
        }
      },
      "KVWrite": {
        "type": "object",
        "required": [
          "revision",
          "index"
        ],
        "properties": {
          "revision": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "The store revision the write made."
          },
          "index": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "The log index at which it was committed."
          }
        }
      },
      "EventStreamMessage": {
        "type": "object",
        "description": "One message of GET /v1/events/stream: the fields id, event and data of a server-sent event (comment lines are not messages).",
        "required": [
          "event",
          "data"
        ],
        "properties": {
          "id": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "The event's id (absent for an event that was not stored): a reconnecting client sends the last one as Last-Event-ID."
          },
          "event": {
            "type": "string",
            "enum": [
              "event"
            ]
          },
          "data": {
            "type": "string",
            "description": "An EventRow, as one line of JSON."
          }
        }
      },
      "WatchStreamMessage": {
        "type": "object",
        "description": "One message of GET /v1/kv/watch: the fields id, event and data of a server-sent event (comment lines are not messages).",
        "required": [
          "event",
          "data"
        ],
        "properties": {
          "id": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "For put and delete: the store revision of the change."
          },
          "event": {
            "type": "string",
            "enum": [
              "put",
              "delete",
              "error"
            ],
            "description": "put or delete: a change; error: the last message, when the history no longer holds what the watch needs (code compacted)."
          },
          "data": {
            "type": "string",
            "description": "For put and delete a WatchChange, for error an Error, as one line of JSON."
          }
        }
      },
      "WatchChange": {
        "type": "object",
        "description": "The data of a put or delete message of GET /v1/kv/watch.",
        "required": [
          "type",
          "key",
          "revision"
        ],
        "properties": {
          "type": {
            "type": "string",
            "description": "put or delete."
          },
          "key": {
            "type": "string"
          },
          "revision": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "The store revision of the change."
          },
          "entry": {
            "allOf": [
              {
                "$ref": "#/components/schemas/KVEntry"
              }
            ],
            "description": "For put: the entry after it; absent for delete."
          }
        }
      },
      "ConfigView": {
        "type": "object",
        "required": [
          "revision",
          "document",
          "author",
          "time",
          "index",
          "current"
        ],
        "properties": {
          "revision": {
            "type": "integer",
            "format": "int64",
            "minimum": 1
          },
          "document": {
            "type": "string",
            "description": "The whole configuration file (YAML). Empty in the history list."
          },
          "author": {
            "type": "string",
            "description": "Who made it (a token's name); \"the nodes' files\" for the revision every node started from."
          },
          "time": {
            "type": "string",
            "description": "When, as the proposing node's clock said (ISO 8601); empty for the nodes' files."
          },
          "index": {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "description": "The log index that made it current; 0 for the nodes' files."
          },
          "current": {
            "type": "boolean"
          }
        }
      },
      "ConfigHistory": {
        "type": "object",
        "required": [
          "revisions"
        ],
        "properties": {
          "revisions": {
            "type": "array",
            "description": "Oldest first; at most 20 made through the API, plus the nodes' files before the first.",
            "items": {
              "$ref": "#/components/schemas/ConfigView"
            }
          }
        }
      },
      "ConfigChange": {
        "type": "object",
        "required": [
          "revision",
          "checkedBy",
          "unreachable"
        ],
        "properties": {
          "revision": {
            "type": "integer",
            "format": "int64",
            "minimum": 1
          },
          "index": {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "description": "The log index that made it current; absent for a dry run."
          },
          "checkedBy": {
            "type": "array",
            "items": {
              "type": "string"
            },
            "description": "The nodes that checked the file and would take it."
          },
          "unreachable": {
            "type": "array",
            "items": {
              "type": "string"
            },
            "description": "Nodes no link reached: each checks the revision when it applies it, and raises config_not_applied if it cannot."
          }
        }
      },
      "RollbackRequest": {
        "type": "object",
        "required": [
          "revision"
        ],
        "properties": {
          "revision": {
            "type": "integer",
            "format": "int64",
            "minimum": 1
          }
        }
      },
      "DrillRequest": {
        "type": "object",
        "required": [
          "scenario"
        ],
        "properties": {
          "scenario": {
            "type": "string",
            "enum": [
              "switchover",
              "active-failure",
              "service-failure",
              "link-failure",
              "isolation",
              "recovery",
              "observe"
            ]
          },
          "group": {
            "type": "string",
            "description": "Default: the configuration's first group."
          },
          "probe": {
            "type": "string",
            "description": "tcp://HOST:PORT, http://HOST:PORT/PATH or udp://HOST:PORT (a tandem echo, whose answers name the node)."
          },
          "maxInterruptionMs": {
            "type": "number",
            "minimum": 0,
            "description": "The longest client-visible interruption that passes."
          },
          "operator": {
            "type": "string",
            "description": "Who confirms the record."
          },
          "faultSeconds": {
            "type": "number",
            "minimum": 0.1,
            "maximum": 600,
            "description": "How long the fault lasts at most (default 10): the faulted agent ends it then, whatever happens to the drill."
          },
          "observeSeconds": {
            "type": "number",
            "minimum": 1,
            "maximum": 3600,
            "description": "observe: how long to watch (default 60)."
          }
        }
      },
      "DrillRecord": {
        "type": "object",
        "description": "The acceptance record. state is running until the drill ends, then passed or failed.",
        "required": [
          "id",
          "scenario",
          "group",
          "expected",
          "state",
          "startedBy",
          "node",
          "startWallMs",
          "epochBefore",
          "phases",
          "alarmsRaised",
          "alarmsCleared",
          "events",
          "checks",
          "openIssues",
          "steps"
        ],
        "properties": {
          "id": {
            "type": "string"
          },
          "scenario": {
            "type": "string"
          },
          "group": {
            "type": "string"
          },
          "expected": {
            "type": "string"
          },
          "state": {
            "type": "string",
            "enum": [
              "running",
              "passed",
              "failed"
            ]
          },
          "startedBy": {
            "type": "string"
          },
          "node": {
            "type": "string",
            "description": "The node that ran the drill and its probe."
          },
          "startWallMs": {
            "type": "integer",
            "format": "int64"
          },
          "faultWallMs": {
            "type": "integer",
            "format": "int64"
          },
          "endWallMs": {
            "type": "integer",
            "format": "int64"
          },
          "faultTarget": {
            "type": "string"
          },
          "fault": {
            "type": "string"
          },
          "ownerBefore": {
            "type": "string"
          },
          "epochBefore": {
            "type": "integer",
            "format": "int64"
          },
          "ownerAfter": {
            "type": "string"
          },
          "epochAfter": {
            "type": "integer",
            "format": "int64"
          },
          "probe": {
            "type": "object",
            "properties": {
              "target": {
                "type": "string"
              },
              "intervalMs": {
                "type": "number"
              },
              "sent": {
                "type": "integer",
                "format": "int64"
              },
              "answered": {
                "type": "integer",
                "format": "int64"
              },
              "longestGapMs": {
                "type": "number"
              },
              "gaps": {
                "type": "array",
                "items": {
                  "type": "array",
                  "items": {
                    "type": "number"
                  }
                }
              },
              "timeline": {
                "type": "array",
                "items": {
                  "type": "array",
                  "items": {
                    "type": "number"
                  }
                }
              },
              "answeredBy": {
                "type": "array",
                "items": {
                  "type": "string"
                }
              }
            }
          },
          "interruptionMs": {
            "type": "number"
          },
          "maxInterruptionMs": {
            "type": "number"
          },
          "phases": {
            "type": "array",
            "items": {
              "type": "object",
              "properties": {
                "name": {
                  "type": "string"
                },
                "atMs": {
                  "type": "number"
                },
                "detail": {
                  "type": "string"
                }
              }
            }
          },
          "consistency": {
            "type": "object",
            "properties": {
              "replicas": {
                "type": "object",
                "additionalProperties": {
                  "type": "string"
                }
              },
              "equal": {
                "type": "boolean"
              },
              "markersWritten": {
                "type": "integer",
                "format": "int64"
              },
              "markersAcknowledged": {
                "type": "integer",
                "format": "int64"
              },
              "markersPresent": {
                "type": "integer",
                "format": "int64"
              },
              "missing": {
                "type": "array",
                "items": {
                  "type": "string"
                }
              }
            }
          },
          "alarmsRaised": {
            "type": "array",
            "items": {
              "type": "string"
            }
          },
          "alarmsCleared": {
            "type": "array",
            "items": {
              "type": "string"
            }
          },
          "events": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/EventRow"
            }
          },
          "checks": {
            "type": "array",
            "items": {
              "type": "object",
              "properties": {
                "what": {
                  "type": "string"
                },
                "passed": {
                  "type": "boolean"
                },
                "detail": {
                  "type": "string"
                }
              }
            }
          },
          "operator": {
            "type": "string"
          },
          "openIssues": {
            "type": "array",
            "items": {
              "type": "string"
            }
          },
          "steps": {
            "type": "array",
            "items": {
              "type": "string"
            }
          }
        }
      },
      "DrillList": {
        "type": "object",
        "required": [
          "drills"
        ],
        "properties": {
          "drills": {
            "type": "array",
            "items": {
              "type": "object",
              "required": [
                "id",
                "scenario",
                "group",
                "state",
                "startWallMs"
              ],
              "properties": {
                "id": {
                  "type": "string"
                },
                "scenario": {
                  "type": "string"
                },
                "group": {
                  "type": "string"
                },
                "state": {
                  "type": "string"
                },
                "startWallMs": {
                  "type": "integer",
                  "format": "int64"
                },
                "interruptionMs": {
                  "type": "number"
                },
                "operator": {
                  "type": "string"
                }
              }
            }
          }
        }
      }
    }
  }
}
"""##
}
