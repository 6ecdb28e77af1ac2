#!/usr/bin/env bash
# swaks against Staunch: AUTH PLAIN and AUTH LOGIN on 587 after STARTTLS and on 465 (implicit
# TLS), authenticated relaying into the queue, a wrong password refused, PIPELINING on port 25
# with several recipients, a refused relay on port 25, a UTF-8 (8-bit) message, and the
# CHUNKING and SMTPUTF8 keywords in the EHLO replies swaks reads. (swaks 20201014, the Debian 12
# version, sends neither BDAT nor the SMTPUTF8 parameter: interop/smtp-python drives those.)
# Each message swaks gets accepted is then found byte for byte in the recipient's INBOX, after
# only the trace headers.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../smtp-common/lib.bash
source "$HERE/../smtp-common/lib.bash"
need swaks python3

start_server
add_users alice bob carol
P25=$(port smtp)
P587=$(port submission)
P465=$(port submissions)
N=0

# msg FROM TO SUBJECT: write a message (LF line ends, as a user's file would have) to
# $WORK/in/N.txt and what the server must store (CRLF) under $WORK/expect/<each TO>/; print
# its name in F.
msg() {
  N=$((N + 1))
  mkdir -p "$WORK/in"
  local f=$WORK/in/$N.txt
  {
    printf 'From: %s\nTo: %s\nSubject: %s\n' "$1" "$2" "$3"
    printf 'Date: %s\nMessage-ID: <swaks-%s-%s@sender.test>\n\n' "$(date -R)" "$$" "$N"
    printf 'Message %s sent by swaks.\n.a line starting with a dot\n..and two\nend\n' "$N"
  } >"$f"
  local to
  for to in ${2//,/ }; do
    mkdir -p "$WORK/expect/$to"
    crlf "$f" >"$WORK/expect/$to/$N.eml"
  done
  # swaks ends the data with CRLF "." CRLF itself: a final newline in the file would add an
  # empty line to the message.
  truncate -s -1 "$f"
  F=$f
}

# sw NAME EXPECTED_EXIT SWAKS_ARGS...: run swaks, keep its transcript in $WORK/NAME.log
sw() {
  local name=$1 want=$2 rc=0
  shift 2
  timeout 30 swaks --helo client.sender.test --timeout 15 "$@" >"$WORK/$name.log" 2>&1 || rc=$?
  if [ "$rc" != "$want" ]; then
    cat "$WORK/$name.log" >&2
    fail "swaks $name: exit $rc, want $want"
  fi
  echo "ok   $name"
}

# 587: STARTTLS, then AUTH PLAIN and AUTH LOGIN (RFC 3207, RFC 4954, RFC 4616).
msg "alice@$DOMAIN" "bob@$DOMAIN" 'starttls plain'
sw 587-starttls-plain 0 --server "127.0.0.1:$P587" --tls --auth PLAIN --auth-user "alice-$TAG" \
  --auth-password pw-alice --from "alice@$DOMAIN" --to "bob@$DOMAIN" \
  --data "@$F"
msg "bob@$DOMAIN" "carol@$DOMAIN" 'starttls login'
sw 587-starttls-login 0 --server "127.0.0.1:$P587" --tls --auth LOGIN --auth-user "bob-$TAG" \
  --auth-password pw-bob --from "bob@$DOMAIN" --to "carol@$DOMAIN" \
  --data "@$F"
grep -q '^ *~> AUTH PLAIN' "$WORK/587-starttls-plain.log" || fail "587: no AUTH PLAIN in the transcript"
grep -q '^ *~> AUTH LOGIN' "$WORK/587-starttls-login.log" || fail "587: no AUTH LOGIN in the transcript"
grep -q '^<~  235' "$WORK/587-starttls-plain.log" || fail "587: AUTH PLAIN not answered 235 inside TLS"

# 465: TLS from the first byte (RFC 8314 §3.3).
msg "carol@$DOMAIN" "alice@$DOMAIN" 'implicit tls plain'
sw 465-tls-plain 0 --server "127.0.0.1:$P465" --tls-on-connect --auth PLAIN --auth-user "carol-$TAG" \
  --auth-password pw-carol --from "carol@$DOMAIN" --to "alice@$DOMAIN" \
  --data "@$F"
msg "alice@$DOMAIN" "carol@$DOMAIN" 'implicit tls login'
sw 465-tls-login 0 --server "127.0.0.1:$P465" --tls-on-connect --auth LOGIN --auth-user "alice-$TAG" \
  --auth-password pw-alice --from "alice@$DOMAIN" --to "carol@$DOMAIN" \
  --data "@$F"

# An authenticated user may relay: the remote recipient is queued (issue 7 item 4), and
# `staunch queue list` shows it.
sw 587-relay-queued 0 --server "127.0.0.1:$P587" --tls --auth PLAIN --auth-user "alice-$TAG" \
  --auth-password pw-alice --from "alice@$DOMAIN" --to friend@remote.test
q=$(sctl queue list) || fail "queue list"
grep -q "<alice@$DOMAIN> -> <friend@remote.test>\$" <<<"$q" || fail "relayed message not in the queue: $q"

# A wrong password: swaks exits 28 (authentication failed); RFC 4954 §6: 535 5.7.8.
sw 587-bad-password 28 --server "127.0.0.1:$P587" --tls --auth PLAIN --auth-user "alice-$TAG" \
  --auth-password not-the-password --from "alice@$DOMAIN" --to "bob@$DOMAIN"
grep -q '^<~\* 535' "$WORK/587-bad-password.log" || fail "bad password not answered 535"

# Port 25: PIPELINING (RFC 2920) with two recipients; swaks groups MAIL, RCPT and DATA.
msg sender@sender.test "alice@$DOMAIN,bob@$DOMAIN" 'pipelined'
sw 25-pipeline 0 --server "127.0.0.1:$P25" --pipeline --from sender@sender.test \
  --to "alice@$DOMAIN,bob@$DOMAIN" \
  --data "@$F"
grep -q 'PIPELINING' "$WORK/25-pipeline.log" || fail "EHLO on 25 does not list PIPELINING"
for kw in CHUNKING SMTPUTF8 8BITMIME; do
  grep -q "^<-  250[- ]$kw" "$WORK/25-pipeline.log" || fail "EHLO on 25 does not list $kw"
done

# A UTF-8 message (8-bit headers and body) through DATA.
N=$((N + 1))
f=$WORK/in/$N.txt
printf 'From: =?utf-8?q?J=C3=BCrgen?= <sender@sender.test>\nTo: bob@%s\nSubject: Grüße ✓\nDate: %s\nMessage-ID: <swaks-utf8-%s@sender.test>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nÜnïcödé ✓ 東京\n' "$DOMAIN" "$(date -R)" "$$" >"$f"
mkdir -p "$WORK/expect/bob@$DOMAIN"
crlf "$f" >"$WORK/expect/bob@$DOMAIN/$N.eml"
truncate -s -1 "$f"
sw 25-utf8 0 --server "127.0.0.1:$P25" --from sender@sender.test --to "bob@$DOMAIN" --data "@$f"

# Refused relay: port 25, no AUTH, a remote recipient (RFC 5321 §3.6.2); swaks exits 24 (no
# recipient accepted), and the refusal is a 5xx.
sw 25-relay-refused 24 --server "127.0.0.1:$P25" --from sender@sender.test --to someone@remote.test
grep -qE '^<\*\* +5[0-9][0-9]' "$WORK/25-relay-refused.log" || fail "relay refusal is not a 5xx"

store_export
for a in alice bob carol; do
  store_check "$a@$DOMAIN" --exact "$WORK/expect/$a@$DOMAIN"/*.eml || fail "store content of $a"
done
echo "PASS smtp-swaks"
