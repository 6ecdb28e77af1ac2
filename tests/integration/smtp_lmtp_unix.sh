#!/usr/bin/env bash
# LMTP (RFC 2033) on a unix-domain socket (RFC 2033 §5 expects LMTP over local channels):
# a stale socket file left behind is replaced at start; the socket gets listener.NAME.socket-mode
# and, when run as root, the server's user as owner (it is created before the privilege drop);
# Python's smtplib.LMTP talks over the path and gets one reply per recipient after the data
# (RFC 2033 §4.2), 250 for an account, 552 for one over quota; a second server refuses to take
# over a socket that is being served; the socket is removed at shutdown; the messages are in the
# store with a Received line that names the unix socket.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
own_pg_database
# The socket directory: the server (after the drop, possibly "nobody") must be able to remove
# its socket there, as in /run/staunch.
SOCKDIR=$(mktemp -d /tmp/staunch-lmtp.XXXXXX)
chmod 1777 "$SOCKDIR"
SOCK="$SOCKDIR/lmtp.sock"
SERVER2=""
cleanup_unix() {
  if [ -n "$SERVER2" ] && [ -f "$SERVER2/staunch.pid" ]; then
    "$ROOT/ci/server.sh" stop "$SERVER2" >/dev/null 2>&1 || true
  fi
  [ -n "$SERVER2" ] && rm -rf "$SERVER2"
  rm -rf "$SOCKDIR"
}
trap 'rc=$?; cleanup_unix; cleanup; exit $rc' EXIT
# A socket file nobody accepts on (a crashed server's).
python3 - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.close()
PY
[ -S "$SOCK" ] || fail "no stale socket made"

start_server --set 'listener.lmtpunix.protocol="lmtp"' \
  --set "listener.lmtpunix.bind=[\"unix:$SOCK\"]" --set 'listener.lmtpunix.socket-mode="0666"'
B=$STAUNCH_BIN
C=$SERVER_DIR/staunch.conf
[ -S "$SOCK" ] || fail "the server did not create $SOCK"
mode=$(stat -c %a "$SOCK")
[ "$mode" = 666 ] || fail "socket mode $mode, expected 666"
if [ "$(id -u)" -eq 0 ]; then
  owner=$(stat -c %U "$SOCK")
  pid_user=$(ps -o user= -p "$(server_pid)" | tr -d ' ')
  [ "$owner" = "$pid_user" ] || fail "socket owner $owner, server runs as $pid_user"
fi
"$B" -c "$C" domain add example.org --no-dkim >/dev/null || fail "domain add"
"$B" -c "$C" account add alice@example.org --password 'alice pw 1' >/dev/null || fail "alice"
"$B" -c "$C" account add full@example.org --password 'full pw 1' --quota 64 >/dev/null ||
  fail "account with a small quota"

python3 - "$SOCK" <<'PY' || fail "LMTP over the unix socket"
import smtplib, sys
l = smtplib.LMTP(sys.argv[1], timeout=30)
code, msg = l.ehlo_or_helo_if_needed() or (250, b"")
assert l.does_esmtp, "LHLO not accepted"
assert l.has_extn("pipelining") and l.has_extn("enhancedstatuscodes"), l.esmtp_features
body = b"Subject: over unix\r\n\r\n" + b"a line of text long enough to go over quota\r\n" * 4
# sendmail() with one accepted recipient (it reads one reply after DATA); smtplib reports
# the recipient refused at RCPT.
try:
    refused = l.sendmail("sender@remote.example",
                         ["alice@example.org", "nobody@example.org"], body)
except smtplib.SMTPRecipientsRefused as e:
    raise AssertionError(e.recipients)
except smtplib.SMTPDataError as e:
    raise AssertionError(("data", e.smtp_code, e.smtp_error))
assert set(refused) == {"nobody@example.org"}, refused
assert refused["nobody@example.org"][0] == 550, refused
# Two accepted recipients: one reply each after the data, in RCPT order (RFC 2033 §4.2),
# read by hand (smtplib's sendmail reads only the first).
assert l.mail("sender@remote.example")[0] == 250
assert l.rcpt("alice@example.org")[0] == 250
assert l.rcpt("full@example.org")[0] == 250
l.putcmd("data")
code, _ = l.getreply()
assert code == 354, code
l.send(b"Subject: second over unix\r\n\r\n" + b"y" * 300 + b"\r\n.\r\n")
r1, r2 = l.getreply(), l.getreply()
assert r1[0] == 250, r1
assert r2[0] == 552 and r2[1].startswith(b"5.2.2"), r2
l.quit()
print("ok LMTP over unix socket")
PY

# A second server must not take over the socket while the first serves it.
SERVER2=$(mktemp -d /tmp/staunch-it2.XXXXXX)
if "$ROOT/ci/server.sh" start "$SERVER2" --set 'listener.lmtpunix.protocol="lmtp"' \
  --set "listener.lmtpunix.bind=[\"unix:$SOCK\"]" >"$SERVER2.out" 2>&1; then
  fail "a second server took over $SOCK"
fi
grep -q "another process is accepting" "$SERVER2/staunch.log" "$SERVER2/staunch.out" \
  "$SERVER2.out" 2>/dev/null || fail "second server: no 'in use' error: $(tail -n 3 "$SERVER2.out")"
rm -f "$SERVER2.out"
python3 - "$SOCK" <<'PY' || fail "the first server stopped answering"
import smtplib, sys
l = smtplib.LMTP(sys.argv[1], timeout=30)
l.ehlo_or_helo_if_needed()
l.quit()
PY

stop_server >/dev/null || fail "server did not stop cleanly"
[ ! -e "$SOCK" ] || fail "the socket was not removed at shutdown"
"$B" -c "$C" store export "$SERVER_DIR/dump" || fail "store export"
python3 - "$SERVER_DIR/dump" <<'PY' || fail "LMTP messages in the store"
import sys
d = open(sys.argv[1], "rb").read()
assert d.count(b"Subject: over unix") == 1, "first message: alice only"
assert d.count(b"Subject: second over unix") == 1, "second message: alice only"
i = d.index(b"Subject: over unix")
head = d[d.rindex(b"Return-Path: <sender@remote.example>\r\n", 0, i):i]
assert b"with LMTP" in head and b"[unix]" in head, head
PY
echo "ok lmtp over a unix socket"
