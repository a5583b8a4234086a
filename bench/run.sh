#!/usr/bin/env bash
# The benchmark: protected-api and two peers side by side, one run, loopback only.
#   bash bench/run.sh            (ROUNDS=3 rounds of DURATION=5 seconds per workload, CONNECTIONS=50,
#                                 THREADS=1, LOGS=shipped, DPOP_PROOFS_PER_SECOND=30000)
# Every round runs every workload once, servers in turn, so that drift on a shared machine falls on
# all of them alike; rates are averaged over the rounds and every ratio compares those averages.
# Every row starts a fresh server, warms it up for 1 s, runs wrk for DURATION and reads the server's
# peak RSS (VmHWM) and its anonymous part at the end of the row (heap and stacks, without the
# program's own code pages). Results: a markdown table on stdout and in bench/results/latest.md, each
# round's rows in bench/results/rounds.md.
# LOGS=shipped (the default) leaves RUST_LOG unset, as shipped: the request span and one info line per
# request (to /dev/null, like every server's output here; LOG_FORMAT=json in the environment picks
# JSON). LOGS=warn runs protected-api with RUST_LOG=warn: span and line filtered out, for analysis.
# Every row but `invalid` must be answered 2xx, and `invalid` with non-2xx only: a row that is not is
# reported on stderr and in the ratios, and the script exits with status 1 once the results are written.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-1}
LOGS=${LOGS:-shipped}
# Proofs made per second of each DPoP row: more than the server can take, since a proof is sent once.
DPOP_PROOFS_PER_SECOND=${DPOP_PROOFS_PER_SECOND:-30000}
# The API refuses (429) a DPoP key's proofs past protected_api::auth::dpop::MAX_PROOFS_PER_KEY (50,000)
# per replay window: the DPoP row spreads its proofs (warm-up and run) over enough keys, each with its
# own bound token, that no key sends more than a tenth of that. Each token has its own subject, so the
# per-subject quota (MAX_PROOFS_PER_SUBJECT, 100,000) is not reached either.
DPOP_PROOFS_PER_KEY=5000
DPOP_KEYS=$(( (DPOP_PROOFS_PER_SECOND * (DURATION + 1) + DPOP_PROOFS_PER_KEY - 1) / DPOP_PROOFS_PER_KEY ))
SCRIPT=bench
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

need() { command -v "$1" >/dev/null || { echo "bench: $1 is missing (apt-get install $2)" >&2; exit 1; }; }
need wrk wrk
need openssl openssl

echo "building protected-api and the peers (release)…" >&2
cargo build --release --quiet
CARGO_TARGET_DIR=bench/target cargo build --release --quiet --manifest-path bench/Cargo.toml
BIN=$ROOT/target/release/protected-api
PEERS=$ROOT/bench/target/release

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_idp NAME KEYS TOKENS [OPAQUE]: a bench-idp in $WORK/NAME/ (issuer, valid, invalid files;
# DPOP_KEYS DPoP keys in dpop.pem and as many tokens in dpop, line N bound to key N; with OPAQUE > 0
# also an opaque file, tokens its introspection endpoint answers for).
start_idp() {
  local dir=$WORK/$1 opaque=()
  mkdir -p "$dir"
  [ "${4:-0}" -gt 0 ] && opaque=(--opaque "$4" --out-opaque "$dir/opaque")
  "$PEERS/bench-idp" --keys "$2" --tokens "$3" --invalid 5000 \
    --out-valid "$dir/valid" --out-invalid "$dir/invalid" --issuer-file "$dir/issuer" \
    --dpop-key "$dir/dpop.pem" --dpop-keys "$DPOP_KEYS" --out-dpop "$dir/dpop" "${opaque[@]}" &
  PIDS+=($!)
  until [ -s "$dir/issuer" ]; do sleep 0.2; done
  head -n 1 "$dir/valid" > "$dir/one"
}

# start_server KIND IDP PORT [ENV…]: protected-api or a peer, trusting bench-idp IDP; waits until up.
# IDP may be a comma-separated list (protected-api only): it trusts each issuer, each found through
# its discovery document (JWKS_URI is set only for one issuer, as the configuration requires).
start_server() {
  local kind=$1 idps=$2 port=$3; shift 3
  local issuer="" name
  for name in ${idps//,/ }; do issuer="${issuer:+$issuer, }$(cat "$WORK/$name/issuer")"; done
  local audience=https://api.example.test jwks=()
  [ "$idps" = "${idps%,*}" ] && jwks=(OIDC_JWKS_URI="$issuer/.well-known/jwks.json")
  case $kind in
    protected-api)
      : > "$WORK/empty.ini"
      (cd "$WORK" && exec env "${LOG_ENV[@]}" CONFIG_FILE="$WORK/empty.ini" AUTH_PROVIDER=oidc \
        OIDC_ISSUER="$issuer" OIDC_AUDIENCE=$audience "${jwks[@]}" \
        SERVER_HOST=127.0.0.1 SERVER_PORT="$port" "$@" "$BIN" serve) >/dev/null 2>&1 & ;;
    *)
      env PORT="$port" ISSUER="$issuer" AUDIENCE=$audience JWKS_URI="$issuer/.well-known/jwks.json" "$@" \
        "$PEERS/peer-$kind" >/dev/null 2>&1 & ;;
  esac
  SERVER=$!
  PIDS+=($SERVER)
  until curl -sf -o /dev/null "http://127.0.0.1:$port/api/public"; do sleep 0.1; done
}

# Per "KIND|LABEL": summed req/s, p50 and p99 of each round, summed non-2xx and requests, and the
# largest VmHWM and heap seen.
declare -A RPS P50S P99S NON2XX TOTAL HWM ANON
ROWS=()
# Rows whose answers were not what the row is meant to measure, one line each.
WRONG=()

# expect_answers KEY TOKENS NON2XX TOTAL: records KEY in WRONG, loudly, when a row meant to be
# answered 2xx (every one but TOKENS=invalid) had non-2xx answers, or the invalid row had 2xx ones.
expect_answers() {
  local key=$1 tokens=$2 non2xx=$3 total=$4 wrong=""
  if [ "$tokens" = invalid ]; then
    [ "$non2xx" -eq "$total" ] || wrong="$((total - non2xx))/$total answers 2xx, every one should be non-2xx"
  else
    [ "$non2xx" -eq 0 ] || wrong="$non2xx/$total answers non-2xx, every one should be 2xx"
  fi
  [ "$total" -gt 0 ] || wrong="no answer at all"
  if [ -n "$wrong" ]; then
    echo "$SCRIPT: WRONG ROW: round $ROUND, $key: $wrong (its rate does not measure the workload)" >&2
    WRONG+=("round $ROUND, $key: $wrong")
  fi
}

# proofs IDP URL COUNT FILE: COUNT fresh DPoP proofs for GET URL, in FILE as "TOKEN PROOF" lines,
# round-robin over IDP's DPoP keys, each proof with its key's bound token.
proofs() {
  "$PEERS/bench-proofs" --key "$WORK/$1/dpop.pem" --token-file "$WORK/$1/dpop" --url "$2" \
    --count "$3" --out "$4"
}

# row LABEL KIND IDP PATH TOKENS [ENV…]: one measured workload on a fresh server. TOKENS is none,
# a token file of IDP (valid, invalid, one), or dpop: IDP's bound tokens with a fresh proof per
# request, the proofs made once the server's URL is known, apart for the warm-up and the run (a proof
# is good once, and for about a minute). With a list of IDPs the tokens are the last one's.
row() {
  local label=$1 kind=$2 idp=$3 path=$4 tokens=$5; shift 5
  local key="$kind|$label" port; port=$(free_port)
  start_server "$kind" "$idp" "$port" "$@"
  local url="http://127.0.0.1:$port$path" file="" script=bench/lua/bearer.lua warm="" run=""
  [ "$tokens" != none ] && file=$WORK/${idp##*,}/$tokens
  if [ "$tokens" = dpop ]; then
    script=bench/lua/dpop.lua warm=$WORK/proofs-warm run=$WORK/proofs-run
    proofs "${idp##*,}" "$url" "$DPOP_PROOFS_PER_SECOND" "$warm"
    proofs "${idp##*,}" "$url" $((DPOP_PROOFS_PER_SECOND * DURATION)) "$run"
  fi
  TOKENS_FILE=$file PROOFS_FILE=$warm THREADS=$THREADS \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d1s -s "$script" "$url" >/dev/null
  local result
  result=$(TOKENS_FILE=$file PROOFS_FILE=$run THREADS=$THREADS \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$script" "$url" | grep '^RESULT')
  local hwm anon
  hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$SERVER/status")
  anon=$(awk '/^Anonymous/ {printf "%.1f", $2/1024}' "/proc/$SERVER/smaps_rollup")
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
  local rps p50 p99 non2xx total
  read -r _ rps p50 p99 non2xx total <<<"$result"
  expect_answers "$key" "$tokens" "$non2xx" "$total"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$ROUND" "$kind" "$label" "$rps" "$p50" "$p99" \
    "$non2xx/$total" "$hwm" "$anon" | tee -a "$WORK/rounds" >&2
  [ -n "${RPS[$key]:-}" ] || ROWS+=("$key")
  RPS[$key]=$(( ${RPS[$key]:-0} + rps ))
  P50S[$key]="${P50S[$key]:-} $p50"
  P99S[$key]="${P99S[$key]:-} $p99"
  NON2XX[$key]=$(( ${NON2XX[$key]:-0} + non2xx ))
  TOTAL[$key]=$(( ${TOTAL[$key]:-0} + total ))
  HWM[$key]=$(largest "${HWM[$key]:-0}" "$hwm")
  ANON[$key]=$(largest "${ANON[$key]:-0}" "$anon")
}

largest() { printf '%s\n' "$@" | sort -g | tail -1; }
median() { printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
mean_rps() { echo $(( ${RPS[$1]} / ROUNDS )); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
# mean_ratio KEY_A KEY_B: the mean rate of one row over another's.
mean_ratio() { ratio "$(mean_rps "$1")" "$(mean_rps "$2")"; }

start_idp one-key 1 5000
start_idp fifty-keys 50 5000
start_idp many-tokens 1 100000
start_idp second-issuer 1 10
start_idp opaque 1 10 1
# The opaque row: the service introspects at the endpoint bench-idp's discovery names, as the client
# it accepts (protected_api::testing::INTROSPECTION_CLIENT_ID/SECRET). The one token's answer is cached
# during the warm-up ([CACHE] INTROSPECTION_TTL, 60 s, outlasts the row), so the measured requests
# never leave the service.
INTROSPECTION=(OIDC_INTROSPECTION_CLIENT_ID=api-introspector OIDC_INTROSPECTION_CLIENT_SECRET='s3cret:with%chars')

{
  echo "# protected-api benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "\`ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS LOGS=$LOGS bash bench/run.sh\` on $(nproc) cores, $(uname -m)."
  echo "openssl speed rsa2048 (this machine's RSA ceiling, one core):"
  openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print "  sign/s " $6 ", verify/s " $7}'
} | tee "$WORK/head"
echo "| round | server | workload | req/s | p50 ms | p99 ms | non-2xx/total | VmHWM MiB | heap MiB |" > "$WORK/rounds"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|" >> "$WORK/rounds"

# /metrics is on by default; its cost is protected-api's row against the SERVER_METRICS=false row
# run right after it.
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  row public protected-api one-key /api/public none
  row public-metrics-off protected-api one-key /api/public none SERVER_METRICS=false
  row public jwt-authorizer one-key /api/public none
  row public handwritten one-key /api/public none
  row repeated protected-api one-key /api/private one
  row repeated-metrics-off protected-api one-key /api/private one SERVER_METRICS=false
  row repeated jwt-authorizer one-key /api/private one
  row repeated handwritten one-key /api/private one
  # The repeated row's cached token, as DPoP with a new ES256 proof per request: its cost is this row
  # against protected-api's repeated row.
  row dpop protected-api one-key /api/private dpop
  row distinct protected-api one-key /api/private valid
  row distinct-50-keys protected-api fifty-keys /api/private valid
  row distinct jwt-authorizer one-key /api/private valid
  row distinct handwritten one-key /api/private valid
  row invalid protected-api one-key /api/private invalid
  row invalid jwt-authorizer one-key /api/private invalid
  row invalid handwritten one-key /api/private invalid
  row distinct-100k protected-api many-tokens /api/private valid
  row opaque-cached protected-api opaque /api/private opaque "${INTROSPECTION[@]}"
  row two-issuers protected-api one-key,second-issuer /api/private one
done

{
  echo
  echo "Means of $ROUNDS rounds (req/s: mean; p50, p99: median round; non-2xx/total: summed; VmHWM, heap: largest):"
  echo
  echo "| server | workload | req/s | p50 ms | p99 ms | non-2xx/total | VmHWM MiB | heap MiB |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  for key in "${ROWS[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${key%%|*}" "${key#*|}" "$(mean_rps "$key")" \
      "$(median "${P50S[$key]}")" "$(median "${P99S[$key]}")" "${NON2XX[$key]}/${TOTAL[$key]}" \
      "${HWM[$key]}" "${ANON[$key]}"
  done
} | tee "$WORK/table"

{
  echo
  echo "Ratios of the means (targets in bench/README.md):"
  echo "- public: protected-api / handwritten: $(mean_ratio 'protected-api|public' 'handwritten|public') (≥ 0.9 with LOGS=shipped; this run LOGS=$LOGS), / jwt-authorizer: $(mean_ratio 'protected-api|public' 'jwt-authorizer|public')"
  echo "- private repeated / public (protected-api): $(mean_ratio 'protected-api|repeated' 'protected-api|public') (≥ 0.85)"
  echo "- DPoP (fresh ES256 proof per request) / Bearer repeated (protected-api): $(mean_ratio 'protected-api|dpop' 'protected-api|repeated'), / Bearer distinct: $(mean_ratio 'protected-api|dpop' 'protected-api|distinct')"
  echo "- distinct: protected-api / jwt-authorizer: $(mean_ratio 'protected-api|distinct' 'jwt-authorizer|distinct') (≥ 1.2)"
  echo "- distinct: protected-api / handwritten: $(mean_ratio 'protected-api|distinct' 'handwritten|distinct') (≥ 1.2)"
  echo "- invalid / valid distinct (protected-api): $(mean_ratio 'protected-api|invalid' 'protected-api|distinct') (≥ 1)"
  pa=$(largest "${HWM['protected-api|public']}" "${HWM['protected-api|repeated']}" "${HWM['protected-api|distinct']}" "${HWM['protected-api|invalid']}")
  ja=$(largest "${HWM['jwt-authorizer|public']}" "${HWM['jwt-authorizer|repeated']}" "${HWM['jwt-authorizer|distinct']}" "${HWM['jwt-authorizer|invalid']}")
  echo "- peak RSS protected-api / jwt-authorizer: $pa / $ja MiB = $(ratio "$pa" "$ja") (≤ 2)"
  echo "- heap at the end of distinct, protected-api / jwt-authorizer: ${ANON['protected-api|distinct']} / ${ANON['jwt-authorizer|distinct']} MiB"
  echo "- distinct, 50 keys / 1 key: $(mean_ratio 'protected-api|distinct-50-keys' 'protected-api|distinct') (≈ 1)"
  echo "- 100,000 distinct tokens: VmHWM ${HWM['protected-api|distinct-100k']} MiB (≤ 20) vs ${HWM['protected-api|distinct']} MiB for 5,000 (bounded cache)"
  echo "- opaque, cached / JWT repeated (protected-api): $(mean_ratio 'protected-api|opaque-cached' 'protected-api|repeated') (≥ 0.9)"
  echo "- two issuers, second issuer's token / one issuer, JWT repeated (protected-api): $(mean_ratio 'protected-api|two-issuers' 'protected-api|repeated') (≥ 0.9)"
  echo "- metrics on / off: public $(mean_ratio 'protected-api|public' 'protected-api|public-metrics-off'), repeated $(mean_ratio 'protected-api|repeated' 'protected-api|repeated-metrics-off') (≥ 0.95)"
  if [ ${#WRONG[@]} -eq 0 ]; then
    echo "- answers: every row as meant (2xx only; invalid: non-2xx only)"
  else
    for wrong in "${WRONG[@]}"; do echo "- WARNING, row not measuring its workload: $wrong"; done
  fi
} | tee "$WORK/ratios"

mkdir -p bench/results
cat "$WORK/head" "$WORK/table" "$WORK/ratios" > bench/results/latest.md
{ cat "$WORK/head"; echo; cat "$WORK/rounds"; } > bench/results/rounds.md
echo "written: bench/results/latest.md, bench/results/rounds.md" >&2
if [ ${#WRONG[@]} -gt 0 ]; then
  echo "$SCRIPT: FAILED: ${#WRONG[@]} row(s) had answers they are not meant to have (see the ratios)" >&2
  exit 1
fi
