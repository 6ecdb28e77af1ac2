#!/usr/bin/env bash
# msmtp submits to Staunch: STARTTLS then AUTH PLAIN on 587, AUTH LOGIN on 587, implicit TLS
# with AUTH PLAIN on 465, a message to two recipients, and a wrong password refused. Each
# accepted message is then found byte for byte in the INBOX of every recipient, after only the
# trace headers the server adds.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../smtp-common/lib.bash
source "$HERE/../smtp-common/lib.bash"
need msmtp python3

start_server
add_users alice bob carol
P587=$(port submission)
P465=$(port submissions)
N=0

# msg FROM TO SUBJECT: a message as a user's file (LF line ends) in F; what the server must
# store (CRLF) goes under $WORK/expect/<each TO>/. msmtp turns LF into CRLF, dot-stuffs, and
# adds nothing to a message that has From, Date and Message-ID.
msg() {
  N=$((N + 1))
  mkdir -p "$WORK/in"
  F=$WORK/in/$N.txt
  {
    printf 'From: %s\nTo: %s\nSubject: %s\n' "$1" "$2" "$3"
    printf 'Date: %s\nMessage-ID: <msmtp-%s-%s@sender.test>\n\n' "$(date -R)" "$$" "$N"
    printf 'Message %s sent by msmtp.\n.starts with a dot\nend\n' "$N"
  } >"$F"
  local to
  for to in ${2//,/ }; do
    mkdir -p "$WORK/expect/$to"
    crlf "$F" >"$WORK/expect/$to/$N.eml"
  done
}

# ms NAME EXPECTED_EXIT USER PORT STARTTLS(on|off) AUTH FROM TO...: msmtp with its dialogue
# (-d) in $WORK/NAME.log, message from F.
ms() {
  local name=$1 want=$2 user=$3 p=$4 starttls=$5 auth=$6 from=$7 rc=0
  shift 7
  local pw=pw-$user
  [ "$want" = 0 ] || pw=not-the-password
  timeout 30 msmtp -d --host=127.0.0.1 --port="$p" --tls=on --tls-starttls="$starttls" \
    --tls-certcheck=off --auth="$auth" --user="$user-$TAG" --passwordeval="echo $pw" \
    --from="$from" --timeout=15 "$@" <"$F" >"$WORK/$name.log" 2>&1 || rc=$?
  if { [ "$want" = 0 ] && [ $rc -ne 0 ]; } || { [ "$want" != 0 ] && [ $rc -eq 0 ]; }; then
    cat "$WORK/$name.log" >&2
    fail "msmtp $name: exit $rc"
  fi
  echo "ok   $name"
}

msg "alice@$DOMAIN" "bob@$DOMAIN" 'starttls plain'
ms 587-starttls-plain 0 alice "$P587" on plain "alice@$DOMAIN" "bob@$DOMAIN"
grep -q '^--> STARTTLS' "$WORK/587-starttls-plain.log" || fail "587: msmtp sent no STARTTLS"
grep -q '^--> AUTH PLAIN' "$WORK/587-starttls-plain.log" || fail "587: msmtp sent no AUTH PLAIN"
grep -q '^<-- 235' "$WORK/587-starttls-plain.log" || fail "587: AUTH PLAIN not answered 235"

msg "bob@$DOMAIN" "alice@$DOMAIN,carol@$DOMAIN" 'starttls login, two recipients'
ms 587-starttls-login 0 bob "$P587" on login "bob@$DOMAIN" "alice@$DOMAIN" "carol@$DOMAIN"
grep -q '^--> AUTH LOGIN' "$WORK/587-starttls-login.log" || fail "587: msmtp sent no AUTH LOGIN"

msg "carol@$DOMAIN" "alice@$DOMAIN" 'implicit tls'
ms 465-tls-plain 0 carol "$P465" off plain "carol@$DOMAIN" "alice@$DOMAIN"

# A wrong password is refused (RFC 4954 §6: 535) and nothing is delivered.
msg "alice@$DOMAIN" "bob@$DOMAIN" 'never delivered'
rm -f "$WORK/expect/bob@$DOMAIN/$N.eml"
ms 587-bad-password 1 alice "$P587" on plain "alice@$DOMAIN" "bob@$DOMAIN"
grep -q '^<-- 535' "$WORK/587-bad-password.log" || fail "bad password not answered 535"

store_export
for a in alice bob carol; do
  store_check "$a@$DOMAIN" --exact "$WORK/expect/$a@$DOMAIN"/*.eml || fail "store content of $a"
done
echo "PASS smtp-msmtp"
