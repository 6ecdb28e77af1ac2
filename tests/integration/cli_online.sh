#!/usr/bin/env bash
# The CLI against a running server (docs/cli.md, online mode): the directory commands go
# through the control socket ("dir") and print what they print offline, with the same exit
# status; `store export` streams one snapshot from the server ("export") and the CLI writes
# the file; `store import` is refused while the server runs. The export is then imported
# into an empty SQLite store and compared with an export of it (store_move.sh's check).
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
start_server
CONF="$SERVER_DIR/staunch.conf"
B=$STAUNCH_BIN
T="$SERVER_DIR/t"
mkdir -p "$T"

# Directory commands, forwarded to the server.
"$B" -c "$CONF" domain add example.org >"$T/out" || fail "domain add"
"$B" -c "$CONF" account add alice@example.org --password 'first secret' \
  --alias al@example.org >"$T/out" || fail "account add"
"$B" -c "$CONF" account add bob@example.org --password 'b secret' >/dev/null || fail "account add bob"
"$B" -c "$CONF" account list >"$T/list" || fail "account list"
grep -q '^alice@example.org' "$T/list" || fail "account list misses alice: $(cat "$T/list")"
grep -q '^bob@example.org' "$T/list" || fail "account list misses bob: $(cat "$T/list")"
"$B" -c "$CONF" account passwd alice@example.org --password 'second secret' || fail "passwd"
"$B" -c "$CONF" account remove bob@example.org || fail "account remove"
"$B" -c "$CONF" account list >"$T/list2" || fail "account list after remove"
! grep -q 'bob@example.org' "$T/list2" || fail "bob still listed"
"$B" -c "$CONF" dns example.org >"$T/dns" || fail "dns"
grep -q 'DKIM1' "$T/dns" || fail "dns output has no DKIM record: $(head -5 "$T/dns")"
grep -q '_submissions._tcp' "$T/dns" || fail "dns output has no SRV record"
# Errors keep their message and exit status: unknown account (1), usage error (2).
set +e
"$B" -c "$CONF" account show nobody@example.org >/dev/null 2>"$T/err1"; rc1=$?
"$B" -c "$CONF" account frobnicate >/dev/null 2>"$T/err2"; rc2=$?
set -e
[ $rc1 -eq 1 ] || fail "unknown account: exit $rc1"
[ -s "$T/err1" ] || fail "unknown account: no message"
[ $rc2 -eq 2 ] || fail "usage error: exit $rc2"
# The server ran them (its log names each command, never the arguments).
grep -q 'event=server.control_dir.*command=account.*verb=passwd' "$SERVER_DIR/staunch.log" ||
  fail "the server did not run the commands"
! grep -q 'second secret' "$SERVER_DIR/staunch.log" || fail "password in the log"
echo "ok directory commands against a running server"

# Export from the running server; import refused while it runs.
"$B" -c "$CONF" store export "$T/live.dump" || fail "export from the running server"
[ -s "$T/live.dump" ] || fail "empty dump"
[ ! -e "$T/live.dump.tmp" ] || fail "temporary file left behind"
if "$B" -c "$CONF" store import "$T/live.dump" 2>"$T/err"; then
  fail "import accepted while the server runs"
fi
grep -q 'server is running' "$T/err" || fail "import refusal unclear: $(cat "$T/err")"
echo "ok export from a running server, import refused"

# The same commands offline give the same output and status.
"$B" -c "$CONF" account list >"$T/online.list"
"$B" -c "$CONF" account show alice@example.org >"$T/online.show"
set +e
"$B" -c "$CONF" account show nobody@example.org >/dev/null 2>"$T/online.err"; orc=$?
set -e
stop_server >/dev/null || fail "server did not stop cleanly"
"$B" -c "$CONF" account list >"$T/offline.list" || fail "offline account list"
"$B" -c "$CONF" account show alice@example.org >"$T/offline.show" || fail "offline show"
set +e
"$B" -c "$CONF" account show nobody@example.org >/dev/null 2>"$T/offline.err"; frc=$?
set -e
cmp -s "$T/online.list" "$T/offline.list" || fail "account list differs online/offline"
cmp -s "$T/online.show" "$T/offline.show" || fail "account show differs online/offline"
cmp -s "$T/online.err" "$T/offline.err" || fail "error message differs online/offline"
[ $orc -eq $frc ] || fail "exit status differs online ($orc) / offline ($frc)"
# The offline export of the stopped server equals the live one (nothing changed since).
"$B" -c "$CONF" store export "$T/offline.dump" || fail "offline export"
cmp -s "$T/live.dump" "$T/offline.dump" || fail "live and offline dumps differ"
echo "ok online and offline agree"

# Into an empty SQLite store, and back out: the same bytes (as in store_move.sh).
mkdir -p "$T/sq"
cat >"$T/sq/staunch.conf" <<CONF
[server]
hostname = "mail.example.test"
data-dir = "$T/sq"
run-dir = "$T/sq/run"

[store]
data.backend = "sqlite"
blob.backend = "data"
CONF
"$B" -c "$T/sq/staunch.conf" store import "$T/live.dump" || fail "import into sqlite"
"$B" -c "$T/sq/staunch.conf" store export "$T/sq.dump" || fail "export from sqlite"
cmp -s "$T/live.dump" "$T/sq.dump" || fail "sqlite copy differs from the live export"
"$B" -c "$T/sq/staunch.conf" account show alice@example.org | grep -q 'al@example.org' ||
  fail "alias missing in the sqlite copy"
echo "ok live export imported into sqlite"
