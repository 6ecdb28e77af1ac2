#!/usr/bin/env bash
# Postfix relays into Staunch. A private Postfix instance (interop/smtp-common/postfix.bash:
# its own configuration, queue and log in a scratch directory, smtpd on a free loopback port)
# takes messages from its sendmail (pickup) and from smtp-source (its smtpd), and its
# transport map sends each recipient to Staunch a different way:
#   alice@DOMAIN  smtp  to the port-25 listener (opportunistic STARTTLS)
#   bob@DOMAIN    lmtp  to the LMTP listener over TCP
#   carol@DOMAIN  lmtp  to the LMTP listener on a unix socket
# Every message must be found byte for byte in the recipient's INBOX after only trace
# headers: Return-Path, Staunch's Received and Postfix's Received lines (at least 2), and
# Postfix must log status=sent for every delivery.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../smtp-common/lib.bash
source "$HERE/../smtp-common/lib.bash"
# shellcheck source=../smtp-common/postfix.bash
source "$COMMON_DIR/postfix.bash"
need postfix smtp-source python3
[ "$(id -u)" -eq 0 ] || { echo "SKIP: a private Postfix instance needs root"; exit 77; }

# LMTP also on a unix socket that Postfix's lmtp client (running as postfix) can reach.
SOCKDIR=$WORK/sock
mkdir -p "$SOCKDIR" && chmod 0755 "$WORK" "$SOCKDIR"
LMTP_SOCKET=$SOCKDIR/lmtp.sock
start_server --set 'listener.lmtpunix.protocol="lmtp"' \
  --set "listener.lmtpunix.bind=[\"unix:$LMTP_SOCKET\"]" \
  --set 'listener.lmtpunix.socket-mode="0666"'
add_users alice bob carol
P25=$(port smtp)
PLMTP=$(port lmtp)
PF=$WORK/postfix
PF_PORT=$("$COMMON_DIR/free-ports.py")
rcpts=(alice bob carol)
{
  echo "alice@$DOMAIN smtp:[127.0.0.1]:$P25"
  echo "bob@$DOMAIN lmtp:inet:127.0.0.1:$PLMTP"
  echo "carol@$DOMAIN lmtp:unix:$LMTP_SOCKET"
} >"$WORK/transport"
at_exit 'pf_stop "$PF"'
pf_start "$PF" "$PF_PORT" \
  "relay_domains = $DOMAIN" \
  "transport_maps = texthash:$WORK/transport" \
  "smtp_tls_security_level = may" \
  "smtp_tls_loglevel = 1" \
  "smtputf8_enable = yes" ||
  fail "postfix did not start"

N=0
# msg TO SUBJECT: a complete message (LF line ends, so Postfix adds no header of its own) in F,
# and what Staunch must store (CRLF) under $WORK/expect/TO/.
msg() {
  N=$((N + 1))
  mkdir -p "$WORK/in" "$WORK/expect/$1"
  F=$WORK/in/$N.txt
  {
    printf 'From: Sender <sender@sender.test>\nTo: %s\nSubject: %s\n' "$1" "$2"
    printf 'Date: %s\nMessage-ID: <postfix-%s-%s@sender.test>\nMIME-Version: 1.0\n' "$(date -R)" "$$" "$N"
    printf 'Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n'
    printf 'Message %s, relayed by Postfix.\n.a line with a leading dot\n..two dots\n' "$N"
    printf '8-bit: Grüße, naïve, 東京\n'
    # A long body keeps several TCP writes in flight.
    local i
    for i in $(seq 1 60); do printf 'line %03d of the body %s\n' "$i" "----------------------------------------"; done
  } >"$F"
  crlf "$F" >"$WORK/expect/$1/$N.eml"
}

for r in "${rcpts[@]}"; do
  a="$r@$DOMAIN"
  # Through Postfix's sendmail: postdrop, pickup, cleanup, qmgr, then the transport.
  msg "$a" "via sendmail to $r"
  pf_sendmail "$PF" -f sender@sender.test -- "$a" <"$F" || fail "sendmail to $a"
  # Through Postfix's smtpd: smtp-source sends the file (-F) with CRLF line ends, and one
  # CRLF more before its "." line, so the message ends with an empty line.
  msg "$a" "via smtp-source to $r"
  printf '\r\n' >>"$WORK/expect/$a/$N.eml"
  timeout 30 smtp-source -F "$F" -f sender@sender.test -t "$a" -M client.sender.test \
    "127.0.0.1:$PF_PORT" >"$WORK/source-$N.log" 2>&1 || { cat "$WORK/source-$N.log"; fail "smtp-source to $a"; }
done

pf_wait_empty "$PF" 30 || { tail -n 30 "$PF/maillog"; fail "Postfix did not deliver everything"; }
sent=$(grep -c 'status=sent' "$PF/maillog" || true)
[ "$sent" -eq $((2 * ${#rcpts[@]})) ] || { tail -n 30 "$PF/maillog"; fail "Postfix logged $sent deliveries, want $((2 * ${#rcpts[@]}))"; }
grep -q "to=<alice@$DOMAIN>, relay=127.0.0.1\[127.0.0.1\]:$P25,.*status=sent" "$PF/maillog" ||
  fail "no SMTP delivery to alice in the Postfix log"
grep -q "to=<bob@$DOMAIN>, relay=127.0.0.1\[127.0.0.1\]:$PLMTP,.*status=sent" "$PF/maillog" ||
  fail "no LMTP delivery to bob in the Postfix log"
if grep -q 'TLS connection established to 127.0.0.1' "$PF/maillog"; then
  echo "ok   Postfix's SMTP client used STARTTLS"
else
  fail "Postfix's SMTP client did not use STARTTLS (smtp_tls_security_level = may)"
fi
echo "ok   Postfix delivered $sent messages (smtp to :$P25, lmtp to :$PLMTP${LMTP_SOCKET:+, lmtp to $LMTP_SOCKET})"
[ -n "$LMTP_SOCKET" ] || echo "note the server reports no LMTP unix socket: that path was not tested"
pf_stop "$PF"

store_export
for r in alice bob carol; do
  a="$r@$DOMAIN"
  if [ -d "$WORK/expect/$a" ]; then
    # Postfix's smtpd or pickup added one Received line, Staunch another.
    store_check "$a" --exact --received-min 2 "$WORK/expect/$a"/*.eml || fail "store content of $a"
  fi
done
echo "PASS smtp-postfix"
