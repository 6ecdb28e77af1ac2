#!/usr/bin/env bash
# SMTP, submission and LMTP listeners greet with 220 (RFC 5321 §4.2, RFC 2033 §4.1); every
# other listener answers with its protocol's own refusal and closes (placeholder services):
# plain and STARTTLS listeners in cleartext, implicit-TLS listeners after the handshake
# (checked with openssl s_client). A listener that stays silent fails the scenario.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
start_server

SMTP=$'220 localhost ESMTP Staunch ready\r\n'
LMTP=$'220 localhost LMTP Staunch ready\r\n'
BYE=$'221 localhost Bye\r\n'
IMAP=$'* BYE Staunch IMAP service not available\r\n'
POP3=$'-ERR Staunch POP3 service not available\r\n'
SIEVE=$'BYE "ManageSieve service not available"\r\n'
HTTP_STATUS=$'HTTP/1.1 503 Service Unavailable\r'

check_plain() { # name expected [text to send]
  local got
  got=$(python3 "$CLIENT" greet "$(port "$1")" ${3:+--send "$3"}; echo x) || fail "$1: no answer"
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

check_plain smtp "$SMTP$BYE" $'QUIT\r\n'
check_plain submission "$SMTP$BYE" $'QUIT\r\n'
check_plain lmtp "$LMTP$BYE" $'QUIT\r\n'
check_plain imap "$IMAP"
check_plain pop3 "$POP3"
check_plain managesieve "$SIEVE"
check_tls submissions "$SMTP"
check_tls imaps "$IMAP"
check_tls pop3s "$POP3"

# HTTP: a complete 503 response (exact Content-Length, Connection: close, Retry-After) that
# survives the close after the request was sent (no reset destroying it).
for name in http https; do
  tls=""
  [ $name == https ] && tls=--tls
  resp=$(python3 "$CLIENT" http "$(port $name)" $tls) || fail "$name: $resp"
  [ "$resp" == "${HTTP_STATUS%$'\r'}" ] || fail "$name: status line $(printf %q "$resp")"
  echo "ok $name"
done
# Without a request (openssl s_client sends nothing): the response, then a close.
resp=$(timeout 20 openssl s_client -quiet -connect "127.0.0.1:$(port https)" </dev/null 2>/dev/null) || true
[ "$(head -n 1 <<<"$resp")" == "$HTTP_STATUS" ] || fail "https without a request: $(printf %q "$resp")"
echo "ok https (no request)"

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
