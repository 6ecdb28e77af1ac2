#!/usr/bin/env bash
# `staunch init DIR`: a starter configuration that passes `config check`, a self-signed
# certificate, an administrator password printed once and stored only as a crypt hash in
# DIR/admin.secret (mode 0600) that verifies against it; a second init refuses to overwrite;
# and a server started from that configuration becomes ready and stops cleanly.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
T=$(mktemp -d /tmp/staunch-init.XXXXXX)
PID=""
finish() {
  local rc=$?
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null || true; fi
  if [ $rc -eq 0 ]; then rm -rf "$T"; else echo "kept $T" >&2; fi
  exit $rc
}
trap finish EXIT
[ "$(id -u)" -ne 0 ] || chmod 0755 "$T"

out=$("$STAUNCH_BIN" init "$T/data" --hostname mail.example.test 2>/dev/null) || fail "init failed"
echo "$out"
pw=$(sed -n 's/^ *password: *//p' <<<"$out")
[ ${#pw} -eq 24 ] || fail "password of ${#pw} characters: $pw"
[ "$(stat -c %a "$T/data/admin.secret")" == 600 ] || fail "admin.secret mode $(stat -c %a "$T/data/admin.secret")"
hash=$(sed -n 's/^admin://p' "$T/data/admin.secret")
[[ $hash == '$y$'* || $hash == '$6$'* ]] || fail "not a yescrypt or sha512-crypt hash: $hash"
grep -q -- "$pw" "$T/data/admin.secret" && fail "the password itself is stored"
again=$(perl -e 'print crypt($ARGV[0], $ARGV[1])' -- "$pw" "$hash")
[ "$again" == "$hash" ] || fail "the stored hash does not verify the printed password"
openssl x509 -in "$T/data/tls/cert.pem" -noout -ext subjectAltName | grep -q "mail.example.test" ||
  fail "certificate without the host name"
"$STAUNCH_BIN" --config "$T/data/staunch.conf" config check || fail "starter configuration rejected"
rc=0
"$STAUNCH_BIN" init "$T/data" >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "second init: exit $rc, expected 1"
[ "$(sed -n 's/^admin://p' "$T/data/admin.secret")" == "$hash" ] || fail "second init changed admin.secret"
echo "ok init"

# Serve from the starter configuration, on test ports instead of the defaults.
cat >>"$T/data/staunch.conf" <<'CONF'

[listener.imap]
protocol = "imap"
bind = ["127.0.0.1:0"]
tls = "starttls"
CONF
"$STAUNCH_BIN" --config "$T/data/staunch.conf" serve >"$T/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do [ -f "$T/data/run/ready" ] && break; sleep 0.1; done
[ -f "$T/data/run/ready" ] || { cat "$T/serve.log"; fail "not ready"; }
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["imap"])' "$T/data/run/ports.json")
got=$(python3 "$CLIENT" greet "$port") || fail "no greeting"
[[ $got == "* BYE "* ]] || fail "greeting: $got"
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=""
[ $rc -eq 0 ] || { cat "$T/serve.log"; fail "serve exited $rc"; }
echo "ok serve from the starter configuration"
