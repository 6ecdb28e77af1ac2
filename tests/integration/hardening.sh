#!/usr/bin/env bash
# The server binary is built hardened (ARCHITECTURE.md §3, Privileges): a position-independent
# executable, full RELRO (BIND_NOW + GNU_RELRO), a non-executable stack, _FORTIFY_SOURCE checks
# and the stack protector linked in, and CET instrumentation (endbr64 at function entries from
# -fcf-protection=full). Debian 12's C runtime objects carry no CET property note, so the
# linker cannot mark the whole executable IBT/SHSTK; the instrumentation is checked instead.
# Sanitizer builds are not hardened builds: this scenario skips them.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
B=$STAUNCH_BIN
command -v readelf >/dev/null || { echo "SKIP: readelf missing"; exit 77; }
if nm "$B" 2>/dev/null | grep '__asan_init' >/dev/null; then echo "SKIP: sanitizer build"; exit 77; fi

readelf -h "$B" | grep -q 'Type:.*DYN' || fail "not a position-independent executable"
readelf -d "$B" | grep -q 'BIND_NOW' || fail "no BIND_NOW (partial RELRO only)"
readelf -d "$B" | grep -q 'FLAGS_1.*PIE' || fail "no PIE flag"
readelf -lW "$B" | grep -q 'GNU_RELRO' || fail "no GNU_RELRO segment"
stack=$(readelf -lW "$B" | awk '$1 == "GNU_STACK" {print $7}')
[ "$stack" = "RW" ] || fail "stack segment flags '$stack' (executable stack?)"
nm -D "$B" | grep '__stack_chk_fail' >/dev/null || fail "stack protector not linked"
nm -D "$B" | grep -E '__[a-z]+_chk@' >/dev/null || fail "no _FORTIFY_SOURCE checked functions"
entry=$(objdump -d --no-show-raw-insn "$B" | grep -A1 '<main>:' | tail -n 1)
grep -q 'endbr64' <<<"$entry" || fail "main does not start with endbr64: $entry"
echo "ok hardened: PIE, full RELRO, NX stack, stack protector, FORTIFY, CET instrumentation"
