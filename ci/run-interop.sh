#!/usr/bin/env bash
# Run every interop/*/run.sh against $STAUNCH_BIN (profile options from $STAUNCH_PROFILE, as
# for ci/run-integration.sh). Prints PASS/FAIL/SKIP and the time of each peer, then
# "N passed, M failed". Exit 77 from a run.sh means its peer is not installed (a skip, which
# fails the run in CI, where ci/setup.sh installs every peer).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOGDIR=$(mktemp -d /tmp/staunch-interop-logs.XXXXXX)
opts=()
for kv in ${STAUNCH_PROFILE:-}; do
  case $kv in
    *=*) opts+=("--${kv%%=*}" "${kv#*=}") ;;
  esac
done
export STAUNCH_SERVER_OPTS="${opts[*]:-}"
pass=0 fail=0 skip=0
for run in "$ROOT"/interop/*/run.sh; do
  [ -x "$run" ] || continue
  name=$(basename "$(dirname "$run")")
  t0=$(date +%s%N)
  "$run" >"$LOGDIR/$name.log" 2>&1
  rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  dt=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
  if [ $rc -eq 0 ]; then
    printf 'PASS %-20s %ss\n' "$name" "$dt"; pass=$((pass + 1))
  elif [ $rc -eq 77 ] && [ -z "${CI:-}" ]; then
    printf 'SKIP %-20s %s\n' "$name" "$(tail -n 1 "$LOGDIR/$name.log")"; skip=$((skip + 1))
  else
    printf 'FAIL %-20s %ss (exit %d)\n' "$name" "$dt" "$rc"; tail -n 30 "$LOGDIR/$name.log"
    fail=$((fail + 1))
  fi
done
echo "interop logs in $LOGDIR"
[ $skip -eq 0 ] || echo "($skip skipped)"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
