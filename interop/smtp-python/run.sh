#!/usr/bin/env bash
# Python's smtplib drives everything the other SMTP peers do not: SIZE, 8BITMIME, DSN
# parameters, SMTPUTF8, PIPELINING, CHUNKING (BDAT), VRFY/EXPN off, RSET, the ordering errors of
# RFC 5321 §4.1.4, refused relaying and unknown users on port 25, AUTH on 587 and 465, LMTP with
# one reply per recipient over TCP and over a unix socket. Every
# accepted message is then found byte for byte in the INBOX of each recipient, after only the
# trace headers the server adds (Return-Path, Received), and nothing else was delivered.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../smtp-common/lib.bash
source "$HERE/../smtp-common/lib.bash"
need python3

# LMTP also listens on a unix socket (RFC 2033 §5: LMTP is for local channels).
LMTP_SOCKET=$WORK/lmtp.sock
start_server --set 'listener.lmtpunix.protocol="lmtp"' \
  --set "listener.lmtpunix.bind=[\"unix:$LMTP_SOCKET\"]"
add_users alice bob carol
python3 "$HERE/clients.py" "$PORTS" "$WORK/expect" "$DOMAIN" "$TAG" "$LMTP_SOCKET" || fail "smtplib checks"

store_export
for a in alice bob carol; do
  store_check "$a@$DOMAIN" --exact "$WORK/expect/$a@$DOMAIN"/*.eml || fail "store content of $a"
done
echo "PASS smtp-python"
