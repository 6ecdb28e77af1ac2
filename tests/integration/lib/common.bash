# Shared helpers of the integration scenarios (sourced, not run: not a *.sh file).
# Each scenario: source this, call start_server [ci/server.sh options], use port NAME, and
# the EXIT trap stops the server and removes the temporary directory.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
CLIENT="$ROOT/tests/integration/lib/client.py"
SERVER_DIR=""
PORTS=""
SERVER_STOPPED=0

find_staunch() {
  if [ -n "${STAUNCH_BIN:-}" ]; then echo "$STAUNCH_BIN"; return; fi
  if [ -x "$ROOT/build/staunch" ]; then echo "$ROOT/build/staunch"; return; fi
  ls -t "$ROOT"/build*/staunch "$ROOT"/build*/*/staunch /tmp/build-*/staunch 2>/dev/null | head -n 1
}
STAUNCH_BIN=$(find_staunch)
export STAUNCH_BIN

fail() {
  echo "FAIL: $*" >&2
  if [ -n "$SERVER_DIR" ] && [ -f "$SERVER_DIR/staunch.log" ]; then
    echo "--- last lines of $SERVER_DIR/staunch.log" >&2
    tail -n 15 "$SERVER_DIR/staunch.log" >&2
  fi
  exit 1
}

cleanup() {
  local rc=$?
  if [ -n "$SERVER_DIR" ] && [ $SERVER_STOPPED -eq 0 ] && [ -f "$SERVER_DIR/staunch.pid" ]; then
    "$ROOT/ci/server.sh" stop "$SERVER_DIR" >/dev/null 2>&1 || rc=1
  fi
  if [ -n "$SERVER_DIR" ]; then
    if [ $rc -eq 0 ] && [ -z "${KEEP_SERVER_DIR:-}" ]; then
      rm -rf "$SERVER_DIR"
    else
      echo "server directory kept: $SERVER_DIR" >&2
    fi
  fi
  exit $rc
}
trap cleanup EXIT

# The postgresql profile shares one PostgreSQL server: a scenario that keeps accounts and
# mail calls this before start_server to get a database of its own (its name goes into
# STAUNCH_TEST_PG, which ci/server.sh reads).
own_pg_database() {
  if [[ " ${STAUNCH_SERVER_OPTS:-} " == *" --data postgresql "* ]] && [ -n "${STAUNCH_TEST_PG:-}" ]; then
    local db
    db="staunch_$(basename "$0" .sh)_$$"
    psql "$STAUNCH_TEST_PG" -qc "CREATE DATABASE $db" >/dev/null || fail "CREATE DATABASE $db"
    export STAUNCH_TEST_PG="$STAUNCH_TEST_PG dbname=$db"
  fi
}

start_server() {
  SERVER_DIR=$(mktemp -d /tmp/staunch-it.XXXXXX)
  local out
  out=$("$ROOT/ci/server.sh" start "$SERVER_DIR" "$@") || fail "server did not start: $out"
  PORTS=$(tail -n 1 <<<"$out")
}

# The mail scenarios' start: a database of their own (own_pg_database), the server (start_server
# with these arguments) and the local domain example.org without a DKIM key. B and C name the
# binary and its configuration for the CLI calls that follow.
start_mail_server() {
  own_pg_database
  start_server "$@"
  B=$STAUNCH_BIN
  C=$SERVER_DIR/staunch.conf
  "$B" -c "$C" domain add example.org --no-dkim >/dev/null || fail "domain add"
}

# Stop explicitly (the scenario checks the result); the trap then does nothing.
stop_server() {
  SERVER_STOPPED=1
  "$ROOT/ci/server.sh" stop "$SERVER_DIR"
}

port() {
  python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$PORTS" "$1"
}

server_pid() { cat "$SERVER_DIR/staunch.pid"; }

server_alive() { kill -0 "$(server_pid)" 2>/dev/null; }
