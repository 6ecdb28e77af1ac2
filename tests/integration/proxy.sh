#!/usr/bin/env bash
# PROXY protocol listeners (listener.*.proxy-protocol, proxy-trusted): a v1 header from a
# trusted source is accepted and the session sees the proxied client; a connection without
# a valid header gets no greeting and is closed; a header from a source outside
# proxy-trusted is ignored (the client is served under its own address).
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
start_server --set 'listener.pp.protocol="imap"' --set 'listener.pp.bind=["127.0.0.1:0"]' \
  --set 'listener.pp.proxy-protocol=true' --set 'listener.pp.proxy-trusted=["127.0.0.1"]' \
  --set 'listener.pp2.protocol="imap"' --set 'listener.pp2.bind=["127.0.0.1:0"]' \
  --set 'listener.pp2.proxy-protocol=true' --set 'listener.pp2.proxy-trusted=["192.0.2.1"]' \
  --set 'log.level="debug"'
P=$(port pp)
got=$(python3 "$CLIENT" greet "$P" --send $'PROXY TCP4 192.0.2.7 198.51.100.1 40000 143\r\n'; echo x) ||
  fail "no answer after a PROXY header"
got=${got%x}
[ "$got" == $'* BYE Staunch IMAP service not available\r\n' ] || fail "after PROXY: $(printf %q "$got")"
sleep 0.2
grep -q 'remote=192.0.2.7' "$SERVER_DIR/staunch.log" || fail "the proxied address was not used"
echo "ok PROXY v1 header"
got=$(python3 "$CLIENT" greet "$P" --send $'A1 CAPABILITY\r\n') || fail "no close without a header"
[[ $got != *BYE* ]] || fail "greeting without a PROXY header: $got"
echo "ok no header, no greeting"
# From a source outside proxy-trusted the header is not honoured: the client is served
# directly, under its real address.
got=$(python3 "$CLIENT" greet "$(port pp2)" --send $'PROXY TCP4 192.0.2.8 198.51.100.1 40000 143\r\n') ||
  fail "untrusted source: no answer"
[[ $got == "* BYE "* ]] || fail "untrusted source: $got"
sleep 0.2
grep -q 'remote=192.0.2.8' "$SERVER_DIR/staunch.log" && fail "a header from an untrusted source was honoured"
grep -q 'listener=pp2 remote=127.0.0.1' "$SERVER_DIR/staunch.log" || fail "untrusted client not logged as 127.0.0.1"
echo "ok untrusted source served directly"
server_alive || fail "server died"
