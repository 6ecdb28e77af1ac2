#!/usr/bin/env bash
# Every listener answers with its protocol's own refusal and closes (placeholder services):
# plain and STARTTLS listeners in cleartext, implicit-TLS listeners after the handshake
# (checked with openssl s_client). A listener that stays silent fails the scenario.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
start_server

SMTP=$'421 4.3.2 localhost Service not available, closing transmission channel\r\n'
IMAP=$'* BYE Staunch IMAP service not available\r\n'
POP3=$'-ERR Staunch POP3 service not available\r\n'
SIEVE=$'BYE "ManageSieve service not available"\r\n'
HTTP_STATUS=$'HTTP/1.1 503 Service Unavailable\r'

check_plain() { # name expected
  local got
  got=$(python3 "$CLIENT" greet "$(port "$1")"; echo x) || fail "$1: no answer"
  got=${got%x}
  [ "$got" == "$2" ] || fail "$1: expected $(printf %q "$2"), got $(printf %q "$got")"
  echo "ok $1 (plain)"
}

check_tls() { # name expected-first-line
  local got
  got=$(timeout 20 openssl s_client -quiet -connect "127.0.0.1:$(port "$1")" \
          -servername localhost </dev/null 2>/dev/null) || true
  [ "$(head -n 1 <<<"$got")" == "${2%$'\n'}" ] ||
    fail "$1: expected $(printf %q "${2%$'\n'}") over TLS, got $(printf %q "$got")"
  echo "ok $1 (implicit TLS)"
}

check_plain smtp "$SMTP"
check_plain submission "$SMTP"
check_plain lmtp "$SMTP"
check_plain imap "$IMAP"
check_plain pop3 "$POP3"
check_plain managesieve "$SIEVE"
check_tls submissions "$SMTP"
check_tls imaps "$IMAP"
check_tls pop3s "$POP3"

# HTTP: a complete 503 response whose body length matches Content-Length.
for name in http https; do
  if [ $name == https ]; then
    resp=$(timeout 20 openssl s_client -quiet -connect "127.0.0.1:$(port $name)" </dev/null 2>/dev/null) || true
  else
    resp=$(python3 "$CLIENT" greet "$(port $name)" --send $'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
  fi
  [ "$(head -n 1 <<<"$resp")" == "$HTTP_STATUS" ] || fail "$name: status line: $(printf %q "$resp")"
  python3 - "$resp" <<'PY' || fail "$name: bad response framing"
import sys
r = sys.argv[1]
head, _, body = r.partition("\r\n\r\n")
h = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in head.split("\r\n")[1:]}
assert h.get("connection") == "close", h
assert "retry-after" in h, h
# $(...) in the shell drops trailing newlines of the body: compare without them.
assert int(h["content-length"]) >= len(body.encode()) and body.strip(), (h, body)
PY
  echo "ok $name"
done

# The control socket reports the same ports.
status=$("$STAUNCH_BIN" --config "$SERVER_DIR/staunch.conf" status) || fail "staunch status failed"
python3 - "$status" "$PORTS" <<'PY' || fail "status does not match ports.json: $status"
import json, sys
st, ports = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert {k: v["port"] for k, v in st["listeners"].items()} == ports
assert st["version"] and st["uptime"] >= 0
PY
echo "ok status"
server_alive || fail "server died"
