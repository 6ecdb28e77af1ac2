#!/usr/bin/env bash
# Check the include direction of ARCHITECTURE.md §1: a module may include only its own headers
# and those of the modules below it. Fails (exit 1) naming each offending file:line.
set -euo pipefail
cd "$(dirname "$0")/.."

# module: the modules it may include (besides itself).
declare -A ALLOWED=(
  [core]=""
  [net]="core"
  [mail]="core"
  [store]="core"
  [dns]="core"
  [directory]="core store"
  [sieve]="core mail"
  [msgauth]="core mail dns"
  [tls-policy]="core dns"
  [mailstore]="core store mail directory"
  [delivery]="core store mail directory mailstore sieve msgauth"
  [queue]="core net dns store mail directory msgauth tls-policy delivery"
  [smtp]="core net dns store mail directory mailstore sieve msgauth tls-policy delivery queue"
  [lmtp]="core net store mail directory mailstore delivery"
  [imap]="core net store mail directory mailstore"
  [pop3]="core net store mail directory mailstore"
  [managesieve]="core net store mail directory mailstore sieve"
  [http]="core net"
  [jmap]="core net http store mail directory mailstore sieve queue delivery"
  [admin]="core net http store directory mailstore queue"
  [server]="*"
)

fail=0
checked=0
for dir in src/*/; do
  mod=$(basename "$dir")
  if [ -z "${ALLOWED[$mod]+set}" ]; then
    echo "check-layers: module src/$mod is not in the layer table (ci/check-layers.sh)"
    fail=1
    continue
  fi
  allowed=" $mod ${ALLOWED[$mod]} "
  while IFS= read -r hit; do
    [ -n "$hit" ] || continue
    file=${hit%%:*}; rest=${hit#*:}; line=${rest%%:*}
    inc=$(printf '%s' "$rest" | sed -n 's/.*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p')
    checked=$((checked + 1))
    target=${inc%%/*}
    [ "$target" = "$inc" ] && continue # same-folder include without a module prefix
    # Only store/ itself and server/ may reach a backend (ARCHITECTURE.md §5).
    if [[ "$inc" == store/backends/* ]] && [ "$mod" != store ] && [ "$mod" != server ]; then
      echo "$file:$line: includes backend header \"$inc\" (only store/ and server/ may)"
      fail=1
      continue
    fi
    if [ "${ALLOWED[$mod]}" = "*" ]; then continue; fi
    if [[ "$allowed" != *" $target "* ]]; then
      echo "$file:$line: module '$mod' must not include \"$inc\" (allowed: ${ALLOWED[$mod]:-none})"
      fail=1
    fi
  done < <(grep -rn --include='*.c' --include='*.h' -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$dir" || true)
done

if [ $fail -ne 0 ]; then
  echo "check-layers: FAILED"
  exit 1
fi
echo "check-layers: OK ($checked includes checked)"
