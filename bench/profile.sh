#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: unlike req/s, the count does not move
# with whatever else the machine is doing, so two builds can be compared on a shared machine.
#   bash bench/profile.sh [SERVER] [PATH] [REQUESTS]
# SERVER is protected-api (default), handwritten or jwt-authorizer; PATH /api/public (default) or
# /api/private (then with one valid token, so cached after the first request); REQUESTS 2000.
# It starts the server under callgrind, sends 300 requests to warm it up, zeroes the counters, sends
# REQUESTS more on one keep-alive connection and prints the instructions per request. The profile is
# left in bench/results/callgrind.SERVER (read it with `callgrind_annotate --inclusive=yes`).
# LOGS=shipped (the default) leaves RUST_LOG unset, as shipped: the request span and one info line per
# request, written to /dev/null (LOG_FORMAT=json in the environment picks the JSON format); LOGS=warn
# runs protected-api with RUST_LOG=warn, span and line filtered out.
# Needs the binaries bench/run.sh builds, valgrind and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SERVER=${1:-protected-api}
URL_PATH=${2:-/api/public}
REQUESTS=${3:-2000}
PEERS=$ROOT/bench/target/release
BIN=${BIN:-$ROOT/target/release/protected-api}
LOGS=${LOGS:-shipped}
SCRIPT=profile
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
command -v valgrind >/dev/null || { echo "profile: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }

# send PORT COUNT: COUNT requests on one keep-alive connection, each checked.
send() {
  python3 - "$1" "$2" "$URL_PATH" "$(head -n 1 "$WORK/valid")" <<'PY'
import http.client, sys
port, count, path, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
connection = http.client.HTTPConnection("127.0.0.1", port)
headers = {"Authorization": "Bearer " + token} if path != "/api/public" else {}
for _ in range(count):
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    assert response.status == 200, response.status
PY
}

"$PEERS/bench-idp" --keys 1 --tokens 1 --invalid 1 --out-valid "$WORK/valid" \
  --out-invalid "$WORK/invalid" --issuer-file "$WORK/issuer" 2>/dev/null &
PIDS+=($!)
until [ -s "$WORK/issuer" ]; do sleep 0.2; done
issuer=$(cat "$WORK/issuer") audience=https://api.example.test
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
out=$ROOT/bench/results/callgrind.$SERVER
mkdir -p bench/results
rm -f "$out" "$out".*
callgrind=(valgrind --tool=callgrind "--callgrind-out-file=$out")
case $SERVER in
  protected-api)
    : > "$WORK/empty.ini"
    (cd "$WORK" && exec env "${LOG_ENV[@]}" CONFIG_FILE="$WORK/empty.ini" AUTH_PROVIDER=oidc \
      OIDC_ISSUER="$issuer" OIDC_AUDIENCE=$audience OIDC_JWKS_URI="$issuer/.well-known/jwks.json" \
      SERVER_HOST=127.0.0.1 SERVER_PORT="$port" "${callgrind[@]}" "$BIN" serve) >/dev/null 2>&1 & ;;
  *)
    env PORT="$port" ISSUER="$issuer" AUDIENCE=$audience JWKS_URI="$issuer/.well-known/jwks.json" \
      "${callgrind[@]}" "$PEERS/peer-$SERVER" >/dev/null 2>&1 & ;;
esac
server=$!
PIDS+=($server)
until curl -sf -o /dev/null "http://127.0.0.1:$port/api/public"; do sleep 0.3; done
send "$port" 300
callgrind_control --zero "$server" >/dev/null 2>&1
send "$port" "$REQUESTS"
callgrind_control --dump "$server" >/dev/null 2>&1
total=$(callgrind_annotate "$out".1 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
if [ "$SERVER" = protected-api ]; then logs=", LOGS=$LOGS"; else logs=""; fi
echo "$SERVER $URL_PATH: $((total / REQUESTS)) instructions per request ($REQUESTS requests$logs)"
