#!/usr/bin/env bash
# jsonwebtoken's two crypto backends, built and measured in one run (bench/crypto):
#   bash bench/crypto.sh         (ROUNDS=3 rounds of SECONDS_PER_ALG=2 seconds per algorithm)
# Build: each backend with `cargo build --release` from an empty target directory
# (bench/crypto/target-BACKEND, removed afterwards), under `nice -n 10`; wall time, CPU time (user +
# sys of cargo and everything it ran), crates compiled (the "Compiling" lines) and binary size. The
# crates are downloaded first, so no build pays for the network. `--timings` reports are kept as
# bench/results/crypto-timings-BACKEND.html.
# Speed: decode + verify of an RS256 (2048-bit), an ES256 and an EdDSA token, SECONDS_PER_ALG seconds
# each; the backends alternate (the first of a round goes second in the next), so drift on a shared
# machine falls on both. Mean verifies/s over the rounds, with the lowest and highest round.
# Results: a markdown table on stdout and in bench/results/crypto.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECONDS_PER_ALG=${SECONDS_PER_ALG:-2}
BACKENDS=(aws-lc rust-crypto)
MANIFEST=bench/crypto/Cargo.toml
OUT=bench/results/crypto.md
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; for b in "${BACKENDS[@]}"; do rm -rf "bench/crypto/target-$b"; done' EXIT
mkdir -p bench/results

echo "downloading the crates of both builds…" >&2
cargo fetch --locked --manifest-path "$MANIFEST" >&2

# The unit of a `--timings` report that took longest, e.g. "aws-lc-sys build script, 155 s".
slowest_unit() {
  python3 - "$1" <<'EOF'
import json, re, sys
html = open(sys.argv[1]).read()
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\n\]);", html, re.S).group(1))
unit = max(units, key=lambda unit: unit["duration"])
kind = " build script" if "build-script" in unit["target"] else ""
print(f"{unit['name']}{kind}, {unit['duration']:.0f} s")
EOF
}

# Build: one markdown row per backend in $WORK/build.
: > "$WORK/build"
for backend in "${BACKENDS[@]}"; do
  dir=bench/crypto/target-$backend
  rm -rf "$dir"
  echo "building $backend from an empty target directory…" >&2
  TIMEFORMAT='%R %U %S'
  { time nice -n 10 cargo build --release --locked --timings --manifest-path "$MANIFEST" \
      --no-default-features --features "$backend" --target-dir "$dir" 2>"$WORK/log-$backend"; } \
    2>"$WORK/time-$backend" || { cat "$WORK/log-$backend" >&2; exit 1; }
  read -r wall user sys < "$WORK/time-$backend"
  crates=$(grep -c '^ *Compiling ' "$WORK/log-$backend")
  bytes=$(stat -c %s "$dir/release/crypto-bench")
  slowest=$(slowest_unit "$dir/cargo-timings/cargo-timing.html")
  cp "$dir/release/crypto-bench" "$WORK/crypto-bench-$backend"
  cp "$dir/cargo-timings/cargo-timing.html" "bench/results/crypto-timings-$backend.html"
  rm -rf "$dir"
  awk -v b="$backend" -v w="$wall" -v u="$user" -v s="$sys" -v c="$crates" -v n="$bytes" -v slow="$slowest" \
    'BEGIN { printf "| %s | %.0f | %.0f | %d | %.0f | %s |\n", b, w, u + s, c, n / 1024, slow }' >> "$WORK/build"
done

# Speed: "RESULT backend alg verifies seconds rate" lines from every round in $WORK/speed.
: > "$WORK/speed"
for round in $(seq 1 "$ROUNDS"); do
  if (( round % 2 )); then order=("${BACKENDS[@]}"); else order=("${BACKENDS[1]}" "${BACKENDS[0]}"); fi
  for backend in "${order[@]}"; do
    echo "round $round/$ROUNDS: $backend…" >&2
    "$WORK/crypto-bench-$backend" --seconds "$SECONDS_PER_ALG" | grep '^RESULT' >> "$WORK/speed"
  done
done

{
  echo "### Run of $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "\`ROUNDS=$ROUNDS SECONDS_PER_ALG=$SECONDS_PER_ALG bash bench/crypto.sh\` on $(nproc) cores, $(uname -m)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end (the machine was shared: compare within this run)."
  echo "jsonwebtoken $(awk '/^name = "jsonwebtoken"/ { getline; gsub(/[^0-9.]/, ""); print }' bench/crypto/Cargo.lock)," \
    "release profile as protected-api's (fat LTO, one codegen unit)."
  echo
  echo "Build from an empty target directory (\`nice -n 10 cargo build --release\`; CPU = user + sys):"
  echo
  echo "| backend | wall s | CPU s | crates compiled | binary KiB | slowest unit (wall) |"
  echo "|---|---:|---:|---:|---:|---|"
  cat "$WORK/build"
  echo
  echo "Decode + verify of one token, verifies/s on one core: mean of $ROUNDS rounds (lowest–highest round):"
  echo
  echo "| algorithm | ${BACKENDS[0]} | ${BACKENDS[1]} | ${BACKENDS[1]} / ${BACKENDS[0]} |"
  echo "|---|---:|---:|---:|"
  awk -v a="${BACKENDS[0]}" -v b="${BACKENDS[1]}" '
    { key = $2 "|" $3; sum[key] += $6; n[key]++
      if (!(key in lo) || $6 < lo[key]) lo[key] = $6
      if (!(key in hi) || $6 > hi[key]) hi[key] = $6
      if (!($3 in seen)) { seen[$3] = 1; algs[++count] = $3 } }
    function cell(k) { return sprintf("%.0f (%.0f–%.0f)", sum[k] / n[k], lo[k], hi[k]) }
    END {
      for (i = 1; i <= count; i++) {
        ka = a "|" algs[i]; kb = b "|" algs[i]
        printf "| %s | %s | %s | %.2f |\n", algs[i], cell(ka), cell(kb), (sum[kb] / n[kb]) / (sum[ka] / n[ka])
      }
    }' "$WORK/speed"
} | tee "$OUT"
