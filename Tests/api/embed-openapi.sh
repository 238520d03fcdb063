#!/usr/bin/env bash
# Writes Sources/TandemHTTP/OpenAPIDocument.swift from docs/openapi.json (run after editing
# the document; APITests checks that the served text is the file's).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 - <<'PY'
text = open("docs/openapi.json").read().rstrip("\n")
hashes = "#"
while ('"' + hashes) in text:
    hashes += "#"
with open("Sources/TandemHTTP/OpenAPIDocument.swift", "w") as f:
    f.write("/// The OpenAPI document of the agent's API, served at /v1/openapi.json. docs/openapi.json is\n"
            "/// the same text (a test compares them): edit the file, then run Tests/api/embed-openapi.sh.\n"
            "enum OpenAPIDocument {\n"
            f"    static let json = {hashes}\"\"\"\n{text}\n\"\"\"{hashes}\n"
            "}\n")
PY
echo "wrote Sources/TandemHTTP/OpenAPIDocument.swift"
