#!/usr/bin/env bash
# `staunch config check`: a misspelt key fails with file, line and key; a good file passes;
# a bad command line is a usage error (status 2).
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
T=$(mktemp -d /tmp/staunch-cc.XXXXXX)
trap 'rm -rf "$T"' EXIT
[ -x "$STAUNCH_BIN" ] || fail "no staunch binary"

cat >"$T/bad.conf" <<'CONF'
[server]
hostname = "mx.example.org"

[listener.smtp]
protocol = "smtp"
bind = ["127.0.0.1:2525"]
max-conections = 10
CONF
rc=0
out=$("$STAUNCH_BIN" --config "$T/bad.conf" config check 2>&1) || rc=$?
echo "$out"
[ $rc -eq 1 ] || fail "typo: exit status $rc, expected 1"
grep -q "$T/bad.conf:7: key listener.smtp.max-conections" <<<"$out" ||
  fail "typo: no FILE:LINE: key KEY diagnostic"
grep -q "max-connections" <<<"$out" || fail "typo: no suggestion of the right key"

cat >"$T/bad2.conf" <<'CONF'
[listener.web]
protocol = "gopher"
bind = ["127.0.0.1:8080"]
tls = "sometimes"
CONF
rc=0
out=$("$STAUNCH_BIN" --config "$T/bad2.conf" config check 2>&1) || rc=$?
echo "$out"
[ $rc -eq 1 ] || fail "bad enums: exit status $rc"
grep -q "bad2.conf:2: key listener.web.protocol" <<<"$out" || fail "bad protocol not reported"
grep -q "bad2.conf:4: key listener.web.tls" <<<"$out" || fail "bad tls mode not reported"

cat >"$T/good.conf" <<'CONF'
[server]
hostname = "mx.example.org"
data-dir = "/var/lib/staunch"

[log]
level = "debug"

[listener.smtp]
protocol = "smtp"
bind = ["0.0.0.0:25", "[::]:25"]
tls = "starttls"
max-connections-per-ip = 20
CONF
out=$("$STAUNCH_BIN" --config "$T/good.conf" config check 2>&1) || fail "good file rejected: $out"
[ "$out" == "configuration OK: $T/good.conf" ] || fail "good file: unexpected output: $out"
out=$(STAUNCH_CONFIG="$T/good.conf" "$STAUNCH_BIN" config check 2>&1) || fail "STAUNCH_CONFIG ignored: $out"
echo "$out"

rc=0
"$STAUNCH_BIN" --config "$T/missing.conf" config check >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "missing file: exit status $rc, expected 1"
rc=0
"$STAUNCH_BIN" frobnicate >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "unknown command: exit status $rc, expected 2"
rc=0
"$STAUNCH_BIN" --frob version >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "unknown option: exit status $rc, expected 2"
echo "ok config check"
