#!/usr/bin/env bash
# Quick start (docs/install.md): install the build dependencies, build a Release binary,
# initialise a data directory on first run (the administrator password is printed once),
# then run the server in the foreground with that configuration.
#
#   ci/quickstart.sh
#
# QUICKSTART_NO_SERVE=1     build and initialise, but do not start the server (CI).
# QUICKSTART_BUILD_DIR=DIR  build directory (default: build-release/ in the source tree).
# QUICKSTART_DATA=DIR       data directory (default: ./staunch-data).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${QUICKSTART_BUILD_DIR:-$ROOT/build-release}
DATA=${QUICKSTART_DATA:-$PWD/staunch-data}

echo "quickstart: installing dependencies (ci/setup.sh)"
"$ROOT/ci/setup.sh"

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  echo "quickstart: configuring a Release build in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSTAUNCH_TESTS=OFF >/dev/null
fi
echo "quickstart: building staunch"
cmake --build "$BUILD" -j"$(nproc)" --target staunch
BIN=$BUILD/staunch
[ -x "$BIN" ] || { echo "quickstart: $BIN was not built" >&2; exit 1; }

CONF=$DATA/staunch.conf
if [ ! -f "$CONF" ]; then
  "$BIN" init "$DATA"
else
  echo "quickstart: using the existing $CONF (the administrator password was shown when it was created)"
fi
"$BIN" --config "$CONF" config check

if [ -n "${QUICKSTART_NO_SERVE:-}" ] && [ "${QUICKSTART_NO_SERVE}" != 0 ]; then
  echo "quickstart: QUICKSTART_NO_SERVE set: not starting the server. Start it with:"
  echo "  $BIN --config $CONF serve"
  exit 0
fi
echo "quickstart: starting the server in the foreground (Ctrl-C stops it)"
exec "$BIN" --config "$CONF" serve
