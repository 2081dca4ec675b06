#!/usr/bin/env bash
# Installs every Debian 12 package digestd needs to build, test and benchmark.
# Idempotent: packages already present are left alone. Run as root.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ninja-build
  libboost1.81-dev libboost-json1.81-dev
  libcurl4-openssl-dev
  libcmark-gfm-dev libcmark-gfm-extensions-dev
  libtomlplusplus-dev
  libspdlog-dev libfmt-dev
  libsqlite3-dev sqlite3 libzstd-dev libxxhash-dev
  libutf8proc-dev libre2-dev libxml2-dev libsystemd-dev libgcrypt20-dev
  libhowardhinnant-date-dev tzdata
  libgtest-dev libgmock-dev libbenchmark-dev
  libkainjow-mustache-dev
  python3 python3-aiosmtpd python3-jsonschema openssl
  # The libFuzzer targets (scripts/fuzz.sh, which scripts/test.sh runs briefly).
  clang-14 libclang-rt-14-dev libfuzzer-14-dev
  # The PostgreSQL backend of the state (issue 14): libpq to build it, and a server plus psql
  # for its tests, which start a throwaway server of their own (tests/support/pg_server.py).
  # The package may create and start a default cluster; the tests never use it.
  libpq-dev postgresql-15 postgresql-client-15
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
