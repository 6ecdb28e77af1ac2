#!/usr/bin/env bash
# Network namespaces as test hosts (a second "machine" for SMTP peers, DNS, ...).
#
#   ci/netns.sh create NAME ADDR    ADDR = 10.99.X.Y (X 0-255, Y 1-253)
#   ci/netns.sh destroy NAME
#
# create makes namespace NAME with loopback up and a veth pair: inside, ADDR/24 on
# interface "eth0"; on the host, 10.99.X.254/24 on "vh-NAME" (interface names are limited
# to 15 characters: NAME is therefore 1-12 characters).
# Only 10.99.0.0/16 is accepted: private, never routed. Run commands inside with
#   ip netns exec NAME COMMAND
# One namespace per 10.99.X.0/24 subnet. When namespaces cannot be used (no root, no
# CAP_NET_ADMIN, no iproute2, a container without netns support) it prints
# "network namespaces unavailable: <reason>" and exits 77 (the usual "skipped" status).
set -euo pipefail

skip() { echo "network namespaces unavailable: $*"; exit 77; }
die() { echo "netns.sh: $*" >&2; exit 2; }

host_if() { local n="vh-$1"; echo "${n:0:15}"; }

check_available() {
  command -v ip >/dev/null 2>&1 || skip "the ip command (iproute2) is not installed"
  [ "$(id -u)" -eq 0 ] || skip "not running as root"
  local out
  if ! out=$(ip netns list 2>&1); then
    skip "ip netns list failed: $out"
  fi
}

cmd_create() {
  [ $# -eq 2 ] || die "usage: netns.sh create NAME ADDR"
  local name=$1 addr=$2
  [[ $name =~ ^[A-Za-z0-9_-]{1,12}$ ]] || die "bad namespace name (1-12 of A-Za-z0-9_-): $name"
  [[ $addr =~ ^10\.99\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || die "ADDR must be 10.99.X.Y, got $addr"
  local x=${BASH_REMATCH[1]} y=${BASH_REMATCH[2]}
  { [ "$x" -le 255 ] && [ "$y" -ge 1 ] && [ "$y" -le 253 ]; } || die "ADDR out of range: $addr"
  check_available
  local hif out
  hif=$(host_if "$name")
  if ! out=$(ip netns add "$name" 2>&1); then
    skip "ip netns add $name failed: $out"
  fi
  if ! out=$(ip link add "$hif" type veth peer name eth0 netns "$name" 2>&1); then
    ip netns del "$name" 2>/dev/null || true
    skip "cannot create a veth pair: $out"
  fi
  ip addr add "10.99.$x.254/24" dev "$hif"
  ip link set "$hif" up
  ip -n "$name" link set lo up
  ip -n "$name" addr add "$addr/24" dev eth0
  ip -n "$name" link set eth0 up
  echo "netns $name: $addr (host side 10.99.$x.254 on $hif)"
}

cmd_destroy() {
  [ $# -eq 1 ] || die "usage: netns.sh destroy NAME"
  local name=$1 hif
  check_available
  hif=$(host_if "$name")
  ip link del "$hif" 2>/dev/null || true
  if ip netns list | awk '{print $1}' | grep -qx "$name"; then
    ip netns del "$name"
  fi
  echo "netns $name: destroyed"
}

case ${1:-} in
  create) shift; cmd_create "$@" ;;
  destroy) shift; cmd_destroy "$@" ;;
  *) echo "usage: ci/netns.sh create NAME ADDR | destroy NAME" >&2; exit 2 ;;
esac
