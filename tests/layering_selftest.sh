#!/usr/bin/env bash
# Shows that layering_check.sh can fail: a tree with two violations must be rejected with
# both named, and the same tree without them accepted.
set -u
here=$(cd "$(dirname "$0")" && pwd)
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree"/{core,fetchers,store,net}
printf '#include <curl/curl.h>\n' > "$tree/core/bad.h"
printf '#include "store/state_store.h"\n' > "$tree/fetchers/bad.cc"
printf '#include <curl/curl.h>\n#include "core/paper.h"\n' > "$tree/net/good.cc"

out=$(bash "$here/layering_check.sh" "$tree"); rc=$?
[ $rc -eq 1 ] || { echo "expected exit 1, got $rc: $out"; exit 1; }
grep -q "core/bad.h:1: core/ may not include curl/curl.h" <<<"$out" || { echo "missed curl in core: $out"; exit 1; }
grep -q "fetchers/bad.cc:1: fetchers/ may not include store/state_store.h" <<<"$out" || { echo "missed store in fetchers: $out"; exit 1; }

rm "$tree/core/bad.h" "$tree/fetchers/bad.cc"
out=$(bash "$here/layering_check.sh" "$tree") || { echo "clean tree rejected: $out"; exit 1; }
echo "layering self-test: ok"
