#!/usr/bin/env bash
# Limits and rate limits from the configuration (docs/smtp.md): smtp.max-message-size is
# advertised with SIZE and enforced (552 5.3.4, RFC 1870), smtp.max-recipients gives 452 past
# the limit (RFC 5321 §4.5.3.1.8), smtp.rate.messages-per-ip and
# smtp.rate.messages-per-recipient give 451 4.7.1 once the window's count is used up (counters
# in the lookup store), smtp.disable-extensions removes an EHLO keyword, smtp.vrfy answers
# VRFY from the directory (RFC 5321 §3.5.3) while EXPN stays off (502, §7.3).
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
start_mail_server --set smtp.max-message-size=4096 --set smtp.max-recipients=2 \
  --set smtp.rate.messages-per-ip=3 --set smtp.rate.messages-per-recipient=2 \
  --set 'smtp.disable-extensions=["CHUNKING"]' --set smtp.vrfy=true
for u in a b c; do
  "$B" -c "$C" account add $u@example.org --password "$u pw pw 1" >/dev/null || fail "account $u"
done
python3 - "$(port smtp)" <<'PY' || fail "limits"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.ehlo("client.example")
assert s.esmtp_features["size"] == "4096", s.esmtp_features
assert not s.has_extn("chunking"), "CHUNKING not disabled"
# 1: SIZE= over the limit is refused at MAIL.
code, msg = s.mail("x@remote.example", ["SIZE=5000"])
assert code == 552, (code, msg)
# 2: a message over the limit is refused after its data.
assert s.mail("x@remote.example")[0] == 250
assert s.rcpt("a@example.org")[0] == 250
code, msg = s.data(b"Subject: big\r\n\r\n" + b"z" * 5000 + b"\r\n")
assert code == 552 and msg.startswith(b"5.3.4"), (code, msg)
# 3: three recipients, the third over max-recipients.
assert s.mail("x@remote.example")[0] == 250
assert s.rcpt("a@example.org")[0] == 250
assert s.rcpt("b@example.org")[0] == 250
code, msg = s.rcpt("c@example.org")
assert code == 452, (code, msg)
s.rset()
# 4: the third counted MAIL (a refused SIZE= is not counted) is within the limit; a's recipient count is now 3 > 2.
assert s.mail("x@remote.example")[0] == 250
code, msg = s.rcpt("a@example.org")
assert code == 451 and msg.startswith(b"4.7.1"), (code, msg)
s.rset()
# 5: the fourth counted MAIL from this address is over messages-per-ip.
code, msg = s.mail("x@remote.example")
assert code == 451 and msg.startswith(b"4.7.1"), (code, msg)
# VRFY from the directory; EXPN off.
assert s.verify("a@example.org")[0] == 250
code, msg = s.verify("<nobody@example.org>")
assert code == 550 and msg.startswith(b"5.1.1"), (code, msg)
assert s.verify("someone@remote.example")[0] == 252
assert s.expn("team")[0] == 502
s.quit()
print("ok limits")
PY
server_alive || fail "server died"
echo "ok smtp limits"
