#!/usr/bin/env bash
# Browser checks: every tests/browser/*.mjs (lib.mjs is their driver) against
# the freshly built binary, in Debian's headless Chromium, one after another,
# each on ports of its own. Screenshots go to target/browser-shots/<script>/.
#
#   bash .ci/browser.sh [path/to/switchyard]     # default: $CARGO_TARGET_DIR/debug/switchyard
#
# Most scripts start their own server (`… script.mjs BINARY SHOTS_DIR PORT`,
# CDP_PORT in the environment). The older ones expect a running server and
# its first-start setup link: this script starts it for them, with the flags
# they need (--allow-private-targets: their receivers are on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="$(realpath "${1:-${CARGO_TARGET_DIR:-target}/debug/switchyard}")"
SHOTS="$(pwd)/target/browser-shots"
[ -x "$BIN" ] || { echo "no switchyard binary at $BIN (cargo build first)"; exit 1; }

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# The scripts speak the DevTools protocol with node's own WebSocket (20.10+).
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 10) ? 0 : 1)' 2>/dev/null; then
  echo "node 20.10 or newer is needed (found: $(node --version 2>/dev/null || echo none))"
  exit 1
fi

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

# Starts `switchyard serve` in a fresh directory on $1; sets SERVER_PID,
# SERVER_DIR and SETUP_LINK (the first-start link it prints).
start_server() {
  SERVER_DIR="$(mktemp -d /tmp/sy-browser-XXXXXX)"
  (cd "$SERVER_DIR" && SWITCHYARD_LOG=warn exec "$BIN" serve --listen "127.0.0.1:$1" --allow-private-targets true \
    >"$SERVER_DIR/server.log" 2>&1) &
  SERVER_PID=$!
  SETUP_LINK=""
  for _ in $(seq 1 300); do
    SETUP_LINK="$(grep -o 'http[^ ]*/setup?token=[A-Za-z0-9._-]*' "$SERVER_DIR/server.log" | head -n 1 || true)"
    [ -n "$SETUP_LINK" ] && break
    sleep 0.1
  done
  [ -n "$SETUP_LINK" ] || { cat "$SERVER_DIR/server.log"; return 1; }
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$SERVER_DIR"
}

passed=0
failed=0
failures=()
for script in tests/browser/*.mjs; do
  name="$(basename "$script" .mjs)"
  [ "$name" = lib ] && continue
  out="$SHOTS/$name"
  mkdir -p "$out"
  port="$(free_port)"
  export CDP_PORT="$(free_port)"
  printf '\n==> browser: %s\n' "$name"
  status=0
  case "$name" in
    pages)
      # pages.mjs BASE_URL SETUP_TOKEN OUTDIR
      start_server "$port" || status=$?
      if [ "$status" = 0 ]; then
        timeout 900 node --experimental-websocket "$script" "http://127.0.0.1:$port" "${SETUP_LINK##*token=}" "$out" || status=$?
        stop_server
      fi
      ;;
    oauth_panel)
      # oauth_panel.mjs BASE_URL SETUP_LINK OUTDIR, with the binary and the
      # server's directory to add a collaborator from the shell.
      start_server "$port" || status=$?
      if [ "$status" = 0 ]; then
        SWITCHYARD_BIN="$BIN" SERVER_DIR="$SERVER_DIR" \
          timeout 900 node --experimental-websocket "$script" "http://127.0.0.1:$port" "$SETUP_LINK" "$out" || status=$?
        stop_server
      fi
      ;;
    *)
      timeout 900 node --experimental-websocket "$script" "$BIN" "$out" "$port" || status=$?
      ;;
  esac
  if [ "$status" = 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name (exit $status)")
  fi
done

echo
[ "$failed" = 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "screenshots: $SHOTS"
echo "browser: $passed passed, $failed failed"
[ "$failed" = 0 ]
