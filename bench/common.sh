# Sourced by run.sh, profile.sh and compare.sh, after they set SCRIPT (their name in messages) and
# LOGS: LOG_ENV from LOGS (shipped: RUST_LOG unset; span: the request span without the access line;
# warn: RUST_LOG=warn), a scratch directory WORK,
# and the servers in PIDS, killed on exit with WORK removed.
case $LOGS in
  warn) LOG_ENV=(RUST_LOG=warn) ;;
  span) LOG_ENV=(RUST_LOG=info,protected_api::access=warn) ;;
  shipped) LOG_ENV=(-u RUST_LOG) ;;
  *) echo "$SCRIPT: LOGS is shipped, span or warn, not $LOGS" >&2; exit 2 ;;
esac
WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
