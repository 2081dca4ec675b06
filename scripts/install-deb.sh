#!/usr/bin/env bash
# Builds the digestd .deb with CPack, installs it on this machine with dpkg -i, and checks
# the installed result: `digestd check` on /etc/digestd/digestd.toml (with placeholder
# secrets where the unit's LoadCredential= would put them), a `digestd once` as the digestd
# user on the bundled offline demo, and systemd-analyze verify / security --offline=true on
# the installed unit when systemd-analyze is there (PID 1 need not be systemd).
#   scripts/install-deb.sh [--build-dir DIR] [--no-build] [--purge-after]
# Run as root (dpkg -i). Prints the package's size and contents and the security score.
# The package stays installed unless --purge-after is given.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-deb"
do_build=1
purge_after=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$(realpath -m "$2"); shift 2 ;;
    --no-build) do_build=0; shift ;;
    --purge-after) purge_after=1; shift ;;
    *) echo "usage: $0 [--build-dir DIR] [--no-build] [--purge-after]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "install-deb.sh: run as root (dpkg -i)" >&2; exit 2; }

step() { printf '\n== %s\n' "$*"; }

if [ $do_build -eq 1 ]; then
  step "build and package in $build"
  # CPack packages for /usr whatever the build's own prefix: an existing build folder will do.
  if [ -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" >/dev/null
  else
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DDIGESTD_BUILD_TESTS=OFF -DDIGESTD_BUILD_BENCH=OFF >/dev/null
  fi
  nice ninja -C "$build" digestd
  (cd "$build" && cpack -G DEB >/dev/null)
fi
deb=$(ls -t "$build"/digestd_*.deb | head -n 1)

step "package $(basename "$deb"): $(stat -c %s "$deb") bytes"
dpkg-deb --field "$deb"
echo "-- contents"
dpkg-deb --contents "$deb" | awk '{print $1, $3, $6}'
echo "-- conffiles"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles

step "dpkg -i"
dpkg -i "$deb"
getent passwd digestd
ls -ld /etc/digestd /etc/digestd/digestd.toml /var/lib/digestd

step "digestd check (as the unit runs it, with its credentials)"
creds=$(mktemp -d)
trap 'rm -rf "$creds" "${demo:-}"' EXIT
printf 'placeholder-password\n' >"$creds/smtp-password"
printf 'https://hooks.slack.com/services/T000/B000/placeholder\n' >"$creds/slack-url"
chmod 0700 "$creds"; chown -R digestd:digestd "$creds"
digestd --version
runuser -u digestd -- env CREDENTIALS_DIRECTORY="$creds" /usr/bin/digestd check \
  --config /etc/digestd/digestd.toml
echo "check: exit 0"

step "digestd once as the digestd user (the offline demo)"
demo=$(mktemp -d)
cp -r /usr/share/doc/digestd/examples/demo/. "$demo/"
chown -R digestd:digestd "$demo"
runuser -u digestd -- /usr/bin/digestd once --config "$demo/digestd.toml" --date 2024-01-29 \
  --json >"$demo/once.out"
echo "once: exit 0, $(wc -l <"$demo/once.out") notification lines, state $(stat -c '%U %s' "$demo/demo-state.db") bytes"

step "the installed unit"
unit=/usr/lib/systemd/system/digestd.service
grep -E '^(ExecStart|ExecStartPre|WatchdogSec|User)=' "$unit"
[ -x "$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")" ] || { echo "ExecStart is not the binary" >&2; exit 1; }
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit"
  echo "verify: ok"
  systemd-analyze security --offline=true --threshold=20 "$unit" | tail -n 3
else
  echo "systemd-analyze: not installed; skipped"
fi

if [ $purge_after -eq 1 ]; then
  step "dpkg --purge digestd"
  dpkg --purge digestd
fi
