#!/usr/bin/env bash
# Clean release builds of the default binary and of the lean core (--no-default-features), each from
# an empty target directory: wall time, units compiled, binary size. Prints a markdown table and
# writes it to bench/results/build-time.md. Crates are downloaded first, so the network is not timed.
#
#   bash bench/build-time.sh                 # both builds
#   BUILDS=lean bash bench/build-time.sh     # one of: default lean
set -euo pipefail
cd "$(dirname "$0")/.."
builds=${BUILDS:-"default lean"}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/build-time.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cargo fetch --quiet
mkdir -p bench/results
rows=""
for build in $builds; do
  case $build in
    default) flags=() ;;
    lean) flags=(--no-default-features) ;;
    *) echo "unknown build: $build" >&2; exit 2 ;;
  esac
  target="$scratch/$build"
  log="$scratch/$build.log"
  start=$(date +%s.%N)
  cargo build --release --locked --offline "${flags[@]}" --target-dir "$target" 2>"$log"
  end=$(date +%s.%N)
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%d min %02d s", (b-a)/60, (b-a)%60 }')
  units=$(grep -c '^ *Compiling ' "$log" || true)
  crates=$(cargo tree -e normal --prefix none "${flags[@]}" | sed 's/ (\*)//' | sort -u | wc -l)
  size=$(stat -c %s "$target/release/protected-api")
  mib=$(awk -v s="$size" 'BEGIN { printf "%.1f MiB", s/1048576 }')
  echo "$build: $wall, $units units compiled, $crates crates in the normal graph, binary $mib" >&2
  rows+="| $build | ${flags[*]:-(none)} | $wall | $units | $crates | $mib |"$'\n'
done
table="| build | flags | clean build (wall) | units compiled | crates (normal graph) | binary |
|---|---|---|---|---|---|
$rows
Machine: $(nproc) cores, $(uname -m); $(date -u +%Y-%m-%dT%H:%MZ); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "$table" | tee bench/results/build-time.md
