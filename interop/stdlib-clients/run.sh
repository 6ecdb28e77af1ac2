#!/usr/bin/env bash
# Real clients read each listener's greeting: Python's smtplib, imaplib, poplib and
# http.client, curl and openssl s_client, in cleartext and over TLS. Until a protocol lands
# its listener refuses service in that protocol's own words (SMTP 421, IMAP BYE, POP3 -ERR,
# HTTP 503); each client must see exactly that refusal, not a hang or a parse error.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tests/integration/lib/common.bash
source "$HERE/../../tests/integration/lib/common.bash"

command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 77; }

start_server
python3 "$HERE/clients.py" "$PORTS" || fail "python clients"

# curl: HTTP/1.1 503 on the cleartext and the TLS listener, with Retry-After.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$(port http)/") || true
[ "$code" = 503 ] || fail "curl http: status $code"
hdrs=$(curl -sk -D - -o /dev/null --max-time 10 "https://127.0.0.1:$(port https)/.well-known/jmap") || true
grep -q '^HTTP/1.1 503' <<<"$hdrs" || fail "curl https: $hdrs"
grep -qi '^Retry-After:' <<<"$hdrs" || fail "curl https: no Retry-After"

# openssl s_client: TLS 1.3 and TLS 1.2 handshakes on implicit-TLS listeners, refusal inside.
for v in -tls1_3 -tls1_2; do
  out=$(timeout 10 openssl s_client -connect "127.0.0.1:$(port imaps)" "$v" -quiet </dev/null 2>/dev/null) || true
  grep -q '^\* BYE' <<<"$out" || fail "s_client $v imaps: '$out'"
done
# TLS 1.1 is refused by the server (minimum TLS 1.2). SECLEVEL=0 lets this client offer it,
# so the refusal is the server's: a protocol_version alert.
out=$(timeout 10 openssl s_client -connect "127.0.0.1:$(port pop3s)" -tls1_1 \
  -cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>&1) && fail "TLS 1.1 handshake accepted"
grep -qiE 'protocol version|unsupported protocol' <<<"$out" || fail "TLS 1.1: unexpected failure: $out"
echo "PASS stdlib-clients"
