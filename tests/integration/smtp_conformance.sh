#!/usr/bin/env bash
# The conformance transcripts of conformance/smtp/ replayed against the live server on port 25
# (tests/smtp/test_smtp_live.c with STAUNCH_SMTP_LIVE): every session that needs no fake
# service must get the reply codes the transcript expects. Differences are all listed; the ones
# that are this server's policy rather than an RFC rule are named in
# conformance/smtp/live-policy.list and do not fail the scenario.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
bindir=$(dirname "$STAUNCH_BIN")
runner=""
for r in "$bindir/tests/smtp_test_smtp_live" "$bindir/smtp_test_smtp_live"; do
  [ -x "$r" ] && runner=$r && break
done
[ -n "$runner" ] || { echo "SKIP: smtp_test_smtp_live not built next to $STAUNCH_BIN"; exit 77; }
own_pg_database
start_server
B=$STAUNCH_BIN
C=$SERVER_DIR/staunch.conf
# The transcripts write to example.org and example.net addresses and <Postmaster>.
"$B" -c "$C" domain add example.org --no-dkim --catch-all b@example.org >/dev/null ||
  fail "example.org"
"$B" -c "$C" account add b@example.org --password 'b pw 1' >/dev/null || fail "account"
"$B" -c "$C" domain add example.net --no-dkim --catch-all b@example.org >/dev/null ||
  fail "example.net"
"$B" -c "$C" domain add localhost --no-dkim --catch-all b@example.org >/dev/null ||
  fail "localhost"
out=$(STAUNCH_SMTP_LIVE="127.0.0.1:$(port smtp)" CK_FORK=no "$runner" 2>&1) || {
  echo "$out"
  fail "live replies differ from the transcripts"
}
grep '^policy difference' <<<"$out" || true
grep -q '100%: Checks: 1, Failures: 0' <<<"$out" || fail "runner: $out"
server_alive || fail "server died during the replay"
echo "ok conformance transcripts against the live server"
