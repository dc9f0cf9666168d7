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
# Each run also writes its events (NDJSON); `cases` prints how many test
# cases each phase ran from them.
st_run() {
  local name=$1; shift
  "${ST[@]}" --report ndjson --report-ndjson-path "$CACHE/schemathesis/$name.ndjson" "$@"
  python3 - "$CACHE/schemathesis/$name.ndjson" <<'PY'
import collections, json, sys
counts = collections.Counter()
for line in open(sys.argv[1]):
    event = json.loads(line)
    done = event.get("ScenarioFinished")
    if done:
        counts[done["phase"]] += len(done.get("recorder", {}).get("cases", {}))
print("cases per phase:", ", ".join(f"{p} {counts[p]}" for p in ("examples", "coverage", "fuzzing", "stateful")),
      f"(total {sum(counts.values())})")
PY
}
# The /v1 routes and the OAuth protocol. Changing or deleting an API key
# runs last, with a key of its own, since fuzzing it may disable or delete
# the very key the run uses. The data API runs with a data key (tm_…) on an
# endpoint with a JSON Schema, whose own paths the document lists for it.
# Schemathesis keeps a cache in its working directory: keep it out of the repository.
mkdir -p "$CACHE/schemathesis" && cd "$CACHE/schemathesis"
# Each run has a key of its own: a key's budget is 1000 requests a minute
# (its burst is what a run spends), and one run of every /v1 route spends more.
echo "schemathesis: /v1 and /oauth"
st_run v1 -H "Authorization: Bearer $(key st-main)" \
  --include-path-regex '^/(v1|oauth|openapi\.json|\.well-known)' \
  --exclude-path-regex '^/v1/(api-keys/\{id\}$|plugins|integrations)'
echo "schemathesis: /v1/plugins and /v1/integrations"
st_run extensions -H "Authorization: Bearer $(key st-ext)" --include-path-regex '^/v1/(plugins|integrations)'
echo "schemathesis: PUT/DELETE /v1/api-keys/{id}"
st_run api-keys -H "Authorization: Bearer $(key st-keys)" --include-path-regex '^/v1/api-keys'

echo "schemathesis: the data API (/api/v1/data/orders)"
OWNER=$(key st-data)
SETUP='mutation { createDataEndpoint(input: { slug: "orders", name: "Orders", schema: { type: "object", required: ["order_id"], properties: { order_id: { type: "string", minLength: 1, maxLength: 40 }, amount: { type: "integer", minimum: 0 } } } }) { userErrors { message } } createDataKey(input: { name: "st" }) { secret } }'
DATA_KEY=$(curl -fsS "http://127.0.0.1:$PORT/graphql" -H "Authorization: Bearer $OWNER" -H 'content-type: application/json' \
  -d "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$SETUP")" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["createDataKey"]["secret"])')
st_run data -H "Authorization: Bearer $DATA_KEY" --include-path-regex '^/api/v1/data/orders'

kill $SERVER; wait $SERVER 2>/dev/null || true
cd "$ROOT"

# The SDKs start servers of their own.
export SWITCHYARD_BIN="$BIN"
echo "sdk/typescript"
(cd sdk/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run build && npm test)
echo "sdk/python"
(cd sdk/python && PYTHONPATH="$PWD/src" "$VENV/bin/python" -m pytest -q tests)
