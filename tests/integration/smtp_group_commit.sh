#!/usr/bin/env bash
# Concurrent deliveries share mail-store commits (group commit, docs/smtp.md "Delivery") and
# each keeps its own answer: 24 SMTP sessions at once send 8 messages each, in turn to three
# accounts and to one that is over quota. Every message to the three accounts gets 250 and
# is in its account exactly once, byte for byte; every message to the full account gets
# 552 5.2.2 (RFC 9208 §5.1) and is nowhere; the accounts hold nothing else. The server's
# delivery statistics at shutdown count every delivery attempt.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
# More workers than the test default, so deliveries are in flight together.
start_mail_server --set runtime.worker-threads=8
for u in a1 a2 a3; do
  "$B" -c "$C" account add "$u@example.org" --password "$u pw 1" >/dev/null || fail "account add $u"
done
"$B" -c "$C" account add full@example.org --password 'full pw 1' --quota 64 >/dev/null ||
  fail "account add full"

mkdir -p "$SERVER_DIR/sent"
python3 - "$(port smtp)" "$SERVER_DIR/sent" <<'PY' || fail "concurrent SMTP sessions"
import smtplib, sys, threading
port, out = int(sys.argv[1]), sys.argv[2]
rcpts = ["a1@example.org", "a2@example.org", "a3@example.org", "full@example.org"]
errors, lock = [], threading.Lock()

def session(t):
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=60)
        s.ehlo("gc%d.example" % t)
        for i in range(8):
            rcpt = rcpts[(t + i) % len(rcpts)]
            msg = (b"From: s%d@remote.example\r\nTo: %s\r\nSubject: gc %d %d\r\n"
                   b"Message-ID: <gc-%d-%d@remote.example>\r\n\r\n" % (t, rcpt.encode(), t, i, t, i)
                   + b"line of message %d %d\r\n" % (t, i) * 4)
            code, _ = s.mail("s%d@remote.example" % t)
            assert code == 250, ("MAIL", code)
            code, _ = s.rcpt(rcpt)
            assert code == 250, ("RCPT", code)
            code, resp = s.data(msg)
            if rcpt.startswith("full@"):
                assert code == 552 and resp.startswith(b"5.2.2"), (t, i, code, resp)
            else:
                assert code == 250, (t, i, code, resp)
                with open("%s/%s-%d-%d.eml" % (out, rcpt.split("@")[0], t, i), "wb") as f:
                    f.write(msg)
        s.quit()
    except Exception as e:  # reported below: a thread's assertion must fail the scenario
        with lock:
            errors.append("session %d: %r" % (t, e))

threads = [threading.Thread(target=session, args=(t,)) for t in range(24)]
for th in threads:
    th.start()
for th in threads:
    th.join()
assert not errors, errors
print("ok 24 sessions, 192 messages")
PY

stop_server >/dev/null || fail "server did not stop cleanly"
stats=$(grep 'event=delivery.stats' "$SERVER_DIR/staunch.log" | tail -n 1) ||
  fail "no delivery statistics in the log"
msgs=$(sed -E 's/.* messages=([0-9]+).*/\1/' <<<"$stats")
[ "$msgs" -eq 192 ] || fail "delivery attempts counted: $msgs, want 192 ($stats)"
echo "ok $stats"

"$B" -c "$C" store export "$SERVER_DIR/dump" >/dev/null || fail "store export"
check="$ROOT/interop/smtp-common/storecheck.py"
for u in a1 a2 a3; do
  n=$(ls "$SERVER_DIR/sent/$u-"*.eml | wc -l)
  [ "$n" -eq 48 ] || fail "$u: $n messages sent, want 48"
  python3 "$check" check "$SERVER_DIR/dump" "$u@example.org" --exact "$SERVER_DIR/sent/$u-"*.eml ||
    fail "$u: the store does not hold exactly the messages it accepted"
done
n=$(python3 "$check" count "$SERVER_DIR/dump" full@example.org)
[ "$n" -eq 0 ] || fail "full@example.org holds $n messages"
echo "ok group commit: every accepted message stored once, every refused one nowhere"
