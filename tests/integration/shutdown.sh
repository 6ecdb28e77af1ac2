#!/usr/bin/env bash
# SIGTERM stops the server with exit status 0 within 5 s: once idle, and once while clients
# hold connections open (TLS handshakes that never finish, sockets that never read).
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"

measure_stop() {
  local t0 t1
  t0=$(date +%s%N)
  stop_server || fail "server did not exit with status 0"
  t1=$(date +%s%N)
  local ms=$(((t1 - t0) / 1000000))
  echo "stopped in ${ms} ms"
  [ $ms -lt 5000 ] || fail "shutdown took ${ms} ms (limit 5000)"
}

start_server
measure_stop
echo "ok idle shutdown"

SERVER_STOPPED=0
start_server
python3 "$CLIENT" hold "$(port imaps)" 20 30 >"$SERVER_DIR/hold1.out" &
h1=$!
python3 "$CLIENT" hold "$(port https)" 20 30 >"$SERVER_DIR/hold2.out" &
h2=$!
# HTTP connections that never send a request (the placeholder waits for one).
python3 "$CLIENT" hold "$(port http)" 20 30 >"$SERVER_DIR/hold3.out" &
h3=$!
for _ in $(seq 1 50); do
  grep -q open "$SERVER_DIR/hold1.out" 2>/dev/null && grep -q open "$SERVER_DIR/hold2.out" 2>/dev/null &&
    grep -q open "$SERVER_DIR/hold3.out" 2>/dev/null && break
  sleep 0.1
done
cat "$SERVER_DIR/hold1.out" "$SERVER_DIR/hold2.out" "$SERVER_DIR/hold3.out"
measure_stop
kill "$h1" "$h2" "$h3" 2>/dev/null || true
wait "$h1" "$h2" "$h3" 2>/dev/null || true
echo "ok shutdown with clients connected"

# SIGINT behaves the same.
SERVER_STOPPED=0
start_server
kill -INT "$(server_pid)"
for _ in $(seq 1 50); do [ -f "$SERVER_DIR/staunch.exit" ] && break; sleep 0.1; done
[ "$(cat "$SERVER_DIR/staunch.exit" 2>/dev/null)" == 0 ] || fail "SIGINT: no clean exit"
SERVER_STOPPED=1
echo "ok SIGINT"
