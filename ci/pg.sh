#!/usr/bin/env bash
# Start or stop a throw-away PostgreSQL server for the store tests (Debian's postgresql 15).
#   ci/pg.sh start DIR   initdb in DIR/data, start on a free loopback port, print a libpq
#                        connection string on stdout (everything else goes to stderr)
#   ci/pg.sh stop DIR    stop it (fast shutdown); DIR is left for the caller to remove
# initdb and postgres refuse to run as root, so as root they run as the `postgres` user via
# runuser; as another user they run as that user. The tests read the connection string
# from STAUNCH_TEST_PG.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  # A restart (stop, then start on the same DIR) keeps the port, so clients reconnect.
  if [ -f "$dir/port" ]; then port=$(cat "$dir/port"); else port=$(free_port); fi
  # Loopback only, socket in DIR; fsync stays on so crash tests mean something.
  as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >&2 ||
    { cat "$dir/server.log" >&2; exit 1; }
  echo "$port" >"$dir/port"
  echo "host=127.0.0.1 port=$port user=postgres dbname=postgres connect_timeout=5"
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >&2
  fi
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac
