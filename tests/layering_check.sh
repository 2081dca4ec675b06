#!/usr/bin/env bash
# Fails when an #include breaks the layering of DESIGN.md §3: a folder including a folder
# above it or beside it, or a third-party library used outside the folders allowed for it.
set -u
root=${1:-.}
cd "$root" || exit 2

# Which of our folders each folder may include.
declare -A allowed_ours=(
  [core]="core"
  [config]="core config"
  [store]="core store"
  [net]="core net"
  [fetchers]="core fetchers"
  [notifiers]="core notifiers"
  [daemon]="core config store net fetchers notifiers daemon"
)
# Header prefix (regex) -> folders that may include it.
declare -A third_party=(
  ['curl/']="net"
  ['openssl/']=""
  ['gcrypt\.h']="core"
  ['sqlite3\.h']="store"
  ['zstd\.h']="store"
  ['xxhash\.h']="core"
  ['libpq-fe\.h']="store"
  ['toml\+\+/']="config"
  ['cmark-gfm']="fetchers notifiers"
  ['libxml/']="fetchers"
  ['boost/json']="fetchers notifiers store daemon"
  ['boost/asio']="daemon net"
  ['boost/beast']="daemon"
  ['systemd/']="daemon"
  ['spdlog/']="config store net fetchers notifiers daemon"
  ['utf8proc\.h']="core"
  ['re2/']="core"
  ['date/']="config daemon"
  ['kainjow/']="notifiers"
)

status=0
for folder in "${!allowed_ours[@]}"; do
  [ -d "$folder" ] || continue
  while IFS= read -r hit; do
    file=${hit%%:*}
    rest=${hit#*:}; line=${rest%%:*}
    [[ "$rest" =~ \#[[:space:]]*include[[:space:]]*[\<\"]([^\>\"]+) ]] || continue
    inc=${BASH_REMATCH[1]}
    ours=${inc%%/*}
    if [[ -n ${allowed_ours[$ours]+x} && "$inc" == */* ]]; then
      if [[ " ${allowed_ours[$folder]} " != *" $ours "* ]]; then
        echo "$file:$line: $folder/ may not include $inc (DESIGN.md §3)"; status=1
      fi
      continue
    fi
    for pattern in "${!third_party[@]}"; do
      if [[ "$inc" =~ ^$pattern ]] && [[ " ${third_party[$pattern]} " != *" $folder "* ]]; then
        echo "$file:$line: $folder/ may not include $inc (only: ${third_party[$pattern]})"; status=1
      fi
    done
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include' "$folder" --include='*.h' --include='*.cc')
done
[ $status -eq 0 ] && echo "layering: ok"
exit $status
