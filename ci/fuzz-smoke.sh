#!/usr/bin/env bash
# Run every built libFuzzer target for a short time over its seed corpus.
#   ci/fuzz-smoke.sh BUILD_DIR [SECONDS_PER_TARGET]   (default 30 s)
# BUILD_DIR is a tree configured with -DSTAUNCH_FUZZ=ON (clang). Each target fuzz_<m>_<n>
# runs over a temporary copy of fuzz/corpus/<m>_<n>/ (the checked-in corpus is never
# modified) with fuzz/dict/<m>_<n>.dict when it exists. Crash inputs are kept in
# BUILD_DIR/fuzz-artifacts/<target>/. Prints one line per target and a "N passed, M failed"
# total; exits 1 if any target crashed, leaked, timed out or failed to start, 2 on bad usage.
set -uo pipefail

usage() {
  echo "usage: $0 BUILD_DIR [SECONDS_PER_TARGET]" >&2
  exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
build=$1
secs=${2:-30}
[[ "$secs" =~ ^[0-9]+$ ]] && [ "$secs" -gt 0 ] || usage
[ -d "$build" ] || { echo "fuzz-smoke: no build directory $build" >&2; exit 2; }
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/staunch-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

dir="$build/fuzz"
[ -d "$dir" ] || dir="$build"
mapfile -t targets < <(find "$dir" -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x 2>/dev/null | sort)
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz-smoke: no fuzz targets in $build (configure with -DSTAUNCH_FUZZ=ON)" >&2
  exit 1
fi

failed=0
npass=0
nfail=0
for exe in "${targets[@]}"; do
  target=$(basename "$exe")
  name=${target#fuzz_}
  corpus="$work/$target"
  mkdir -p "$corpus"
  if [ -d "$src/fuzz/corpus/$name" ]; then
    cp -R "$src/fuzz/corpus/$name/." "$corpus/"
  fi
  seeds=$(find "$corpus" -type f | wc -l)
  args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  if [ -f "$src/fuzz/dict/$name.dict" ]; then
    args+=(-dict="$src/fuzz/dict/$name.dict")
  fi
  artifacts="$build/fuzz-artifacts/$target"
  mkdir -p "$artifacts"
  log="$work/$target.log"
  start=$(date +%s)
  "$exe" "${args[@]}" -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    npass=$((npass + 1))
    echo "fuzz-smoke: $target ok ${took}s runs=${runs:-?} seeds=$seeds"
  else
    failed=1
    nfail=$((nfail + 1))
    echo "fuzz-smoke: $target FAILED (exit $rc) ${took}s seeds=$seeds, artifacts in $artifacts"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz check failed|artifact_prefix|Test unit written)' \
      "$log" | head -20 | sed 's/^/    /'
  fi
done
echo "fuzz-smoke: $npass passed, $nfail failed"
exit $failed
