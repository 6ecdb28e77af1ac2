#!/usr/bin/env bash
# Run every integration scenario tests/integration/*.sh (each starts and stops its own
# server through ci/server.sh) and print PASS/FAIL/SKIP with the time of each, then a final
# line "N passed, M failed". A scenario exiting 77 is skipped (e.g. privdrop.sh when not
# root) and counts as neither, except in CI ($CI set), where ci/setup.sh provides everything
# and a skip counts as a failure.
#
#   STAUNCH_BIN=build/staunch ci/run-integration.sh [NAME...]
#
# STAUNCH_BIN: the binary under test (default: build/staunch, else the newest built one).
# STAUNCH_PROFILE: a line of ci/matrix.txt ("embedded data=rocksdb blob=fs ..."); its
#   key=value pairs become ci/server.sh options (--data rocksdb --blob fs ...).
# STAUNCH_IT_TIMEOUT: seconds allowed per scenario (default 300).
# NAME: run only these scenarios (e.g. greetings shutdown).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

if [ -z "${STAUNCH_BIN:-}" ]; then
  if [ -x "$ROOT/build/staunch" ]; then
    STAUNCH_BIN=$ROOT/build/staunch
  else
    STAUNCH_BIN=$(ls -t "$ROOT"/build*/staunch "$ROOT"/build*/*/staunch /tmp/build-*/staunch 2>/dev/null | head -n 1)
  fi
fi
if [ -z "$STAUNCH_BIN" ] || [ ! -x "$STAUNCH_BIN" ]; then
  echo "run-integration: no staunch binary (set STAUNCH_BIN)"
  echo "0 passed, 1 failed"
  exit 1
fi
STAUNCH_BIN=$(cd "$(dirname "$STAUNCH_BIN")" && pwd)/$(basename "$STAUNCH_BIN")
export STAUNCH_BIN

opts=""
for kv in ${STAUNCH_PROFILE:-}; do
  case $kv in
    data=*|blob=*|fts=*|lookup=*|directory=*) opts+=" --${kv%%=*} ${kv#*=}" ;;
  esac
done
export STAUNCH_SERVER_OPTS="${STAUNCH_SERVER_OPTS:-}$opts"

TIMEOUT=${STAUNCH_IT_TIMEOUT:-300}
LOGDIR=$(mktemp -d /tmp/staunch-it-logs.XXXXXX)
echo "integration: binary $STAUNCH_BIN${STAUNCH_PROFILE:+, profile $STAUNCH_PROFILE}; logs in $LOGDIR"

scripts=()
if [ $# -gt 0 ]; then
  for n in "$@"; do scripts+=("$ROOT/tests/integration/${n%.sh}.sh"); done
else
  scripts=("$ROOT"/tests/integration/*.sh)
fi

pass=0 fail=0 skip=0
for s in "${scripts[@]}"; do
  name=$(basename "$s" .sh)
  t0=$(date +%s%N)
  timeout --kill-after=10 "$TIMEOUT" bash "$s" >"$LOGDIR/$name.log" 2>&1
  rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  secs=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
  if [ $rc -eq 0 ]; then
    pass=$((pass + 1)); printf 'PASS %-16s %8ss\n' "$name" "$secs"
  elif [ $rc -eq 77 ] && [ -z "${CI:-}" ]; then
    skip=$((skip + 1)); printf 'SKIP %-16s %8ss  %s\n' "$name" "$secs" "$(tail -n 1 "$LOGDIR/$name.log")"
  else
    fail=$((fail + 1)); printf 'FAIL %-16s %8ss  (exit %d)\n' "$name" "$secs" "$rc"
    sed 's/^/    /' "$LOGDIR/$name.log" | tail -n 40
  fi
done
[ $skip -eq 0 ] || echo "($skip skipped)"
[ $fail -ne 0 ] || rm -rf "$LOGDIR"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
