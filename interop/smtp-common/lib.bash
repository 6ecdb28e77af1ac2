# Shared helpers of the SMTP interop folders (sourced by interop/smtp-*/run.sh, not run).
# On top of tests/integration/lib/common.bash (start_server, port, fail, the EXIT trap that
# stops the server), this gives:
#   need CMD...               exit 77 (peer missing) unless every CMD is installed
#   sctl ARGS...              the staunch CLI against the test server's configuration
#   WORK                      a scratch directory, removed at exit unless the run failed
#   at_exit CMD               run CMD (a string) at exit, before the server is stopped
#   TAG, DOMAIN               names unique to this run: the mail domain $DOMAIN, and logins
#                             NAME-$TAG (the postgresql profile shares one database between
#                             the servers of a run, so nothing may clash with an earlier test)
#   add_users NAME...         add $DOMAIN and one account NAME-$TAG, address NAME@$DOMAIN,
#                             password "pw-NAME", per NAME
#   store_export              stop the server (it must exit 0) and export its stores to
#                             $WORK/store.dump
#   store_check ADDRESS ARGS  storecheck.py check on that dump (see storecheck.py)
#   crlf FILE                 FILE with every line ending turned into CRLF (on stdout)
COMMON_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../tests/integration/lib/common.bash
source "$COMMON_DIR/../../tests/integration/lib/common.bash"

need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || { echo "SKIP: $c not installed (ci/setup.sh)"; exit 77; }
  done
}

sctl() { "$STAUNCH_BIN" --config "$SERVER_DIR/staunch.conf" "$@"; }

WORK=$(mktemp -d /tmp/staunch-interop-smtp.XXXXXX)
chmod 0755 "$WORK"
AT_EXIT=()
at_exit() { AT_EXIT+=("$1"); }
smtp_interop_exit() {
  local rc=$1 c
  set +e # (exit rc) below must not end the handler before the server is stopped
  for c in "${AT_EXIT[@]+"${AT_EXIT[@]}"}"; do eval "$c" || true; done
  if [ "$rc" -eq 0 ] && [ -z "${KEEP_SERVER_DIR:-}" ]; then rm -rf "$WORK"; else echo "scratch kept: $WORK" >&2; fi
  (exit "$rc")
  cleanup
}
trap 'smtp_interop_exit $?' EXIT

TAG=$(printf '%04x%04x' $RANDOM $RANDOM)
DOMAIN=$TAG.example.test

add_users() {
  local n
  sctl domain add "$DOMAIN" --no-dkim >/dev/null || fail "domain add $DOMAIN"
  for n in "$@"; do
    sctl account add "$n-$TAG" --password "pw-$n" --address "$n@$DOMAIN" >/dev/null ||
      fail "account add $n-$TAG"
  done
}

store_export() {
  stop_server >/dev/null || fail "the server did not stop cleanly"
  sctl store export "$WORK/store.dump" >/dev/null || fail "store export"
}

store_check() {
  python3 "$COMMON_DIR/storecheck.py" check "$WORK/store.dump" "$@"
}

crlf() { sed 's/\r$//; s/$/\r/' "$1"; }
