#!/usr/bin/env bash
# Submission: port 587 refuses MAIL before AUTH (530 5.7.0, RFC 4954 §6), accepts after
# STARTTLS (RFC 3207) and AUTH PLAIN; a wrong password is 535 5.7.8; a sender the user does
# not own is 550 5.7.1 (RFC 6409 §6.1, smtp.sender-must-match), and so is a From: that is not
# the user's (§6.3, smtp.from-must-match); a remote recipient is queued durably before
# 250 and shows in `staunch queue list|show` (with its DSN parameters, RFC 3461), a local one
# is delivered. Port 465 (implicit TLS, RFC 8314) with AUTH LOGIN queues as well. Port 25 still
# refuses relaying for an anonymous client. `staunch queue remove` drops an entry, and the CLI
# works on the stores with the server stopped.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
start_mail_server
"$B" -c "$C" account add alice@example.org --password 'alice pw 1' --alias al@example.org \
  >/dev/null || fail "account add alice"
"$B" -c "$C" account add bob@example.org --password 'bob pw 1' >/dev/null || fail "bob"

python3 - "$PORTS" <<'PY' || fail "submission sessions"
import json, smtplib, ssl, sys
ports = json.loads(sys.argv[1])
tls = ssl.create_default_context()
tls.check_hostname = False
tls.verify_mode = ssl.CERT_NONE

def expect(got, code, enh=None):
    assert got[0] == code, got
    if enh:
        assert got[1].startswith(enh.encode()), got

s = smtplib.SMTP("127.0.0.1", ports["submission"], timeout=30)
s.ehlo("client.example")
assert s.has_extn("starttls")
expect(s.docmd("MAIL FROM:<alice@example.org>"), 530, "5.7.0")
s.starttls(context=tls)
s.ehlo("client.example")
assert "PLAIN" in s.esmtp_features["auth"].split()
try:
    s.login("alice@example.org", "wrong password")
    raise AssertionError("bad password accepted")
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 535, e
s.login("alice@example.org", "alice pw 1")
expect(s.docmd("MAIL FROM:<bob@example.org>"), 550, "5.7.1")
expect(s.docmd("RSET"), 250)
# RFC 6409 §6.3: a From: that is not the user's is refused after the data.
expect(s.mail("alice@example.org"), 250)
expect(s.rcpt("bob@example.org"), 250)
expect(s.data(b"From: Bob <bob@example.org>\r\nSubject: forged\r\n\r\nx\r\n"), 550, "5.7.1")
expect(s.mail("alice@example.org"), 250)
expect(s.rcpt("bob@example.org"), 250)
expect(s.data(b"From: a <alice@example.org>, b <bob@example.org>\r\nSubject: two\r\n\r\n"
              b"x\r\n"), 550, "5.7.1")
expect(s.mail("al@example.org", ["RET=HDRS", "ENVID=sub42"]), 250)
expect(s.rcpt("friend@remote.example", ["NOTIFY=FAILURE,DELAY",
                                        "ORCPT=rfc822;friend@remote.example"]), 250)
expect(s.rcpt("bob@example.org"), 250)
expect(s.data(b"From: al@example.org\r\nSubject: submitted\r\n\r\nHi friend\r\n"), 250)
s.quit()

s = smtplib.SMTP_SSL("127.0.0.1", ports["submissions"], timeout=30, context=tls)
s.ehlo("client.example")
s.user, s.password = "alice@example.org", "alice pw 1"
expect(s.auth("LOGIN", s.auth_login, initial_response_ok=False), 235)
expect(s.mail("alice@example.org"), 250)
expect(s.rcpt("second@far.example"), 250)
expect(s.data(b"Subject: over 465\r\n\r\nx\r\n"), 250)
s.quit()

s = smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=30)
s.ehlo("client.example")
expect(s.mail("alice@example.org"), 250)
expect(s.rcpt("friend@remote.example"), 550, "5.7.1")
s.quit()
print("ok submission sessions")
PY

list=$("$B" -c "$C" queue list) || fail "queue list (server running)"
echo "$list"
[ "$(wc -l <<<"$list")" -eq 2 ] || fail "expected two queue entries"
grep -q '<al@example.org> -> <friend@remote.example>$' <<<"$list" || fail "first entry: $list"
grep -q '<alice@example.org> -> <second@far.example>$' <<<"$list" || fail "second entry: $list"
id=$(awk 'NR == 1 {print $1}' <<<"$list")
show=$("$B" -c "$C" queue show "$id") || fail "queue show"
echo "$show"
grep -q '^dsn-ret: HDRS$' <<<"$show" || fail "RET not kept"
grep -q '^dsn-envid: sub42$' <<<"$show" || fail "ENVID not kept"
grep -q '^auth: alice' <<<"$show" || fail "submitting user not kept"
grep -q 'notify=FAILURE,DELAY orcpt=rfc822;friend@remote.example' <<<"$show" || fail "NOTIFY/ORCPT"
"$B" -c "$C" queue show 999999 2>/dev/null && fail "show of a missing entry succeeded"
"$B" -c "$C" queue remove "$id" >/dev/null || fail "queue remove"
stop_server >/dev/null || fail "server did not stop cleanly"
list=$("$B" -c "$C" queue list) || fail "queue list (server stopped)"
[ "$(wc -l <<<"$list")" -eq 1 ] || fail "expected one entry after remove: $list"
grep -q 'second@far.example' <<<"$list" || fail "wrong entry left: $list"
# The local recipient got the message (with our Return-Path), the queue kept it without.
"$B" -c "$C" store export "$SERVER_DIR/dump" || fail "store export"
python3 - "$SERVER_DIR/dump" <<'PY' || fail "stored copies"
import sys
d = open(sys.argv[1], "rb").read()
assert d.count(b"Return-Path: <al@example.org>\r\n") == 1, "local copy"
assert d.count(b"Subject: over 465") == 1
PY
echo "ok submission"
