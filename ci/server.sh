#!/usr/bin/env bash
# Start and stop a Staunch server for tests, in a directory of its own.
#
#   ci/server.sh start DIR [--data B] [--blob B] [--fts B] [--lookup B]
#                          [--directory internal|ldap|sql] [--set KEY=VALUE]...
#   ci/server.sh stop DIR
#
# start writes DIR/staunch.conf (every listener on 127.0.0.1 port 0, so the kernel picks free
# ports and no test races for one; run-dir DIR/run, data-dir DIR/data, log DIR/staunch.log,
# plain-text auth allowed, 127.0.0.1 exempt from bans), starts the server in the background,
# writes DIR/staunch.pid, waits (at most 20 s) for DIR/run/ready and prints the content of
# DIR/run/ports.json, one JSON object {"smtp":PORT,...}, as the LAST line of its output.
# --set KEY=VALUE adds a top-level line `KEY = VALUE` (VALUE in file syntax, e.g.
# --set listener.smtp.max-connections-per-ip=50 or --set 'log.level="debug"'); a --set of
# runtime.event-threads, runtime.worker-threads or runtime.shutdown-grace replaces the test
# server's default for that key.
# The store and directory choices become the store.* and directory.type keys (postgresql takes
# its connection string from $STAUNCH_TEST_PG). Defaults come from $STAUNCH_SERVER_OPTS.
#
# stop sends SIGTERM, waits up to 10 s, then SIGKILL; it fails unless the server exited 0.
#
# The binary: $STAUNCH_BIN, else build/staunch, else the most recently built staunch under
# build*/ or /tmp/build-*/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "server.sh: $*" >&2; exit 1; }

find_bin() {
  if [ -n "${STAUNCH_BIN:-}" ]; then echo "$STAUNCH_BIN"; return; fi
  if [ -x "$ROOT/build/staunch" ]; then echo "$ROOT/build/staunch"; return; fi
  ls -t "$ROOT"/build*/staunch "$ROOT"/build*/*/staunch /tmp/build-*/staunch 2>/dev/null | head -n 1
}

toml_str() { # quote a string for the configuration file
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

cmd_start() {
  [ $# -ge 1 ] || die "usage: server.sh start DIR [options]"
  local dir=$1; shift
  # shellcheck disable=SC2206
  local -a opts=(${STAUNCH_SERVER_OPTS:-} "$@")
  local data=rocksdb blob=fs fts=data lookup=memory directory=internal
  local -a sets=()
  local i=0
  while [ $i -lt ${#opts[@]} ]; do
    local o=${opts[$i]} v=${opts[$((i + 1))]:-}
    case $o in
      --data) data=$v ;;
      --blob) blob=$v ;;
      --fts) fts=$v ;;
      --lookup) lookup=$v ;;
      --directory)
        case $v in internal|ldap|sql) directory=$v ;; *) die "--directory: internal, ldap or sql" ;; esac ;;
      --set) [[ $v == *=* ]] || die "--set needs KEY=VALUE"; sets+=("$v") ;;
      *) die "unknown option $o" ;;
    esac
    [ -n "$v" ] || die "$o needs a value"
    i=$((i + 2))
  done

  local bin
  bin=$(find_bin)
  [ -n "$bin" ] && [ -x "$bin" ] || die "no staunch binary (build it or set STAUNCH_BIN)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # When the server drops root privileges it must still reach its directories inside DIR.
  if [ "$(id -u)" -eq 0 ]; then chmod 0755 "$dir"; fi
  rm -f "$dir/run/ready" "$dir/run/ports.json" "$dir/staunch.exit"

  local conf=$dir/staunch.conf
  is_set() {
    local k
    for k in "${sets[@]+"${sets[@]}"}"; do [ "${k%%=*}" = "$1" ] && return 0; done
    return 1
  }
  {
    echo "# Written by ci/server.sh for a test server."
    echo "# Stores: data=$data blob=$blob fts=$fts lookup=$lookup; directory=$directory"
    local kv
    for kv in "${sets[@]+"${sets[@]}"}"; do
      echo "${kv%%=*} = ${kv#*=}"
    done
    echo
    echo "[server]"
    echo "hostname = \"localhost\""
    echo "data-dir = $(toml_str "$dir/data")"
    echo "run-dir = $(toml_str "$dir/run")"
    echo "spool-dir = $(toml_str "$dir/spool")"
    echo
    echo "[log]"
    echo "sink = \"file\""
    echo "file = $(toml_str "$dir/staunch.log")"
    echo
    # Runtime defaults of a test server; a --set of the same key replaces the default.
    echo "[runtime]"
    local rk rv
    for kv in event-threads=2 worker-threads=2 'shutdown-grace="2s"'; do
      rk=${kv%%=*} rv=${kv#*=}
      is_set "runtime.$rk" || echo "$rk = $rv"
    done
    echo
    echo "[store]"
    echo "data.backend = $(toml_str "$data")"
    if [ "$data" = postgresql ]; then
      [ -n "${STAUNCH_TEST_PG:-}" ] || die "--data postgresql needs STAUNCH_TEST_PG (ci/pg.sh start)"
      echo "data.url = $(toml_str "$STAUNCH_TEST_PG")"
    fi
    echo "blob.backend = $(toml_str "$blob")"
    echo "fts.backend = $(toml_str "$fts")"
    echo "lookup.backend = $(toml_str "$lookup")"
    echo
    echo "[directory]"
    echo "type = $(toml_str "$directory")"
    echo
    echo "[auth]"
    echo "allow-plain-text = true"
    echo "ban-exempt = [\"127.0.0.1\"]"
    local l name proto tls
    for l in smtp:smtp:starttls submissions:submission:implicit submission:submission:starttls \
             lmtp:lmtp:none imap:imap:starttls imaps:imap:implicit pop3:pop3:starttls \
             pop3s:pop3:implicit managesieve:managesieve:starttls https:http:implicit \
             http:http:none; do
      IFS=: read -r name proto tls <<<"$l"
      echo
      echo "[listener.$name]"
      echo "protocol = \"$proto\""
      echo "bind = [\"127.0.0.1:0\"]"
      echo "tls = \"$tls\""
    done
  } >"$conf"

  # The wrapper records the server's exit status for `stop`; its output goes to files so a
  # caller capturing our stdout is not held open by the background process.
  (
    "$bin" --config "$conf" serve &
    echo $! >"$dir/staunch.pid"
    rc=0
    wait $! || rc=$?
    echo "$rc" >"$dir/staunch.exit"
  ) >"$dir/staunch.out" 2>&1 </dev/null &

  local t
  for t in $(seq 1 200); do
    if [ -f "$dir/run/ready" ] && [ -s "$dir/run/ports.json" ]; then
      echo "server.sh: staunch $(cat "$dir/staunch.pid") ready in $dir (log $dir/staunch.log)"
      tail -n 1 "$dir/run/ports.json"
      return 0
    fi
    if [ -f "$dir/staunch.exit" ]; then
      echo "server.sh: staunch exited with status $(cat "$dir/staunch.exit") during start-up" >&2
      tail -n 20 "$dir/staunch.out" "$dir/staunch.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.1
  done
  echo "server.sh: no $dir/run/ready after 20 s" >&2
  tail -n 20 "$dir/staunch.out" "$dir/staunch.log" >&2 2>/dev/null || true
  return 1
}

cmd_stop() {
  [ $# -eq 1 ] || die "usage: server.sh stop DIR"
  local dir=$1
  [ -f "$dir/staunch.pid" ] || die "no $dir/staunch.pid"
  local pid
  pid=$(cat "$dir/staunch.pid")
  if [ ! -f "$dir/staunch.exit" ]; then
    kill -TERM "$pid" 2>/dev/null || true
  fi
  local t
  for t in $(seq 1 100); do
    [ -f "$dir/staunch.exit" ] && break
    sleep 0.1
  done
  if [ ! -f "$dir/staunch.exit" ]; then
    echo "server.sh: staunch $pid still running 10 s after SIGTERM: SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for t in $(seq 1 50); do [ -f "$dir/staunch.exit" ] && break; sleep 0.1; done
    return 1
  fi
  local rc
  rc=$(cat "$dir/staunch.exit")
  if [ "$rc" != 0 ]; then
    echo "server.sh: staunch $pid exited with status $rc" >&2
    tail -n 20 "$dir/staunch.out" >&2 2>/dev/null || true
    return 1
  fi
  echo "server.sh: staunch $pid stopped (status 0)"
}

case ${1:-} in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) echo "usage: ci/server.sh start DIR [--data B] [--blob B] [--fts B] [--lookup B] [--directory internal|ldap|sql] [--set KEY=VALUE]... | stop DIR" >&2; exit 2 ;;
esac
