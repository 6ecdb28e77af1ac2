# A private Postfix instance for tests and the benchmark (sourced, not run).
#
#   pf_start DIR PORT [MAIN_CF_LINE]...   write DIR/etc/{main,master}.cf, start the instance
#                                         with its smtpd on 127.0.0.1:PORT and pickup (sendmail)
#   pf_sendmail DIR ARGS...               Postfix's sendmail against that instance
#   pf_wait_empty DIR SECONDS             wait until its queue holds nothing
#   pf_stop DIR                           stop it (safe to call twice, or when never started)
#
# Everything (configuration, queue, data, log DIR/maillog) lives under DIR; nothing is written
# to /etc/postfix and no system daemon is involved. Postfix needs root to start its master;
# the daemons run as the postfix user, so DIR is made traversable.

pf_start() {
  local dir=$1 port=$2
  shift 2
  mkdir -p "$dir/etc" "$dir/queue" "$dir/data"
  chmod 0755 "$dir"
  chown postfix "$dir/data"
  {
    echo "# Private test instance written by interop/smtp-common/postfix.bash"
    echo "compatibility_level = 3.6"
    echo "myhostname = relay.interop.test"
    echo "mydomain = interop.test"
    echo "myorigin = \$myhostname"
    echo "mydestination ="
    echo "inet_interfaces = 127.0.0.1"
    echo "inet_protocols = ipv4"
    echo "mynetworks = 127.0.0.0/8"
    echo "queue_directory = $dir/queue"
    echo "data_directory = $dir/data"
    echo "meta_directory = /etc/postfix"
    echo "mail_owner = postfix"
    echo "setgid_group = postdrop"
    echo "alias_maps ="
    echo "alias_database ="
    echo "local_transport = error:local delivery disabled"
    echo "relayhost ="
    echo "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination"
    echo "smtpd_banner = \$myhostname ESMTP"
    echo "biff = no"
    echo "maillog_file = $dir/maillog"
    echo "maillog_file_prefixes = $dir"
    local line
    for line in "$@"; do echo "$line"; done
  } >"$dir/etc/main.cf"
  cat >"$dir/etc/master.cf" <<EOF
# service   type  private unpriv chroot wakeup maxproc command
127.0.0.1:$port inet n     -      n      -      -       smtpd
pickup      unix  n       -      n      60     1       pickup
cleanup     unix  n       -      n      -      0       cleanup
qmgr        unix  n       -      n      300    1       qmgr
tlsmgr      unix  -       -      n      1000?  1       tlsmgr
rewrite     unix  -       -      n      -      -       trivial-rewrite
bounce      unix  -       -      n      -      0       bounce
defer       unix  -       -      n      -      0       bounce
trace       unix  -       -      n      -      0       bounce
verify      unix  -       -      n      -      1       verify
flush       unix  n       -      n      1000?  0       flush
proxymap    unix  -       -      n      -      -       proxymap
proxywrite  unix  -       -      n      -      1       proxymap
smtp        unix  -       -      n      -      -       smtp
relay       unix  -       -      n      -      -       smtp
showq       unix  n       -      n      -      -       showq
error       unix  -       -      n      -      -       error
retry       unix  -       -      n      -      -       error
discard     unix  -       -      n      -      -       discard
lmtp        unix  -       -      n      -      -       lmtp
anvil       unix  -       -      n      -      1       anvil
scache      unix  -       -      n      -      1       scache
postlog     unix-dgram n  -      n      -      1       postlogd
EOF
  # postfix start reports its errors on a terminal only; keep its output for the caller.
  if ! postfix -c "$dir/etc" start >"$dir/start.out" 2>&1; then
    echo "postfix start failed:" >&2
    cat "$dir/start.out" >&2
    tail -n 20 "$dir/maillog" >&2 2>/dev/null
    return 1
  fi
  for _ in $(seq 1 50); do
    postfix -c "$dir/etc" status >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "postfix did not come up" >&2
  tail -n 20 "$dir/maillog" >&2 2>/dev/null
  return 1
}

pf_sendmail() {
  local dir=$1
  shift
  /usr/sbin/sendmail -C "$dir/etc" "$@"
}

# The queue is empty when no file is left under its message directories.
pf_queue_count() {
  find "$1/queue/incoming" "$1/queue/active" "$1/queue/deferred" "$1/queue/maildrop" \
    "$1/queue/hold" -type f 2>/dev/null | wc -l
}

pf_wait_empty() {
  local dir=$1 secs=$2
  for _ in $(seq 1 $((secs * 10))); do
    [ "$(pf_queue_count "$dir")" -eq 0 ] && return 0
    sleep 0.1
  done
  echo "postfix queue not empty after $secs s:" >&2
  postqueue -c "$dir/etc" -p >&2 2>/dev/null
  return 1
}

pf_stop() {
  local dir=$1
  [ -f "$dir/etc/main.cf" ] || return 0
  local pidf=$dir/queue/pid/master.pid pid=""
  [ -f "$pidf" ] && pid=$(tr -dc 0-9 <"$pidf")
  postfix -c "$dir/etc" stop >/dev/null 2>&1 || true
  # Wait for the master to be gone so the next instance finds its ports free.
  if [ -n "$pid" ]; then
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  return 0
}
