#!/usr/bin/env bash
# The offline demo: installs what digestd needs, builds it, and runs one full cycle
# (`digestd once`) over the bundled example digests with fresh SQLite state. Matches are
# printed by the console notifier and written to examples/demo/matches.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIGESTD_BUILD_BENCH=OFF >/dev/null
cmake --build build --target digestd

demo=examples/demo
rm -f "$demo"/demo-state.db "$demo"/demo-state.db-wal "$demo"/demo-state.db-shm "$demo"/matches.jsonl

echo "== digestd check"
./build/daemon/digestd check --config "$demo/digestd.toml"
echo
echo "== digestd once --date 2024-01-29 (first run: fetch, parse, diff, match, notify)"
./build/daemon/digestd once --config "$demo/digestd.toml" --date 2024-01-29
echo
echo "== $demo/matches.jsonl (the file notifier)"
cat "$demo/matches.jsonl"
echo
echo "== digestd once again: nothing new, so nothing is notified"
./build/daemon/digestd once --config "$demo/digestd.toml" --date 2024-01-29
echo
echo "== digestd outbox list"
./build/daemon/digestd outbox list --config "$demo/digestd.toml"
