#!/usr/bin/env bash
# Staunch test entry point: what a developer runs and what CI runs (.ci/run calls this).
# Installs whatever is missing, then builds and tests:
#   1. clang + ASan/UBSan (+ -fsanitize=fuzzer-no-link, fuzz targets in the same tree):
#      every unit/conformance suite (store suites on every backend), fuzz smoke runs;
#   2. gcc -O2 -g: valgrind over the unit tests outside the store suites (CK_FORK=no),
#      the integration scenarios per profile of ci/matrix.txt and the quick-start smoke.
# Prints the time of each step and exits non-zero on any failure.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

JOBS=${JOBS:-$(nproc)}
BUILD=${STAUNCH_CI_BUILD:-$ROOT/build}
# Fuzz smoke: all targets together get FUZZ_BUDGET seconds (at most 5 minutes), split evenly,
# between 5 and 20 s each; FUZZ_SECONDS forces a per-target time.
FUZZ_BUDGET=${FUZZ_BUDGET:-240}
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60}

declare -a STEP_NAMES=() STEP_TIMES=() STEP_RESULTS=()
TOTAL_PASS=0
TOTAL_FAIL=0
FAILED=0

step() {
  local name=$1; shift
  local t0=$SECONDS rc
  echo "=== [$name] $(date -u +%H:%M:%S) start"
  "$@"
  rc=$?
  local dt=$((SECONDS - t0))
  STEP_NAMES+=("$name"); STEP_TIMES+=("$dt")
  if [ $rc -eq 0 ]; then
    STEP_RESULTS+=("ok")
    echo "=== [$name] ok in ${dt}s"
  else
    STEP_RESULTS+=("FAILED($rc)")
    FAILED=1
    echo "=== [$name] FAILED (exit $rc) in ${dt}s"
  fi
  return 0
}

# Count ctest results from its summary line "NN% tests passed, F tests failed out of T".
count_ctest() {
  local log=$1 line total failed
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  [ -n "$line" ] || return 0
  failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  TOTAL_PASS=$((TOTAL_PASS + total - failed))
  TOTAL_FAIL=$((TOTAL_FAIL + failed))
}

# Count "N passed, M failed" lines of our own runners.
count_plain() {
  local log=$1 line
  line=$(grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  [ -n "$line" ] || return 0
  TOTAL_PASS=$((TOTAL_PASS + $(sed -E 's/^([A-Za-z-]+: )?([0-9]+) passed.*/\2/' <<<"$line")))
  TOTAL_FAIL=$((TOTAL_FAIL + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
}

do_setup() { "$ROOT/ci/setup.sh"; }

do_build_asan() {
  cmake -S "$ROOT" -B "$BUILD/asan" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
    -DSTAUNCH_SANITIZE=ON -DSTAUNCH_FUZZ=ON -DSTAUNCH_PKG_JMAP=ON -DSTAUNCH_PKG_IMAP=ON \
    -DSTAUNCH_PKG_SMTP=ON >"$BUILD/asan-configure.log" 2>&1 || { cat "$BUILD/asan-configure.log"; return 1; }
  cmake --build "$BUILD/asan" -j"$JOBS" 2>&1 | grep -vE '^\[ *[0-9]+%\]' ; return "${PIPESTATUS[0]}"
}

do_build_gcc() {
  cmake -S "$ROOT" -B "$BUILD/gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g" >"$BUILD/gcc-configure.log" 2>&1 || { cat "$BUILD/gcc-configure.log"; return 1; }
  cmake --build "$BUILD/gcc" -j"$JOBS" 2>&1 | grep -vE '^\[ *[0-9]+%\]' ; return "${PIPESTATUS[0]}"
}

PG_DIR=""
start_pg() {
  [ -x "$ROOT/ci/pg.sh" ] || return 0
  PG_DIR=$(mktemp -d /tmp/staunch-pg.XXXXXX)
  local out
  out=$("$ROOT/ci/pg.sh" start "$PG_DIR") || { echo "$out"; return 1; }
  export STAUNCH_TEST_PG=$(tail -n 1 <<<"$out")
  export STAUNCH_TEST_PG_DIR=$PG_DIR
  echo "PostgreSQL for the store suites: $STAUNCH_TEST_PG"
}
stop_pg() {
  if [ -n "$PG_DIR" ]; then
    "$ROOT/ci/pg.sh" stop "$PG_DIR" >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=""
  fi
}
trap stop_pg EXIT

do_unit_asan() {
  # Every registered test: unit suites, conformance runners, fuzz seed-corpus replays.
  (cd "$BUILD/asan" && ctest -j"$JOBS" --output-on-failure --timeout 600) 2>&1 | tee "$BUILD/ctest-asan.log"
  local rc=${PIPESTATUS[0]}
  count_ctest "$BUILD/ctest-asan.log"
  return "$rc"
}

do_fuzz() {
  if [ ! -x "$ROOT/ci/fuzz-smoke.sh" ]; then
    echo "fuzz: ci/fuzz-smoke.sh missing"; return 1
  fi
  local n secs
  n=$(find "$BUILD/asan/fuzz" -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x 2>/dev/null | wc -l)
  secs=${FUZZ_SECONDS:-$(( n > 0 ? FUZZ_BUDGET / n : 20 ))}
  [ "$secs" -ge 5 ] || secs=5
  [ "$secs" -le 20 ] || secs=20
  echo "fuzz: $n targets, ${secs}s each"
  "$ROOT/ci/fuzz-smoke.sh" "$BUILD/asan" "$secs" 2>&1 | tee "$BUILD/fuzz.log"
  local rc=${PIPESTATUS[0]}
  count_plain "$BUILD/fuzz.log"
  return "$rc"
}

do_valgrind() {
  local pass=0 fail=0 t name
  # Unit tests outside the store suites (those run real databases and many threads).
  mapfile -t tests < <(cd "$BUILD/gcc" && ctest -N -L unit -LE store | sed -n 's/^ *Test *#[0-9]*: *//p')
  for name in "${tests[@]}"; do
    t=$(find "$BUILD/gcc/tests" -maxdepth 1 -type f -name "$name" | head -n 1)
    if [ -z "$t" ]; then echo "valgrind: $name not found"; fail=$((fail + 1)); continue; fi
    if (cd "$BUILD/gcc" && CK_FORK=no valgrind -q --error-exitcode=99 --leak-check=full \
          --suppressions="$ROOT/ci/valgrind.supp" \
          --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
          --track-fds=no "$t" >"$BUILD/valgrind-$name.log" 2>&1); then
      echo "valgrind: $name ok"; pass=$((pass + 1))
    else
      echo "valgrind: $name FAILED"; tail -n 40 "$BUILD/valgrind-$name.log"; fail=$((fail + 1))
    fi
  done
  echo "valgrind: $pass passed, $fail failed"
  TOTAL_PASS=$((TOTAL_PASS + pass)); TOTAL_FAIL=$((TOTAL_FAIL + fail))
  [ $fail -eq 0 ]
}

do_integration() {
  local bin="$BUILD/gcc/staunch"
  if [ ! -x "$ROOT/ci/run-integration.sh" ]; then
    echo "integration: ci/run-integration.sh missing"; return 1
  fi
  local rc=0 profile
  while read -r profile rest; do
    [[ -z "$profile" || "$profile" == \#* ]] && continue
    echo "--- profile $profile: $rest"
    STAUNCH_BIN=$bin STAUNCH_PROFILE="$profile $rest" "$ROOT/ci/run-integration.sh" 2>&1 | tee "$BUILD/integration-$profile.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
    count_plain "$BUILD/integration-$profile.log"
  done <"$ROOT/ci/matrix.txt"
  return $rc
}

do_interop() {
  local bin="$BUILD/gcc/staunch" rc=0 profile
  while read -r profile rest; do
    [[ -z "$profile" || "$profile" == \#* ]] && continue
    echo "--- profile $profile: $rest"
    STAUNCH_BIN=$bin STAUNCH_PROFILE="$profile $rest" "$ROOT/ci/run-interop.sh" 2>&1 | tee "$BUILD/interop-$profile.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
    count_plain "$BUILD/interop-$profile.log"
  done <"$ROOT/ci/matrix.txt"
  return $rc
}

do_quickstart() {
  QUICKSTART_NO_SERVE=1 QUICKSTART_BUILD_DIR="$BUILD/gcc" QUICKSTART_DATA="$BUILD/quickstart-data" \
    "$ROOT/ci/quickstart.sh"
}

mkdir -p "$BUILD"
T0=$SECONDS
step setup do_setup
step format "$ROOT/ci/check-format.sh"
step layers "$ROOT/ci/check-layers.sh"
step rfc-xref "$ROOT/ci/rfc-xref.sh"
step build-asan do_build_asan
# One PostgreSQL server for every suite that needs it (store, directory, mail store), kept
# until the end so the valgrind run reaches it too; stopped by the EXIT trap.
step postgres start_pg
step ctest-asan do_unit_asan
step fuzz-smoke do_fuzz
step build-gcc do_build_gcc
step valgrind do_valgrind
step integration do_integration
step interop do_interop
step quickstart do_quickstart

echo
echo "=== summary (total $((SECONDS - T0))s)"
for i in "${!STEP_NAMES[@]}"; do
  printf '  %-12s %6ss  %s\n' "${STEP_NAMES[$i]}" "${STEP_TIMES[$i]}" "${STEP_RESULTS[$i]}"
done
[ $FAILED -eq 0 ] || TOTAL_FAIL=$((TOTAL_FAIL > 0 ? TOTAL_FAIL : 1))
echo "test.sh: $TOTAL_PASS passed, $TOTAL_FAIL failed"
exit $FAILED
