#!/usr/bin/env bash
# AUTH on submission (RFC 4954) with the directory's brute-force protection
# (docs/authentication.md): failed attempts count per client address and per account named;
# past auth.ban.account-failures the account is refused from every address, past
# auth.ban.ip-failures the address is refused for every account, while other clients and
# accounts go on. Clients come from 127.0.0.2-4 (127.0.0.1 is exempt in ci/server.sh).
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
start_mail_server --set auth.ban.ip-failures=3 --set auth.ban.account-failures=2
"$B" -c "$C" account add alice@example.org --password 'alice pw 1' >/dev/null || fail "alice"
"$B" -c "$C" account add bob@example.org --password 'bob pw 1' >/dev/null || fail "bob"
python3 - "$(port submission)" <<'PY' || fail "AUTH and bans"
import smtplib, sys
port = int(sys.argv[1])

def login(src, user, pw):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(src, 0))
    s.ehlo("client.example")
    try:
        code = s.login(user, pw)[0]
    except smtplib.SMTPAuthenticationError as e:
        code = e.smtp_code
    try:
        s.quit()
    except smtplib.SMTPServerDisconnected:
        pass
    return code

assert login("127.0.0.2", "alice@example.org", "alice pw 1") == 235
# Two failures for alice from .2: the account is banned (account-failures = 2).
assert login("127.0.0.2", "alice@example.org", "wrong") == 535
assert login("127.0.0.2", "alice@example.org", "wrong again") == 535
assert login("127.0.0.3", "alice@example.org", "alice pw 1") == 535, "account ban ignored"
assert login("127.0.0.3", "bob@example.org", "bob pw 1") == 235, "bob must not be banned"
# Three failures from .4 for unknown names: the address is banned (ip-failures = 3).
for n in range(3):
    assert login("127.0.0.4", "ghost%d@example.org" % n, "x") == 535
assert login("127.0.0.4", "bob@example.org", "bob pw 1") == 535, "address ban ignored"
assert login("127.0.0.3", "bob@example.org", "bob pw 1") == 235
print("ok bans")
PY
grep -q 'event=auth.ban' "$SERVER_DIR/staunch.log" || fail "no auth.ban record in the log"
server_alive || fail "server died"
echo "ok smtp auth"
