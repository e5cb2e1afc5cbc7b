#!/usr/bin/env bash
# bench/lab/wrk.sh: `dally load` against wrk on the same nginx, in the same
# run: interleaved, ROUNDS rounds (order rotating), medians; every tool's
# connection and request counts beside nginx's own (stub_status). nginx is the
# bench's anchor (bench/servers/nginx/genconf: one worker, return 200
# "Hello, World!") on a free loopback port. PIN=1 (default) gives nginx CPU 1
# and the client CPU 0: wrk -t1, dally load with GOMAXPROCS=1.
#
#   bench/lab/run wrk            # C=50 D=10 ROUNDS=3
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
C=${C:-50} D=${D:-10} ROUNDS=${ROUNDS:-3} PIN=${PIN:-1}
# NICE (default -10 when root): nginx and both clients run at this nice
# value, so that on a shared machine the other tenants' processes take less
# of the CPU the comparison is about. Same value for every tool.
NICE=${NICE:-$([ "$(id -u)" = 0 ] && echo -10 || echo 0)}
out=${OUT:-$(mktemp -d /tmp/dally-lab-wrk.XXXXXX)}
mkdir -p "$out"
"$root/scripts/need" wrk nginx curl /usr/bin/time:time taskset:util-linux python3 >&2

pids=()
# AWAKE=1 (default): a busy loop at nice 19 on each CPU for the length of
# the run. On a VM a CPU with nothing to run halts, and waking it for the
# next batch of responses costs more than the batch: a client that parks in
# epoll_wait (wrk) pays it on every round trip, Go's scheduler (which spins
# briefly before parking) mostly does not, and the rates then measure the
# hypervisor. At nice 19 the loops take the CPU only when nothing else
# wants it.
AWAKE=${AWAKE:-1}
if ((AWAKE)); then
  for cpu in $(seq 0 $(($(nproc) - 1))); do
    nice -n 19 taskset -c "$cpu" sh -c 'while :; do :; done' &
    pids+=($!)
  done
fi
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# Tools: wrk, dally load (-transport raw, the default) and dally load
# -transport nethttp; the order rotates each round.
# dally load: the binary's own command once cmd/dally/main.go dispatches
# it; until then the same source built with the dispatch line overlaid.
bin="$out/dally"
(cd "$root" && go build -o "$bin" ./cmd/dally)
if ! "$bin" load -h >/dev/null 2>&1; then
  sed 's#\tcase "help":#\tcase "load":\n\t\tos.Exit(loadCmd(args, os.Stdout, os.Stderr))\n\tcase "help":#' \
    "$root/cmd/dally/main.go" >"$out/main.go"
  printf '{"Replace":{"%s":"%s"}}' "$root/cmd/dally/main.go" "$out/main.go" >"$out/overlay.json"
  (cd "$root" && go build -overlay "$out/overlay.json" -o "$bin" ./cmd/dally)
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
conf=$("$root/bench/servers/nginx/genconf" "$out/nginx" "127.0.0.1:$port")
# nginx's own counts (stub_status), read before and after each run: the
# connections and requests each tool reports are checked against them.
sed -i 's#^\( *\)location / {#\1location = /nginx_status { stub_status; }\n&#' "$conf"
srvpin=() clipin=() threads=2 procs=2
if ((PIN)); then srvpin=(taskset -c 1) clipin=(taskset -c 0) threads=1 procs=1; fi
srvpin=(nice -n "$NICE" "${srvpin[@]}")
# The client's CPU time (user+sys, from GNU time) says how much each tool
# spends per request, whatever share of the CPU the neighbours left it.
clipin=(nice -n "$NICE" /usr/bin/time -f "CPUTIME %U %S" -a -o "$out/cpu.txt" "${clipin[@]}")
"${srvpin[@]}" nginx -p "$out/nginx" -c "$conf" -e "$out/nginx/error.log" &
pids+=($!)
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
url="http://127.0.0.1:$port/"
"${clipin[@]}" wrk -t"$threads" -c "$C" -d 2s "$url" >/dev/null # warm-up, not recorded

rows="$out/wrk.tsv"
printf 'round\ttool\trps\trequests\tconns\terrors\tcpu_s\tnginx_requests\tnginx_conns\n' >"$rows"
# status: "accepts requests" from nginx. Each reading is itself one
# connection and one request, so a run's share is the difference less one.
status() { curl -fsS "http://127.0.0.1:$port/nginx_status" | awk 'NR == 3 {print $1, $3}'; }
# cpu: the CPU seconds of the client run that just ended.
cpu() { awk '/^CPUTIME/ {c = $2 + $3} END {printf "%.2f", c}' "$out/cpu.txt"; }
run_wrk() {
  local o
  o=$("${clipin[@]}" wrk -t"$threads" -c "$C" -d "${D}s" "$url")
  echo "$o" >>"$out/wrk.log"
  awk -v r="$1" '/^Requests\/sec:/ {rps=$2} /requests in/ {n=$1} /Socket errors/ {e=$0}
    END {printf "%d\twrk\t%.0f\t%d\t%d\t%s\t", r, rps, n, '"$C"', (e ? e : "0")}' <<<"$o"
  cpu; echo
}
# run_dally ROUND TRANSPORT
run_dally() {
  local o name=dally-load
  [ "$2" = dally ] || name=dally-load-$2
  o=$(GOMAXPROCS=$procs "${clipin[@]}" "$bin" load -c "$C" -d "${D}s" -transport "$2" -json "$url")
  echo "$o" >>"$out/dally-load.log"
  python3 -c 'import json,sys; j=json.load(sys.stdin); e=sum(j["errors"].values());
print("%s\t%s\t%.0f\t%d\t%d\t%d\t" % (sys.argv[1], sys.argv[2], j["rps"], j["requests"], j["conns_opened"], e), end="")' "$1" "$name" <<<"$o"
  cpu; echo
}
run_tool() {
  case $2 in
    wrk) run_wrk "$1" ;;
    *) run_dally "$1" "$2" ;;
  esac
}
tools=(wrk dally raw nethttp)
for ((r = 1; r <= ROUNDS; r++)); do
  # Rotate the order each round: nobody always runs first or last.
  for ((i = 0; i < ${#tools[@]}; i++)); do
    read -r a0 q0 <<<"$(status)"
    line=$(run_tool "$r" "${tools[(i + r - 1) % ${#tools[@]}]}")
    read -r a1 q1 <<<"$(status)"
    printf '%s\t%d\t%d\n' "$line" $((q1 - q0 - 1)) $((a1 - a0 - 1)) >>"$rows"
  done
  tail -${#tools[@]} "$rows" >&2
done
python3 - "$rows" "$C" "$D" "$PIN" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
tools = ("wrk", "dally-load", "dally-load-raw", "dally-load-nethttp")
med = {t: statistics.median(float(r["rps"]) for r in rows if r["tool"] == t) for t in tools}
us = {t: statistics.median(1e6 * float(r["cpu_s"]) / max(int(r["requests"]), 1) for r in rows if r["tool"] == t) for t in med}
# The machine's load drifts between rounds more than the tools differ
# within one, so the ratio that counts is each round's, against the wrk run
# of the same round; its median is the figure.
wrk_by_round = {r["round"]: float(r["rps"]) for r in rows if r["tool"] == "wrk"}
ratio = {t: statistics.median(float(r["rps"]) / wrk_by_round[r["round"]] for r in rows if r["tool"] == t) for t in tools}
print(f"| tool (c={sys.argv[2]}, {sys.argv[3]} s, pinned={sys.argv[4]}) | req/s per round | median req/s | median of per-round ratios to wrk | conns: tool / nginx | requests: tool / nginx (per round) | client CPU µs/request (median) |")
print("|---|---|---|---|---|---|---|")
for t in tools:
    rs = [r for r in rows if r["tool"] == t]
    per = ", ".join(r["rps"] for r in rs)
    conns = ", ".join(f'{r["conns"]} / {r["nginx_conns"]}' for r in rs)
    reqs = ", ".join(f'{r["requests"]} / {r["nginx_requests"]}' for r in rs)
    print(f"| {t} | {per} | {med[t]:.0f} | {ratio[t]:.3f} | {conns} | {reqs} | {us[t]:.1f} |")
PY
echo "raw rows: $rows" >&2
