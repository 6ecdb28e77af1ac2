#!/usr/bin/env bash
# RCPT answers come from a short-lived cache of recipient resolutions (docs/smtp.md, "Recipient
# checks"), which must never outlive a change made through the server: an address accepted a
# moment ago is refused (550 5.1.1) right after its account is removed through the running
# server, an unknown address is accepted right after its account is created (unknown results
# are never kept), and an alias added to an account is accepted at once. Repeated RCPTs for
# the same address keep getting the same answer, in one session and across sessions.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
start_mail_server
"$B" -c "$C" account add gone@example.org --password 'gone pw 1' >/dev/null || fail "account add"

rcpt() { # ADDRESS...: the RCPT reply codes, one session, one per line
  python3 - "$(port smtp)" "$@" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.ehlo("cache.example")
for a in sys.argv[2:]:
    s.rset()
    s.mail("x@remote.example")
    print(s.rcpt(a)[0])
s.quit()
PY
}

got=$(rcpt gone@example.org gone@example.org GONE@example.org | xargs)
[ "$got" = "250 250 250" ] || fail "before removal: $got"
"$B" -c "$C" account remove gone@example.org >/dev/null || fail "account remove"
got=$(rcpt gone@example.org | xargs)
[ "$got" = "550" ] || fail "a removed account still accepted: $got"

got=$(rcpt new@example.org | xargs)
[ "$got" = "550" ] || fail "unknown address: $got"
"$B" -c "$C" account add new@example.org --password 'new pw 1' >/dev/null || fail "account add new"
got=$(rcpt new@example.org new@example.org | xargs)
[ "$got" = "250 250" ] || fail "a new account refused: $got"

got=$(rcpt other@example.org | xargs)
[ "$got" = "550" ] || fail "unknown alias: $got"
"$B" -c "$C" alias add other@example.org new@example.org >/dev/null || fail "alias add"
got=$(rcpt other@example.org | xargs)
[ "$got" = "250" ] || fail "a new alias refused: $got"
echo "ok RCPT answers follow directory changes at once"
