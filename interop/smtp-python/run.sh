#!/usr/bin/env bash
# Python's smtplib drives everything the other SMTP peers do not: SIZE, 8BITMIME, DSN
# parameters, SMTPUTF8, PIPELINING, CHUNKING (BDAT), VRFY/EXPN off, RSET, the ordering errors of
# RFC 5321 §4.1.4, refused relaying and unknown users on port 25, AUTH on 587 and 465, LMTP with
# one reply per recipient over TCP (and the unix socket when the server has one). Every
# accepted message is then found byte for byte in the INBOX of each recipient, after only the
# trace headers the server adds (Return-Path, Received), and nothing else was delivered.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../smtp-common/lib.bash
source "$HERE/../smtp-common/lib.bash"
need python3

start_server
add_users alice bob carol
LMTP_SOCKET=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("lmtp-socket", ""))' "$PORTS")
python3 "$HERE/clients.py" "$PORTS" "$WORK/expect" "$DOMAIN" "$TAG" "$LMTP_SOCKET" || fail "smtplib checks"

store_export
for a in alice bob carol; do
  store_check "$a@$DOMAIN" --exact "$WORK/expect/$a@$DOMAIN"/*.eml || fail "store content of $a"
done
echo "PASS smtp-python"
