# A private Dovecot LMTP server for the SMTP benchmark (sourced, not run).
#
#   dc_start DIR PORT DOMAIN USER...   write DIR/dovecot.conf and start Dovecot with only its LMTP
#                                      service, on 127.0.0.1:PORT, delivering to maildirs under
#                                      DIR/mail/<user>/Maildir
#   dc_count DIR USER                  messages delivered to USER's maildir
#   dc_stop DIR                        stop it (safe to call twice, or when never started)
#
# Dovecot's master starts as root and delivers as the unprivileged user $DC_MAIL_USER (default
# nobody); the standard dovecot and dovenull users of the package run its internal services.

dc_start() {
  local dir=$1 port=$2 domain=$3
  shift 3
  local mailuser=${DC_MAIL_USER:-nobody}
  mkdir -p "$dir/run" "$dir/mail"
  chmod 0755 "$dir"
  chown "$mailuser" "$dir/mail"
  : >"$dir/users"
  local u
  for u in "$@"; do
    echo "$u:{PLAIN}unused::::::" >>"$dir/users"
  done
  chmod 0644 "$dir/users"
  cat >"$dir/dovecot.conf" <<EOF
# Private benchmark instance written by ci/bench/smtp.d/dovecot.bash
protocols = lmtp
listen = 127.0.0.1
base_dir = $dir/run
instance_name = staunch-bench-dovecot
log_path = $dir/dovecot.log
ssl = no
auth_username_format = %Ln
mail_uid = $mailuser
mail_gid = $(id -gn "$mailuser")
first_valid_uid = 1
mail_location = maildir:$dir/mail/%n/Maildir
mail_home = $dir/mail/%n
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $dir/users
}
userdb {
  driver = passwd-file
  args = username_format=%n $dir/users
  default_fields = home=$dir/mail/%n
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $port
  }
}
service auth {
  unix_listener auth-userdb {
    mode = 0666
  }
}
protocol lmtp {
  postmaster_address = postmaster@$domain
}
EOF
  if ! dovecot -c "$dir/dovecot.conf" >"$dir/start.out" 2>&1; then
    echo "dovecot start failed:" >&2
    cat "$dir/start.out" "$dir/dovecot.log" >&2 2>/dev/null
    return 1
  fi
  for _ in $(seq 1 50); do
    [ -s "$dir/run/master.pid" ] && return 0
    sleep 0.1
  done
  echo "dovecot did not come up" >&2
  return 1
}

dc_count() {
  find "$1/mail/$2/Maildir/new" "$1/mail/$2/Maildir/cur" -type f 2>/dev/null | wc -l
}

dc_stop() {
  local dir=$1
  [ -s "$dir/run/master.pid" ] || return 0
  local pid
  pid=$(tr -dc 0-9 <"$dir/run/master.pid")
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
