#!/usr/bin/env bash
# Differential test of src/mail against GMime 3 (issue 5, item 8): builds mail_gmime_diff and
# lists every structural difference on conformance/mail/messages and the public MIME vectors.
# Fails when a difference is not explained in conformance/mail/gmime-expected-diffs.txt (see
# conformance/mail/DIFFERENCES.md, section GMime).
#   ci/mail-diff.sh [BUILD_DIR] [--quiet]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build/mail-diff
if [[ $# -gt 0 && $1 != --* ]]; then BUILD=$1; shift; fi
"$ROOT/ci/setup.sh" >/dev/null
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DSTAUNCH_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 --target mail_gmime_diff >/dev/null
"$BUILD/mail_gmime_diff" --allow "$ROOT/conformance/mail/gmime-expected-diffs.txt" "$@"
