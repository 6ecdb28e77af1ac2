#!/usr/bin/env bash
# The control socket: mode 0600, `staunch status` (JSON), `reload`, an unknown command, and
# `staunch stop` (the server exits 0 and removes its socket and ready file).
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
start_server
CONF="$SERVER_DIR/staunch.conf"
SOCK="$SERVER_DIR/run/control.sock"
[ -S "$SOCK" ] || fail "no control socket"
[ "$(stat -c %a "$SOCK")" == 600 ] || fail "control socket mode $(stat -c %a "$SOCK")"
out=$("$STAUNCH_BIN" --config "$CONF" status) || fail "status"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["pid"] > 0 and "smtp" in d["listeners"]' "$out" ||
  fail "status is not the expected JSON: $out"
echo "ok status"
[ "$("$STAUNCH_BIN" --config "$CONF" reload)" == reloaded ] || fail "reload"
grep -q 'event=server.reloaded' "$SERVER_DIR/staunch.log" || fail "reload not logged"
echo "ok reload"
reply=$(python3 - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"frobnicate\nhelp\n")
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
print(data.decode())
PY
)
grep -q '^error unknown command' <<<"$reply" || fail "unknown command: $reply"
long=$(python3 - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(b"x" * 100000)
except OSError:
    pass
data = b""
while True:
    try:
        b = s.recv(4096)
    except OSError:
        break
    if not b:
        break
    data += b
print(data.decode())
PY
)
[ "$long" == "error request too long" ] || fail "over-long request: $long"
grep -q '^ok .*status:' <<<"$reply" || fail "help: $reply"
echo "ok line protocol"
# A second server on the same run-dir refuses to start and leaves the first one alone.
rc=0
timeout 20 "$STAUNCH_BIN" --config "$CONF" serve >"$SERVER_DIR/second.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "second server: exit $rc, expected 1"
grep -q "another server answers" "$SERVER_DIR/second.out" || fail "second server: $(cat "$SERVER_DIR/second.out")"
[ -e "$SERVER_DIR/run/ready" ] && [ -S "$SOCK" ] || fail "second server removed the first one's files"
"$STAUNCH_BIN" --config "$CONF" status >/dev/null || fail "first server gone after the second start"
echo "ok second server refused"
SERVER_STOPPED=1
"$STAUNCH_BIN" --config "$CONF" stop || fail "staunch stop"
for _ in $(seq 1 50); do [ -f "$SERVER_DIR/staunch.exit" ] && break; sleep 0.1; done
[ "$(cat "$SERVER_DIR/staunch.exit" 2>/dev/null)" == 0 ] || fail "server did not exit 0 after stop"
[ ! -e "$SOCK" ] || fail "control socket left behind"
[ ! -e "$SERVER_DIR/run/ready" ] || fail "ready file left behind"
rc=0
"$STAUNCH_BIN" --config "$CONF" status >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "status without a server: exit $rc, expected 1"
echo "ok stop"
