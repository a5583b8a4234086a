#!/usr/bin/env bash
# Two or more builds of protected-api against the hand-written peer on one route, alternating in one
# run, so that drift on a shared machine falls on all of them alike:
#   bash bench/compare.sh BIN [BIN…]   (ROUNDS=4 rounds of DURATION=5 s, CONNECTIONS=50, THREADS=1,
#                                       URL_PATH=/api/public, LOGS=shipped)
# Each BIN is a protected-api binary (save one with `cp target/release/protected-api /tmp/before`
# before changing the code). LOGS as in run.sh, but shipped by default: RUST_LOG unset, one info line
# per request. Every row starts a fresh server, warms it up for 1 s and runs wrk for DURATION; each
# server's output goes to /dev/null. Prints every row, then each server's mean req/s, its range
# and its ratio to the hand-written peer's mean. Needs the peers bench/run.sh builds and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-1}
URL_PATH=${URL_PATH:-/api/public}
LOGS=${LOGS:-shipped}
[ $# -ge 1 ] || { echo "usage: bash bench/compare.sh BIN [BIN…]" >&2; exit 2; }
PEERS=$ROOT/bench/target/release
SCRIPT=compare
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$PEERS/bench-idp" --keys 1 --tokens 1 --invalid 1 --out-valid "$WORK/valid" \
  --out-invalid "$WORK/invalid" --issuer-file "$WORK/issuer" 2>/dev/null &
PIDS+=($!)
until [ -s "$WORK/issuer" ]; do sleep 0.2; done
issuer=$(cat "$WORK/issuer") audience=https://api.example.test
tokens=""
[ "$URL_PATH" = /api/public ] || tokens=$WORK/valid

# row NAME: one measured run of server NAME (a protected-api binary, or "handwritten").
declare -A SUM LOW HIGH
row() {
  local name=$1 port server; port=$(free_port)
  if [ "$name" = handwritten ]; then
    env PORT="$port" ISSUER="$issuer" AUDIENCE=$audience JWKS_URI="$issuer/.well-known/jwks.json" \
      "$PEERS/peer-handwritten" >/dev/null 2>&1 &
  else
    : > "$WORK/empty.ini"
    (cd "$WORK" && exec env "${LOG_ENV[@]}" CONFIG_FILE="$WORK/empty.ini" AUTH_PROVIDER=oidc \
      OIDC_ISSUER="$issuer" OIDC_AUDIENCE=$audience OIDC_JWKS_URI="$issuer/.well-known/jwks.json" \
      SERVER_HOST=127.0.0.1 SERVER_PORT="$port" "$name" serve) >/dev/null 2>&1 &
  fi
  server=$!
  PIDS+=($server)
  until curl -sf -o /dev/null "http://127.0.0.1:$port/api/public"; do sleep 0.1; done
  local url="http://127.0.0.1:$port$URL_PATH" rps
  TOKENS_FILE=$tokens wrk -t"$THREADS" -c"$CONNECTIONS" -d1s -s bench/lua/bearer.lua "$url" >/dev/null
  rps=$(TOKENS_FILE=$tokens wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s bench/lua/bearer.lua "$url" |
    awk '/^RESULT/ { print $2 }')
  kill "$server"; wait "$server" 2>/dev/null || true
  echo "round $ROUND: $name $rps"
  SUM[$name]=$(( ${SUM[$name]:-0} + rps ))
  [ "${LOW[$name]:-$rps}" -lt "$rps" ] || LOW[$name]=$rps
  [ "${HIGH[$name]:-0}" -gt "$rps" ] || HIGH[$name]=$rps
}

echo "ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS URL_PATH=$URL_PATH LOGS=$LOGS bash bench/compare.sh $*"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  for name in "$@" handwritten; do row "$name"; done
done
peer=$(( SUM[handwritten] / ROUNDS ))
for name in "$@" handwritten; do
  mean=$(( SUM[$name] / ROUNDS ))
  awk -v n="$name" -v m="$mean" -v lo="${LOW[$name]}" -v hi="${HIGH[$name]}" -v p="$peer" \
    'BEGIN { printf "%s: %d req/s (%d-%d), %.2f x handwritten\n", n, m, lo, hi, m / p }'
done
