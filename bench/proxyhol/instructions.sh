#!/usr/bin/env bash
# bench/proxyhol/instructions.sh: user-space instructions per proxied request
# of dally's reverse proxy (the dallyproxy bench binary), counted by
# valgrind's callgrind, in front of nginx `return 200` (one worker).
#
#   bench/proxyhol/instructions.sh [-n REQUESTS] [-c CONNS] [-r ROUNDS] [--annotate]
#
# The runner is bench/instructions' (instr_server), as for dally's server:
# the proxy runs twice per round, once proxying N keep-alive GET /
# (bench/reqs, C connections, every response checked) and once proxying
# none but idling as long as the first run took, so startup, shutdown and
# the runtime's background work cancel:
#   instructions/request = (I(N requests) - I(0 requests)) / N,
# on CPU 1 with GOMAXPROCS=1 and asyncpreemptoff, the proxy exiting at the
# end of its stdin (-exit-on-eof). The origin and reqs run on CPU 0.
# --annotate prints callgrind_annotate's top functions (exclusive, per
# request) of the last N-request run. Counts and logs: bench/out/proxyinstr-*.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../lib.sh
source "$BENCH_DIR/lib.sh"
# shellcheck source=../instructions/instructions.sh
source "$BENCH_DIR/instructions/instructions.sh"

INSTR_N=10000
INSTR_CONNS=8
INSTR_ROUNDS=1
ANNOTATE=0
while [ $# -gt 0 ]; do
  case $1 in
    -n) INSTR_N=$2; shift 2 ;;
    -c) INSTR_CONNS=$2; shift 2 ;;
    -r | --rounds) INSTR_ROUNDS=$2; shift 2 ;;
    --annotate) ANNOTATE=1; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "instructions.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
for v in INSTR_N INSTR_CONNS INSTR_ROUNDS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "instructions.sh: $v must be a positive integer" >&2; exit 2; }
done
((INSTR_N <= 200000 && INSTR_ROUNDS <= 10 && INSTR_CONNS <= INSTR_N)) ||
  { echo "instructions.sh: at most 200000 requests and 10 rounds, conns <= requests" >&2; exit 2; }

OUT="$BENCH_DIR/out/proxyinstr-$(date -u +%Y%m%dT%H%M%SZ)"
BIN="$OUT/bin"
mkdir -p "$OUT/logs" "$BIN"
TMPD=$(mktemp -d /tmp/dally-proxyinstr.XXXXXX)
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_tools nginx:nginx valgrind:valgrind callgrind_annotate:valgrind taskset:util-linux
log "building"
(cd "$BENCH_DIR" && go build -o "$BIN/" ./proxyhol/dallyproxy ./reqs)

declare -A PORT=([dallyproxy]=18193)
ORIGIN_ADDR=127.0.0.1:18194
export DALLYPROXY_UPSTREAM="http://$ORIGIN_ADDR"

mkdir -p "$TMPD/origin"
"$BENCH_DIR/servers/nginx/genconf" "$TMPD/origin" "$ORIGIN_ADDR" >/dev/null
taskset -c 0 nginx -p "$TMPD/origin" -c "$TMPD/origin/nginx.conf" -e "$TMPD/origin/error.log" >>"$OUT/logs/origin.log" 2>&1 &
STARTED+=("$!")
"$BIN/reqs" -target "$ORIGIN_ADDR" -wait 10s -n 1 >/dev/null || { log "nginx origin did not start"; exit 1; }

rows="$OUT/instructions.tsv"
printf 'round\tserver\tmode\trequests\tconns\tinstr_n\tinstr_0\tper_request\n' >"$rows"
for ((r = 1; r <= INSTR_ROUNDS; r++)); do
  instr_server "$r" dallyproxy callgrind >>"$rows" || { log "round $r failed"; exit 1; }
done
med=$(awk -F'\t' 'NR > 1 {print $8}' "$rows" | median)
echo "dallyproxy: $med instructions per proxied request (callgrind, user space; $INSTR_N keep-alive GET / over $INSTR_CONNS connections, median of $INSTR_ROUNDS rounds; origin nginx return 200)"
if ((ANNOTATE)); then
  # instr_run leaves its counts in TMPD: keep the last N-request run's.
  last=$(ls -t "$TMPD"/instr.dallyproxy."$INSTR_N".*.count | head -1)
  cp "$last" "$OUT/callgrind.out"
  callgrind_annotate --inclusive=no --threshold=99 --auto=no "$OUT/callgrind.out" 2>/dev/null |
    sed -n '/file:function/,$p' | sed -n '3,60p' | sed 's/ \[[^]]*\]$//' |
    awk -v n="$INSTR_N" '{c = $1; gsub(",", "", c); $1 = ""; $2 = ""; printf "%7.0f %s\n", c / n, $0}'
fi
log "results in $OUT"
