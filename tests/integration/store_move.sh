#!/usr/bin/env bash
# `staunch store export|import`: a populated RocksDB deployment (a domain with DKIM keys, an
# account with an alias) moves to SQLite and back. The dump is deterministic, so the export of
# each stage must be byte-identical; the accounts are readable after each move; import into a
# store that is not empty is refused; a damaged dump is refused with nothing written.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
T=$(mktemp -d /tmp/staunch-move.XXXXXX)
trap 'rc=$?; if [ $rc -eq 0 ]; then rm -rf "$T"; else echo "kept $T" >&2; fi; exit $rc' EXIT
B=$STAUNCH_BIN

"$B" init "$T/a" --hostname mail.example.test >/dev/null 2>&1 || fail "init"
A="$T/a/staunch.conf"
"$B" -c "$A" domain add example.org >/dev/null || fail "domain add"
"$B" -c "$A" account add alice@example.org --password 'a secret' --alias al@example.org >/dev/null ||
  fail "account add"
"$B" -c "$A" store export "$T/1.dump" || fail "export from rocksdb"
[ -s "$T/1.dump" ] || fail "empty dump"
[ ! -e "$T/1.dump.tmp" ] || fail "temporary file left behind"

conf_for() { # DIR BACKEND
  mkdir -p "$1"
  cat >"$1/staunch.conf" <<CONF
[server]
hostname = "mail.example.test"
data-dir = "$1"
run-dir = "$1/run"

[store]
data.backend = "$2"
blob.backend = "data"
CONF
}
conf_for "$T/b" sqlite
"$B" -c "$T/b/staunch.conf" store import "$T/1.dump" || fail "import into sqlite"
"$B" -c "$T/b/staunch.conf" account show alice@example.org | grep -q 'al@example.org' ||
  fail "alias missing after the move to sqlite"
"$B" -c "$T/b/staunch.conf" store export "$T/2.dump" || fail "export from sqlite"
cmp -s "$T/1.dump" "$T/2.dump" || fail "rocksdb and sqlite dumps differ"

# Back to a fresh RocksDB store.
conf_for "$T/c" rocksdb
"$B" -c "$T/c/staunch.conf" store import "$T/2.dump" || fail "import into rocksdb"
"$B" -c "$T/c/staunch.conf" store export "$T/3.dump" || fail "export from the second rocksdb"
cmp -s "$T/1.dump" "$T/3.dump" || fail "round trip changed the dump"

# Import goes into an empty store only.
if "$B" -c "$T/c/staunch.conf" store import "$T/2.dump" 2>"$T/err"; then
  fail "import into a non-empty store accepted"
fi
# A damaged dump is refused before any write. The middle byte is inverted (writing a fixed
# byte there changed nothing when the dump already held it, e.g. inside a PEM key).
cp "$T/1.dump" "$T/bad.dump"
python3 - "$T/bad.dump" <<'PY' || fail "damaging the dump"
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(0, 2)
    mid = f.tell() // 2
    f.seek(mid)
    b = f.read(1)
    f.seek(mid)
    f.write(bytes([b[0] ^ 0xFF]))
PY
cmp -s "$T/1.dump" "$T/bad.dump" && fail "the dump was not changed"
conf_for "$T/d" sqlite
if "$B" -c "$T/d/staunch.conf" store import "$T/bad.dump" 2>"$T/err"; then
  fail "damaged dump accepted"
fi
"$B" -c "$T/d/staunch.conf" store import "$T/1.dump" || fail "store not left empty by the refused import"
echo "ok store move rocksdb -> sqlite -> rocksdb"
