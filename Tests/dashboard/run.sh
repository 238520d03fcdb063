#!/usr/bin/env bash
# The dashboard in a real browser: a lab cluster, headless Chromium on node w's page, the
# owner shown before and (live) after a crash of the active node. Screenshots go to
# $ARTIFACTS (default .build/artifacts). Needs chromium (CI installs Debian's).
set -euo pipefail
cd "$(dirname "$0")/../.."
TANDEM=${TANDEM:-.build/debug/tandem}
if ! command -v chromium >/dev/null; then
  echo "SKIPPED: chromium is not installed (apt-get install chromium)"; exit 0
fi
export TANDEM_LAB_DIR=$(mktemp -d /tmp/tandem-dashboard-XXXXXX) TANDEM_LAB_PORT_BASE=${TANDEM_LAB_PORT_BASE:-47400} TANDEM_LAB_WEB_PORT=${TANDEM_LAB_WEB_PORT:-48080}
cleanup() { "$TANDEM" lab stop >/dev/null 2>&1 || true; rm -rf "$TANDEM_LAB_DIR"; }
trap cleanup EXIT
"$TANDEM" lab start --timing fast | head -1
python3 Tests/dashboard/check.py "http://127.0.0.1:$((TANDEM_LAB_PORT_BASE + 83))/" web a b "$TANDEM" lab kill a
