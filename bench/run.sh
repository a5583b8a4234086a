#!/usr/bin/env bash
# The benchmark: protected-api and two peers side by side, one run, loopback only.
#   bash bench/run.sh            (DURATION=10 seconds per workload, CONNECTIONS=50, THREADS=1)
# Every row starts a fresh server, warms it up for 1 s, runs wrk for DURATION and reads the server's
# peak RSS (VmHWM) and its anonymous part at the end of the row (heap and stacks, without the
# program's own code pages). Results: a markdown table on stdout and in bench/results/latest.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-1}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "bench: $1 is missing (apt-get install $2)" >&2; exit 1; }; }
need wrk wrk
need openssl openssl

echo "building protected-api and the peers (release)…" >&2
cargo build --release --quiet
CARGO_TARGET_DIR=bench/target cargo build --release --quiet --manifest-path bench/Cargo.toml
BIN=$ROOT/target/release/protected-api
PEERS=$ROOT/bench/target/release

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_idp NAME KEYS TOKENS: a bench-idp in $WORK/NAME/ (issuer, valid, invalid files).
start_idp() {
  local dir=$WORK/$1
  mkdir -p "$dir"
  "$PEERS/bench-idp" --keys "$2" --tokens "$3" --invalid 5000 \
    --out-valid "$dir/valid" --out-invalid "$dir/invalid" --issuer-file "$dir/issuer" &
  PIDS+=($!)
  until [ -s "$dir/issuer" ]; do sleep 0.2; done
  head -n 1 "$dir/valid" > "$dir/one"
}

# start_server KIND IDP PORT [ENV…]: protected-api or a peer, trusting bench-idp IDP; waits until up.
start_server() {
  local kind=$1 issuer; issuer=$(cat "$WORK/$2/issuer"); local port=$3; shift 3
  local audience=https://api.example.test jwks="$issuer/.well-known/jwks.json"
  case $kind in
    protected-api)
      : > "$WORK/empty.ini"
      (cd "$WORK" && exec env CONFIG_FILE="$WORK/empty.ini" RUST_LOG=warn AUTH_PROVIDER=oidc \
        OIDC_ISSUER="$issuer" OIDC_AUDIENCE=$audience OIDC_JWKS_URI="$jwks" \
        SERVER_HOST=127.0.0.1 SERVER_PORT="$port" "$@" "$BIN" serve) >/dev/null 2>&1 & ;;
    *)
      env PORT="$port" ISSUER="$issuer" AUDIENCE=$audience JWKS_URI="$jwks" "$@" \
        "$PEERS/peer-$kind" >/dev/null 2>&1 & ;;
  esac
  SERVER=$!
  PIDS+=($SERVER)
  until curl -sf -o /dev/null "http://127.0.0.1:$port/api/public"; do sleep 0.1; done
}

# row LABEL KIND IDP PATH TOKENS [ENV…]: one measured workload on a fresh server.
row() {
  local label=$1 kind=$2 idp=$3 path=$4 tokens=$5; shift 5
  local port; port=$(free_port)
  start_server "$kind" "$idp" "$port" "$@"
  local url="http://127.0.0.1:$port$path" file=""
  [ "$tokens" != none ] && file=$WORK/$idp/$tokens
  TOKENS_FILE=$file wrk -t"$THREADS" -c"$CONNECTIONS" -d1s -s bench/lua/bearer.lua "$url" >/dev/null
  local result
  result=$(TOKENS_FILE=$file wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s bench/lua/bearer.lua "$url" | grep '^RESULT')
  local hwm anon
  hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$SERVER/status")
  anon=$(awk '/^Anonymous/ {printf "%.1f", $2/1024}' "/proc/$SERVER/smaps_rollup")
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
  read -r _ rps p50 p99 non2xx total <<<"$result"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$kind" "$label" "$rps" "$p50" "$p99" "$non2xx/$total" "$hwm" "$anon" | tee -a "$WORK/table"
  eval "RPS_${kind//-/_}_${label//[^a-z0-9]/_}=$rps; HWM_${kind//-/_}_${label//[^a-z0-9]/_}=$hwm; ANON_${kind//-/_}_${label//[^a-z0-9]/_}=$anon"
}

start_idp one-key 1 5000
start_idp fifty-keys 50 5000
start_idp many-tokens 1 100000

{
  echo "# protected-api benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "\`DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS bash bench/run.sh\` on $(nproc) cores, $(uname -m)."
  echo "openssl speed rsa2048 (this machine's RSA ceiling, one core):"
  openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print "  sign/s " $6 ", verify/s " $7}'
  echo
  echo "| server | workload | req/s | p50 ms | p99 ms | non-2xx/total | VmHWM MiB | heap MiB |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
} | tee "$WORK/head"

for kind in protected-api jwt-authorizer handwritten; do
  row public "$kind" one-key /api/public none
  row repeated "$kind" one-key /api/private one
  row distinct "$kind" one-key /api/private valid
  row invalid "$kind" one-key /api/private invalid
done
row distinct-50-keys protected-api fifty-keys /api/private valid
row distinct-100k protected-api many-tokens /api/private valid
# What /metrics costs: on and off in turn, three rounds, so that drift on a shared machine falls on
# both sides alike; the ratio compares the sums.
METRICS_ON_PUBLIC=0 METRICS_OFF_PUBLIC=0 METRICS_ON_REPEATED=0 METRICS_OFF_REPEATED=0
for round in 1 2 3; do
  row "public-metrics-on-$round" protected-api one-key /api/public none
  METRICS_ON_PUBLIC=$((METRICS_ON_PUBLIC + rps))
  row "public-metrics-off-$round" protected-api one-key /api/public none SERVER_METRICS=false
  METRICS_OFF_PUBLIC=$((METRICS_OFF_PUBLIC + rps))
  row "repeated-metrics-on-$round" protected-api one-key /api/private one
  METRICS_ON_REPEATED=$((METRICS_ON_REPEATED + rps))
  row "repeated-metrics-off-$round" protected-api one-key /api/private one SERVER_METRICS=false
  METRICS_OFF_REPEATED=$((METRICS_OFF_REPEATED + rps))
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
{
  echo
  echo "Ratios (targets in bench/README.md):"
  echo "- private repeated / public (protected-api): $(ratio "$RPS_protected_api_repeated" "$RPS_protected_api_public") (≥ 0.85)"
  echo "- distinct: protected-api / jwt-authorizer: $(ratio "$RPS_protected_api_distinct" "$RPS_jwt_authorizer_distinct") (≥ 1.2)"
  echo "- distinct: protected-api / handwritten: $(ratio "$RPS_protected_api_distinct" "$RPS_handwritten_distinct") (≥ 1.2)"
  echo "- invalid / valid distinct (protected-api): $(ratio "$RPS_protected_api_invalid" "$RPS_protected_api_distinct") (≥ 1)"
  max_hwm() { printf '%s\n' "$@" | sort -g | tail -1; }
  pa=$(max_hwm "$HWM_protected_api_public" "$HWM_protected_api_repeated" "$HWM_protected_api_distinct" "$HWM_protected_api_invalid")
  ja=$(max_hwm "$HWM_jwt_authorizer_public" "$HWM_jwt_authorizer_repeated" "$HWM_jwt_authorizer_distinct" "$HWM_jwt_authorizer_invalid")
  echo "- peak RSS protected-api / jwt-authorizer: $pa / $ja MiB = $(ratio "$pa" "$ja") (≤ 1)"
  echo "- heap at the end of distinct, protected-api / jwt-authorizer: $ANON_protected_api_distinct / $ANON_jwt_authorizer_distinct MiB"
  echo "- distinct, 50 keys / 1 key: $(ratio "$RPS_protected_api_distinct_50_keys" "$RPS_protected_api_distinct") (≈ 1)"
  echo "- 100,000 distinct tokens: VmHWM $HWM_protected_api_distinct_100k MiB vs $HWM_protected_api_distinct MiB for 5,000 (bounded cache)"
  echo "- metrics on / off, sums of 3 alternating rounds: public $(ratio "$METRICS_ON_PUBLIC" "$METRICS_OFF_PUBLIC"), repeated $(ratio "$METRICS_ON_REPEATED" "$METRICS_OFF_REPEATED") (≥ 0.95)"
} | tee "$WORK/ratios"

mkdir -p bench/results
cat "$WORK/head" "$WORK/table" "$WORK/ratios" > bench/results/latest.md
echo "written: bench/results/latest.md" >&2
