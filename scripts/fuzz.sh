#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang-14, -fsanitize=fuzzer,address,undefined) in
# build-fuzz/ and runs each for DURATION seconds, seeded from tests/data and the saved
# regressions (tests/fuzz/targets.txt says which folders). Prints the executions and the
# findings per target; exits 1 when any target found something (the input is kept in
# build-fuzz/findings/TARGET/: add it to tests/fuzz/regressions/TARGET/ once fixed).
#
#   scripts/fuzz.sh DURATION [TARGET...]     e.g. scripts/fuzz.sh 600, scripts/fuzz.sh 30 chat
#
# The corpus each target grows is kept in build-fuzz/corpus/TARGET between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
duration=${1:?usage: scripts/fuzz.sh DURATION [TARGET...]}
shift
build=${DIGESTD_FUZZ_BUILD:-build-fuzz}
jobs=$(nproc 2>/dev/null || echo 2)

for tool in clang++-14 ninja; do
  command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool is missing (scripts/install-deps.sh)" >&2; exit 2; }
done

echo "== build fuzzers (clang-14, ASan+UBSan+libFuzzer) in $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14 -DDIGESTD_FUZZ=ON \
  -DDIGESTD_BUILD_TESTS=OFF -DDIGESTD_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target fuzzers

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

declare -a summary
status=0
while read -r name seeds; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  corpus="$build/corpus/$name"
  findings="$build/findings/$name"
  mkdir -p "$corpus" "$findings"
  dirs=("$root/tests/fuzz/regressions/$name")
  for s in $seeds; do dirs+=("$root/tests/data/$s"); done
  log="$build/fuzz-$name.log"
  echo "== fuzz $name for ${duration}s"
  rc=0
  "$build/tests/fuzz/${name}_fuzz" -max_total_time="$duration" -timeout=20 -rss_limit_mb=2560 \
    -print_final_stats=1 -artifact_prefix="$findings/" "$corpus" "${dirs[@]}" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  found=$(ls -A "$findings" | head -3 | tr '\n' ' ')
  if [ $rc -ne 0 ]; then
    status=1
    result="FINDING (exit $rc) ${found:-see $log}"
    grep -m5 -E 'ERROR|fuzz check failed|runtime error|SUMMARY' "$log" || true
  else
    result="ok"
  fi
  summary+=("$(printf '%-14s %12s executions  %s' "$name" "${execs:-?}" "$result")")
done < tests/fuzz/targets.txt

echo "== fuzz summary (${duration}s per target)"
printf '%s\n' "${summary[@]}"
exit $status
