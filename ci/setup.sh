#!/usr/bin/env bash
# Install every Debian package Staunch needs to build, test and run.
# Idempotent: only calls apt-get when something is missing.
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake pkg-config clang libclang-rt-14-dev llvm clang-format
  valgrind strace python3 openssl curl iproute2 procps psmisc
  # core / net
  libevent-dev libssl-dev libseccomp-dev libunistring-dev libjansson-dev check
  # stores
  libsqlite3-dev librocksdb-dev libpq-dev postgresql libzstd-dev liblz4-dev
  # directory
  libldap2-dev libargon2-dev libcrypt-dev
  # directory tests: a real OpenLDAP server on loopback (tests/directory/test_dir_ldap.c)
  slapd ldap-utils
  # mail library (iconv comes with glibc); GMime is a test-only reference
  libgmime-3.0-dev
  # mail library: IDN A-label/U-label conversion of address domains
  libidn2-dev
  # SMTP interop peers and benchmark (interop/smtp-*, ci/bench/smtp): Postfix (with smtp-source
  # and smtp-sink), swaks (with its TLS module), msmtp, Dovecot's LMTP server; each test starts its own instance
  postfix swaks libnet-ssleay-perl msmtp dovecot-core dovecot-lmtpd
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "setup: installing ${missing[*]}"
# Keep package post-install scripts from starting system daemons (postgresql, slapd ...).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
