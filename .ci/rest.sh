#!/usr/bin/env bash
# The REST API against a real `switchyard serve` (embedded default, fresh
# data directory, free port): schemathesis with every check on, then the
# TypeScript and Python SDKs' tests. Called by .ci/run; needs the debug
# binary in $CARGO_TARGET_DIR and python3, node and npm on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="$CARGO_TARGET_DIR/debug/switchyard"
CACHE="${SWITCHYARD_CI_CACHE:-$HOME/.cache/switchyard-ci}"
VENV="$CACHE/venv"
mkdir -p "$CACHE"

# Python tools, in a venv outside the repository (pinned; reused between runs).
PY_PKGS=(schemathesis==4.32.5 httpx==0.29.0 pytest==9.2.0 standardwebhooks==1.3.0)
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/pip" show schemathesis httpx pytest standardwebhooks >/dev/null 2>&1; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PKGS[@]}"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One server for schemathesis.
DIR=$(mktemp -d)
PORT=$(free_port)
(cd "$DIR" && exec "$BIN" serve --listen "127.0.0.1:$PORT" --allow-private-targets true >"$DIR/serve.log" 2>&1) &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DIR"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
key() { (cd "$DIR" && "$BIN" admin create-api-key --email owner@localhost --name "$1" | tail -1); }

ST=("$VENV/bin/st" --config-file "$ROOT/.ci/schemathesis.toml" run "http://127.0.0.1:$PORT/openapi.json"
    -c all --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" -w 1 --suppress-health-check all
    --seed 1 --no-color)
# The /v1 routes and the OAuth protocol. Changing or deleting an API key
# runs last, with a key of its own, since fuzzing it may disable or delete
# the very key the run uses. The data API takes data keys (tm_…) and has
# its own run in tests/it/data.rs; it is left out here (issue 24, item 4).
echo "schemathesis: /v1 and /oauth"
"${ST[@]}" -H "Authorization: Bearer $(key st-main)" \
  --include-path-regex '^/(v1|oauth|openapi\.json|\.well-known)' \
  --exclude-path-regex '^/v1/api-keys/\{id\}$'
echo "schemathesis: PUT/DELETE /v1/api-keys/{id}"
"${ST[@]}" -H "Authorization: Bearer $(key st-keys)" --include-path-regex '^/v1/api-keys'

kill $SERVER; wait $SERVER 2>/dev/null || true

# The SDKs start servers of their own.
export SWITCHYARD_BIN="$BIN"
echo "sdk/typescript"
(cd sdk/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run build && npm test)
echo "sdk/python"
(cd sdk/python && PYTHONPATH="$PWD/src" "$VENV/bin/python" -m pytest -q tests)
