#!/usr/bin/env bash
# The API against its contract: schemathesis (PyPI) generates requests from docs/openapi.json
# (valid and invalid ones) and sends them to a live lab node with an admin token; every
# answer must match the document and none may be a 5xx. Deterministic generation, so that
# a failure replays with the same command. The two event streams are left out: a 200 there
# never ends (schemathesis would wait out its timeout on every case); APITests covers them.
# Starting drills is left out too: a generated drill injects real faults (isolation, power
# loss) into the lab while the other operations are being tested; DrillTests covers it.
set -euo pipefail
cd "$(dirname "$0")/../.."
TANDEM=${TANDEM:-.build/debug/tandem}
VENV=${VENV:-/tmp/tandem-schemathesis-venv}
VERSION=4.32.5
if [ ! -x "$VENV/bin/st" ] || ! "$VENV/bin/pip" show schemathesis 2>/dev/null | grep "^Version: $VERSION$" >/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi
export TANDEM_LAB_DIR=$(mktemp -d /tmp/tandem-schemathesis-XXXXXX) TANDEM_LAB_PORT_BASE=${TANDEM_LAB_PORT_BASE:-57400} TANDEM_LAB_WEB_PORT=${TANDEM_LAB_WEB_PORT:-58080}
cleanup() { "$TANDEM" lab stop >/dev/null 2>&1 || true; rm -rf "$TANDEM_LAB_DIR"; }
trap cleanup EXIT
"$TANDEM" lab start --timing balanced | head -1
API="http://127.0.0.1:$((TANDEM_LAB_PORT_BASE + 81))"
# The document the node serves must be the one in the repository.
curl -sf "$API/v1/openapi.json" | cmp -s - <(printf '%s' "$(cat docs/openapi.json)") \
  || { echo "FAIL: the served /v1/openapi.json differs from docs/openapi.json"; exit 1; }
"$VENV/bin/st" --config-file Tests/api/schemathesis.toml run docs/openapi.json --url "$API" \
  -H "Authorization: Bearer $(cat "$TANDEM_LAB_DIR/admin.token")" \
  --checks all --max-examples ${MAX_EXAMPLES:-40} --generation-deterministic --request-timeout 40 \
  --exclude-path /v1/events/stream --exclude-path /v1/kv/watch --exclude-operation-id startDrill ${SCHEMATHESIS_ARGS:-}
