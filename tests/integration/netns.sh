#!/usr/bin/env bash
# A client on another "host": a network namespace made by ci/netns.sh (10.99.42.2) reaches a
# listener bound to the host side of the veth (10.99.42.254), gets the refusal, and the
# server sees the namespace's address. Skipped (77) when namespaces are unavailable.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
NS=sit$$
out=$("$ROOT/ci/netns.sh" create "$NS" 10.99.42.2) || {
  rc=$?
  echo "$out"
  [ $rc -eq 77 ] && exit 77
  fail "ci/netns.sh create failed ($rc)"
}
echo "$out"
trap '"$ROOT/ci/netns.sh" destroy "$NS" >/dev/null 2>&1 || true; cleanup' EXIT
start_server --set 'listener.ext.protocol="smtp"' --set 'listener.ext.bind=["10.99.42.254:0"]' \
  --set 'log.level="debug"'
got=$(STAUNCH_TEST_HOST=10.99.42.254 ip netns exec "$NS" python3 "$CLIENT" greet "$(port ext)") ||
  fail "no answer across the namespace"
[[ $got == "421 4.3.2 localhost "* ]] || fail "greeting across the namespace: $got"
sleep 0.2
grep -q 'remote=10.99.42.2' "$SERVER_DIR/staunch.log" || fail "the server did not log the namespace's address"
# The loopback listeners are not reachable from the other host.
if STAUNCH_TEST_HOST=127.0.0.1 ip netns exec "$NS" python3 "$CLIENT" greet "$(port smtp)" >/dev/null 2>&1; then
  fail "a 127.0.0.1 listener answered from another network namespace"
fi
echo "ok client in a network namespace"
