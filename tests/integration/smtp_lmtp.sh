#!/usr/bin/env bash
# LMTP (RFC 2033) over TCP: LHLO, a refused unknown recipient at RCPT, then one reply per
# accepted recipient after the data (RFC 2033 §4.2), in RCPT order: 250 for an account with
# room, 552 5.2.2 for an account over its quota (RFC 9208 §5.1), for both DATA and BDAT
# (RFC 3030 with LMTP). The delivered copy is in the store. LMTP refuses remote recipients and
# HELO/EHLO. LMTP on a unix socket: smtp_lmtp_unix.sh.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
start_mail_server
"$B" -c "$C" account add alice@example.org --password 'alice pw 1' >/dev/null || fail "alice"
"$B" -c "$C" account add full@example.org --password 'full pw 1' --quota 64 >/dev/null ||
  fail "account with a small quota"

python3 - "$(port lmtp)" <<'PY' || fail "LMTP session"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
f = s.makefile("rb")

def reply():
    lines = []
    while True:
        line = f.readline()
        assert line, "connection closed"
        lines.append(line.decode().rstrip("\r\n"))
        if line[3:4] == b" ":
            return lines

def cmd(text, code):
    s.sendall(text.encode() + b"\r\n")
    r = reply()
    assert r[-1].startswith(str(code)), (text, r)
    return r

assert reply()[-1].startswith("220 localhost LMTP"), "greeting"
cmd("EHLO client.example", 500)   # RFC 2033 §4.1: LHLO only
cmd("LHLO client.example", 250)
cmd("MAIL FROM:<sender@remote.example>", 250)
cmd("RCPT TO:<alice@example.org>", 250)
cmd("RCPT TO:<nobody@example.org>", 550)
cmd("RCPT TO:<someone@remote.example>", 550)
cmd("RCPT TO:<full@example.org>", 250)
cmd("DATA", 354)
body = b"Subject: lmtp one\r\n\r\n" + b"a fairly long line of text to go over quota\r\n" * 4
s.sendall(body + b".\r\n")
r1, r2 = reply(), reply()
assert r1[-1].startswith("250"), r1          # alice
assert r2[-1].startswith("552 5.2.2"), r2    # full: over quota
# The same with BDAT: one reply per recipient after LAST.
cmd("MAIL FROM:<sender@remote.example>", 250)
cmd("RCPT TO:<full@example.org>", 250)
cmd("RCPT TO:<alice@example.org>", 250)
body = b"Subject: lmtp two\r\n\r\n" + b"x" * 200 + b"\r\n"
s.sendall(b"BDAT %d LAST\r\n" % len(body) + body)
r1, r2 = reply(), reply()
assert r1[-1].startswith("552"), r1
assert r2[-1].startswith("250"), r2
cmd("QUIT", 221)
print("ok LMTP per-recipient replies")
PY
stop_server >/dev/null || fail "server did not stop cleanly"
"$B" -c "$C" store export "$SERVER_DIR/dump" || fail "store export"
python3 - "$SERVER_DIR/dump" <<'PY' || fail "LMTP messages in the store"
import sys
d = open(sys.argv[1], "rb").read()
for subj in (b"Subject: lmtp one", b"Subject: lmtp two"):
    assert d.count(subj) == 1, subj
    i = d.index(subj)
    head = d[d.rindex(b"Return-Path: <sender@remote.example>\r\n", 0, i):i]
    assert b"with LMTP" in head, head
PY
echo "ok lmtp"
