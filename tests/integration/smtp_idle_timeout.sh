#!/usr/bin/env bash
# Idle timeout (RFC 5321 §4.5.3.2.7, §3.8): when listener.NAME.idle-timeout passes without a
# command, the server answers 421 (4.4.2 after EHLO) before it closes, on a fresh connection and in the
# middle of a transaction; a client that keeps talking is not cut off.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
start_server --set listener.smtp.idle-timeout='"1s"'
python3 - "$(port smtp)" <<'PY' || fail "idle timeout"
import socket, sys, time
port = int(sys.argv[1])

def session():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s, s.makefile("rb")

def reply(f):
    lines = []
    while True:
        line = f.readline()
        assert line, "connection closed without a reply"
        lines.append(line.decode().rstrip("\r\n"))
        if line[3:4] == b" ":
            return lines

# 1: nothing after the greeting.
s, f = session()
assert reply(f)[-1].startswith("220 "), "greeting"
t0 = time.monotonic()
r = reply(f)
assert r[-1].startswith("421 ") and "Timeout" in r[-1], r
assert f.readline() == b"", "not closed after 421"
assert 0.5 < time.monotonic() - t0 < 8, time.monotonic() - t0
s.close()

# 2 (after EHLO, with an enhanced status code, RFC 2034): activity keeps the session open past the timeout, then a stalled transaction gets 421.
s, f = session()
reply(f)
for i in range(4):
    time.sleep(0.4)
    s.sendall(b"NOOP\r\n")
    assert reply(f)[-1].startswith("250"), "NOOP"
s.sendall(b"EHLO client.example\r\nMAIL FROM:<a@remote.example>\r\n")
assert reply(f)[-1].startswith("250")
assert reply(f)[-1].startswith("250")
r = reply(f)
assert r[-1].startswith("421 4.4.2"), r
assert f.readline() == b"", "not closed after 421"
s.close()
PY
echo "smtp_idle_timeout: ok"
