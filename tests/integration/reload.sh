#!/usr/bin/env bash
# SIGHUP and `staunch reload`: a replaced certificate is served to new connections, and
# (when the server can create files in the log directory) a rotated log file is reopened.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
start_server
pid=$(server_pid)
TLS="$SERVER_DIR/data/tls"
owner=$(stat -c %u:%g "$SERVER_DIR/data")

subject() {
  timeout 20 openssl s_client -connect "127.0.0.1:$(port imaps)" -servername localhost \
    </dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null || true
}
before=$(subject)
[ -n "$before" ] || fail "no certificate served"
echo "before: $before"

new_cert() { # CN
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$1" -keyout "$TLS/key.new" -out "$TLS/cert.new" 2>/dev/null
  chown "$owner" "$TLS/key.new" "$TLS/cert.new"
  chmod 0600 "$TLS/key.new"
  mv "$TLS/cert.new" "$TLS/cert.pem"
  mv "$TLS/key.new" "$TLS/key.pem"
}

new_cert reloaded-by-sighup.test
kill -HUP "$pid"
for _ in $(seq 1 50); do [[ $(subject) == *reloaded-by-sighup.test* ]] && break; sleep 0.1; done
after=$(subject)
echo "after SIGHUP: $after"
[[ $after == *reloaded-by-sighup.test* ]] || fail "SIGHUP did not reload the certificate"

new_cert reloaded-by-cli.test
[ "$("$STAUNCH_BIN" --config "$SERVER_DIR/staunch.conf" reload)" == reloaded ] || fail "staunch reload"
after=$(subject)
echo "after staunch reload: $after"
[[ $after == *reloaded-by-cli.test* ]] || fail "staunch reload did not reload the certificate"

# A broken certificate: reload fails, the server keeps serving the previous one.
echo "not a certificate" >"$TLS/cert.pem"
chown "$owner" "$TLS/cert.pem"
rc=0
"$STAUNCH_BIN" --config "$SERVER_DIR/staunch.conf" reload >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "reload of a broken certificate: exit $rc, expected 1"
[[ $(subject) == *reloaded-by-cli.test* ]] || fail "the previous certificate is no longer served"
echo "ok certificate reload"

if [ "$(stat -c %u "$SERVER_DIR")" == "${owner%%:*}" ]; then
  mv "$SERVER_DIR/staunch.log" "$SERVER_DIR/staunch.log.1"
  kill -HUP "$pid"
  for _ in $(seq 1 50); do [ -s "$SERVER_DIR/staunch.log" ] && break; sleep 0.1; done
  grep -q 'event=server.reloaded\|event=server.tls_reload_failed' "$SERVER_DIR/staunch.log" ||
    fail "no new log file after rotation and SIGHUP"
  echo "ok log reopened"
else
  echo "log rotation not checked: the server user cannot create files in $SERVER_DIR"
fi
server_alive || fail "server died"
