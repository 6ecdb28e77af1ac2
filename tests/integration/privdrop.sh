#!/usr/bin/env bash
# Started as root, the server runs as an unprivileged user after start-up, with no_new_privs
# and a seccomp filter (/proc/PID/status: Uid not 0, NoNewPrivs 1, Seccomp 2), and it still
# answers, reloads and stops cleanly. Skipped (77) when not run as root.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "privdrop: not root, skipped"
  exit 77
fi
source "$(dirname "$0")/lib/common.bash"
start_server
pid=$(server_pid)
grep -E '^(Uid|Gid|NoNewPrivs|Seccomp):' "/proc/$pid/status"
uid=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
for u in $uid; do [ "$u" -ne 0 ] || fail "a uid is still 0: $uid"; done
[ "$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$pid/status")" == 1 ] || fail "NoNewPrivs is not 1"
[ "$(awk '/^Seccomp:/ {print $2}' "/proc/$pid/status")" == 2 ] || fail "Seccomp is not 2 (filter)"
# Every thread carries the same restrictions.
for t in /proc/"$pid"/task/*; do
  [ "$(awk '/^Seccomp:/ {print $2}' "$t/status")" == 2 ] || fail "thread $t without the filter"
  [ "$(awk '/^Uid:/ {print $2}' "$t/status")" -ne 0 ] || fail "thread $t runs as root"
done
grep -q 'event=server.seccomp' "$SERVER_DIR/staunch.log" || fail "seccomp installation not logged"
grep -q 'event=server.privdrop' "$SERVER_DIR/staunch.log" || fail "privilege drop not logged"
got=$(python3 "$CLIENT" greet "$(port imap)") || fail "imap after the drop"
[[ $got == "* BYE "* ]] || fail "imap after the drop: $got"
"$STAUNCH_BIN" --config "$SERVER_DIR/staunch.conf" reload || fail "reload after the drop"
kill -HUP "$pid"
sleep 0.3
server_alive || fail "server died on SIGHUP"
stop_server || fail "unclean stop after the drop"
echo "ok privileges dropped"
