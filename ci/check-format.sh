#!/usr/bin/env bash
# Fail when any C source of the project differs from .clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard -- 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'fuzz/*.c' 'fuzz/*.h' | sort -u)
bad=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "check-format: $f differs from .clang-format (run: clang-format -i $f)"
    bad=$((bad + 1))
  fi
done
if [ $bad -ne 0 ]; then
  echo "check-format: FAILED ($bad of ${#files[@]} files)"
  exit 1
fi
echo "check-format: OK (${#files[@]} files)"
