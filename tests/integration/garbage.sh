#!/usr/bin/env bash
# Hostile input does not take the server down: binary noise, a 1 MB line, TLS garbage on an
# implicit-TLS port, a half-open connection, and 2,000 connections from one IP against a
# listener limited to 50 per IP. Afterwards every kind of listener still answers, and the
# limit was logged.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
start_server --set listener.imaps.max-connections-per-ip=50 \
  --set listener.smtp.max-connections-per-ip=50 --set 'log.level="info"'

python3 "$CLIENT" noise "$(port smtp)" 65536 || fail "noise on smtp"
python3 "$CLIENT" noise "$(port http)" 65536 || fail "noise on http"
python3 "$CLIENT" bigline "$(port imap)" $((1024 * 1024)) || fail "1 MB line on imap"
python3 "$CLIENT" bigline "$(port lmtp)" $((1024 * 1024)) || fail "1 MB line on lmtp"
python3 "$CLIENT" tlsgarbage "$(port imaps)" || fail "TLS garbage on imaps"
python3 "$CLIENT" tlsgarbage "$(port https)" || fail "TLS garbage on https"
python3 "$CLIENT" halfopen "$(port pop3)" || fail "half-open on pop3"
server_alive || fail "server died under garbage"

# 2,000 connections at once. On imaps the server waits for a TLS handshake that never
# comes, so connections stay open and the per-IP limit (50) must close the others.
out=$(python3 "$CLIENT" flood "$(port imaps)" 2000 --hold 1) || fail "flood imaps"
echo "$out"
open=$(sed -E 's/.* ([0-9]+) open$/\1/' <<<"$out")
[ "$open" -le 50 ] || fail "more than 50 connections from one IP stayed open: $out"
out=$(python3 "$CLIENT" flood "$(port smtp)" 2000) || fail "flood smtp"
echo "$out"
server_alive || fail "server died under the connection flood"
sleep 0.5
grep -q 'event=net.limit' "$SERVER_DIR/staunch.log" || fail "no net.limit record in the log"
echo "ok limit logged ($(grep -c 'event=net.limit' "$SERVER_DIR/staunch.log") records)"

# Still serving.
got=$(python3 "$CLIENT" greet "$(port smtp)" --send $'QUIT\r\n') || fail "smtp after the flood"
[[ $got == "220 "* ]] || fail "smtp after the flood: $got"
got=$(timeout 20 openssl s_client -quiet -connect "127.0.0.1:$(port imaps)" </dev/null 2>/dev/null) || true
[[ $got == "* BYE "* ]] || fail "imaps after the flood: $got"
"$STAUNCH_BIN" --config "$SERVER_DIR/staunch.conf" status >/dev/null || fail "status after the flood"
echo "ok server answers after the abuse"
