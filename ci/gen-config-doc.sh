#!/usr/bin/env bash
# Regenerate the key reference of docs/configuration.md from the binary's registered keys:
# the text between "<!-- BEGIN GENERATED REFERENCE -->" and "<!-- END GENERATED REFERENCE -->"
# is replaced by `staunch config keys --markdown`. tests/server/test_conf_doc.c fails when the
# file is out of date.
# The binary: $STAUNCH_BIN, else build/staunch, else the newest staunch under build*/ or
# /tmp/build-*/ (same lookup as ci/server.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOC="$ROOT/docs/configuration.md"

find_bin() {
  if [ -n "${STAUNCH_BIN:-}" ]; then echo "$STAUNCH_BIN"; return; fi
  if [ -x "$ROOT/build/staunch" ]; then echo "$ROOT/build/staunch"; return; fi
  ls -t "$ROOT"/build*/staunch "$ROOT"/build*/*/staunch /tmp/build-*/staunch 2>/dev/null | head -n 1
}
BIN=$(find_bin)
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
  echo "gen-config-doc: no staunch binary found (build it or set STAUNCH_BIN)" >&2
  exit 1
fi

GEN=$(mktemp)
trap 'rm -f "$GEN"' EXIT
"$BIN" config keys --markdown >"$GEN"

python3 - "$DOC" "$GEN" <<'PY'
import sys
doc_path, gen_path = sys.argv[1], sys.argv[2]
begin, end = "<!-- BEGIN GENERATED REFERENCE -->\n", "<!-- END GENERATED REFERENCE -->"
doc = open(doc_path, encoding="utf-8").read()
gen = open(gen_path, encoding="utf-8").read()
i = doc.find(begin)
j = doc.find(end, i + len(begin) if i >= 0 else 0)
if i < 0 or j < 0:
    sys.exit("gen-config-doc: markers missing in " + doc_path)
new = doc[: i + len(begin)] + gen + doc[j:]
if new != doc:
    open(doc_path, "w", encoding="utf-8").write(new)
    print("gen-config-doc: updated " + doc_path)
else:
    print("gen-config-doc: " + doc_path + " is up to date")
PY
