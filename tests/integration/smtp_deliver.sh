#!/usr/bin/env bash
# Port 25 (MX) delivers into the mail store: a message sent with DATA to an address, an alias
# of the same account and a subaddress of another, and one sent with BDAT (RFC 3030), are in
# the store byte for byte (checked in a `staunch store export` dump): our Return-Path line
# (RFC 5321 §4.4), our Received header, then exactly the bytes the client sent (dot-unstuffed).
# Each account keeps one copy however many of its addresses were named. Unknown local users get
# 550 5.1.1, remote recipients from an anonymous client 550 5.7.1 (no open relay), a bare LF in
# the data 550 5.6.0 (RFC 5321 §2.3.8), and a message with too many Received lines 554 5.4.6.
# A recipient over quota next to one that takes the message is recorded as failed in the queue
# (RFC 5321 §6.1: after 250 the server answers for it; the DSN is the outbound module's).
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
start_mail_server
"$B" -c "$C" account add alice@example.org --password 'alice pw 1' --alias al@example.org \
  >/dev/null || fail "account add alice"
"$B" -c "$C" account add bob@example.org --password 'bob pw 1' >/dev/null || fail "account add bob"
"$B" -c "$C" account add tiny@example.org --password 'tiny pw 1' --quota 64 >/dev/null ||
  fail "account add tiny"
# A list with a local member and 20 remote ones: the remote copies go to the queue.
members=(--member bob@example.org)
for n in $(seq 1 20); do members+=(--member "r$n@remote$n.example"); done
"$B" -c "$C" list add fans --address fans@example.org "${members[@]}" >/dev/null ||
  fail "list add"

python3 - "$(port smtp)" "$SERVER_DIR/sent" <<'PY' || fail "SMTP session on port 25"
import smtplib, sys
port, out = int(sys.argv[1]), sys.argv[2]

def expect(got, code, enh=None):
    assert got[0] == code, got
    if enh:
        assert got[1].startswith(enh.encode()), got

s = smtplib.SMTP("127.0.0.1", port, timeout=30)
expect(s.ehlo("client.example"), 250)
assert s.has_extn("chunking") and s.has_extn("pipelining") and not s.has_extn("auth")
# VRFY is off by default: 252 for any address (RFC 5321 §7.3).
expect(s.verify("alice@example.org"), 252)
# Message 1: DATA, with a line that starts with a dot.
m1 = (b"From: Sender <sender@remote.example>\r\nTo: alice@example.org\r\n"
      b"Subject: one\r\nMessage-ID: <one@remote.example>\r\n\r\nHello Alice.\r\n"
      b".dot line\r\n\xc3\xa9 8-bit\r\n")
expect(s.mail("sender@remote.example", ["BODY=8BITMIME"]), 250, "2.1.0")
expect(s.rcpt("alice@example.org"), 250, "2.1.5")
expect(s.rcpt("AL@example.org"), 250)
expect(s.rcpt("bob+lists@example.org"), 250)
expect(s.rcpt("nobody@example.org"), 550, "5.1.1")
expect(s.rcpt("victim@remote.example"), 550, "5.7.1")
# smtplib stuffs the dot (RFC 5321 §4.5.2); the server must store the line unstuffed.
expect(s.data(m1), 250)
# Message 2: BDAT in two chunks (RFC 3030 §2).
m2 = (b"From: other@remote.example\r\nTo: bob@example.org\r\nSubject: two\r\n\r\n"
      b"Chunked body.\r\n")
expect(s.mail("other@remote.example"), 250)
expect(s.rcpt("bob@example.org"), 250)
s.send(b"BDAT %d\r\n" % 20 + m2[:20])
expect(s.getreply(), 250)
s.send(b"BDAT %d LAST\r\n" % (len(m2) - 20) + m2[20:])
expect(s.getreply(), 250)
# A bare LF in the data is refused (smuggling defence).
expect(s.mail("x@remote.example"), 250)
expect(s.rcpt("bob@example.org"), 250)
expect(s.docmd("DATA"), 354)
s.send(b"Subject: bare\r\n\r\nline\nnext\r\n.\r\n")
expect(s.getreply(), 550, "5.6.0")
# RFC 5321 §6.3: a message that looped (101 Received lines with ours) is refused.
expect(s.mail("x@remote.example"), 250)
expect(s.rcpt("bob@example.org"), 250)
expect(s.data(b"Received: from a by b; Fri, 27 Nov 2026 07:00:00 +0000\r\n" * 100 +
              b"Subject: loop\r\n\r\nx\r\n"), 554)
# The list: accepted from an anonymous client (a local address); remote members queued.
expect(s.mail("news@remote.example"), 250)
expect(s.rcpt("fans@example.org"), 250)
expect(s.data(b"Subject: to the fans\r\n\r\nhello fans\r\n"), 250)
# Over quota alone: 552 for the message. Next to a recipient that takes it: 250, and the
# failed recipient is recorded in the queue (with its reply) for a DSN.
expect(s.mail("q@remote.example"), 250)
expect(s.rcpt("tiny@example.org"), 250)
expect(s.data(b"Subject: quota\r\n\r\n" + b"q" * 200 + b"\r\n"), 552)
expect(s.mail("q@remote.example"), 250)
expect(s.rcpt("tiny@example.org", ["NOTIFY=FAILURE"]), 250)
expect(s.rcpt("bob@example.org"), 250)
expect(s.data(b"Subject: quota two\r\n\r\n" + b"q" * 200 + b"\r\n"), 250)
s.quit()
with open(out, "wb") as f:
    f.write(b"sender@remote.example\n%d\n" % len(m1) + m1 + b"\n")
    f.write(b"other@remote.example\n%d\n" % len(m2) + m2 + b"\n")
print("ok smtp session")
PY

q=$("$B" -c "$C" queue list) || fail "queue list"
[ "$(wc -l <<<"$q")" -eq 2 ] || fail "expected two queue entries: $q"
fans=$(grep '<news@remote.example> -> ' <<<"$q") || fail "list entry: $q"
[ "$(grep -o '<r[0-9]*@remote[0-9]*.example>' <<<"$fans" | wc -l)" -eq 20 ] ||
  fail "not all 20 remote list members queued: $fans"
grep -q 'bob@example.org' <<<"$fans" && fail "local member queued: $fans"
q=$(grep '<q@remote.example> -> <tiny@example.org>$' <<<"$q") || fail "queue entry: $q"
"$B" -c "$C" queue show "$(awk '{print $1}' <<<"$q")" |
  grep -q '^rcpt: <tiny@example.org> failed attempts=0 notify=FAILURE, last="552 5.2.2 ' ||
  fail "failed recipient not recorded"
stop_server >/dev/null || fail "server did not stop cleanly"
"$B" -c "$C" store export "$SERVER_DIR/dump" || fail "store export"
python3 - "$SERVER_DIR/dump" "$SERVER_DIR/sent" <<'PY' || fail "messages in the store"
import re, struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"STNCDUMP", "not a dump"
pos, blobs = 12, []
while data[pos:pos + 1] != b"E":
    kind = data[pos:pos + 1]
    if kind == b"K":
        klen = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        vlen = struct.unpack(">I", data[pos + 4 + klen:pos + 8 + klen])[0]
        pos += 8 + klen + vlen
    elif kind == b"B":
        pos += 1 + 32 + 8
        content = b""
        while True:
            n = struct.unpack(">I", data[pos:pos + 4])[0]
            pos += 4
            if n == 0:
                break
            content += data[pos:pos + n]
            pos += n
        blobs.append(content)
    else:
        raise AssertionError("unknown record %r at %d" % (kind, pos))
sent = open(sys.argv[2], "rb").read()
expected = []
p = 0
while p < len(sent):
    nl = sent.index(b"\n", p)
    sender = sent[p:nl].decode()
    nl2 = sent.index(b"\n", nl + 1)
    n = int(sent[nl + 1:nl2])
    expected.append((sender, sent[nl2 + 1:nl2 + 1 + n]))
    p = nl2 + 1 + n + 1
received = re.compile(rb"Received: from [^\r\n]+\r\n(?:\t[^\r\n]+\r\n)+")
for sender, msg in expected:
    hits = []
    for b in blobs:
        rp = b"Return-Path: <%s>\r\n" % sender.encode()
        if not b.startswith(rp) or not b.endswith(msg):
            continue
        middle = b[len(rp):len(b) - len(msg)]
        m = received.fullmatch(middle)
        assert m, "unexpected header block %r" % middle
        assert b"by localhost" in middle, middle
        hits.append(b)
    # One blob per message: the accounts share it (content addressed, stored once).
    assert len(hits) == 1, "%s: %d stored copies" % (sender, len(hits))
    print("ok %s: %d bytes stored exactly" % (sender, len(hits[0])))
# Nothing was stored for the refused messages.
assert not any(b"Subject: bare" in b or b"Subject: loop" in b for b in blobs)
PY
# Alice's account got message 1 once (alias and address name one account), Bob both.
python3 - "$SERVER_DIR/dump" <<'PY' || fail "copies per account"
import sys
d = open(sys.argv[1], "rb").read()
assert d.count(b"Subject: one") == 1 and d.count(b"Subject: two") == 1
# The list message: bob's copy (with Return-Path) and the queue's (without): two blobs.
assert d.count(b"Subject: to the fans") == 2
PY
echo "ok smtp delivery"
