#!/usr/bin/env bash
# bench/proxyhol/proxyhol.sh: dally's reverse proxy beside nginx proxy_pass
# (upstream keepalive) and HAProxy, in front of the same origin, in one run.
#
#   bench/proxyhol/proxyhol.sh [-d SECONDS] [-r ROUNDS] [--no-pin] [--only hol|throughput]
#
# (a) Head-of-line immunity (hol/main.go): client B's latency on GET / with
#     nothing else going on, and while 8 clients A hold requests whose
#     upstream trickles 10 MB (trickle), never answers (hang), or whose
#     10 MB body A reads at 64 KiB/s (slowread). Origin: origin/main.go.
# (b) Throughput and proxy CPU per request: wrk -c50 and -c200 on GET /,
#     origin nginx `return 200` (one worker).
#
# Pinning (default): the proxy alone on CPU 1; origin and load generator on
# CPU 0. Proxies interleaved, order rotated each round, medians reported.
# Every process started is recorded and stopped by PID on exit (lib.sh).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../lib.sh
source "$BENCH_DIR/lib.sh"

DURATION=10
ROUNDS=3
PIN=1
ONLY=
while [ $# -gt 0 ]; do
  case $1 in
    -d | --duration) DURATION=$2; shift 2 ;;
    -r | --rounds) ROUNDS=$2; shift 2 ;;
    --no-pin) PIN=0; shift ;;
    --only) ONLY=$2; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "proxyhol: unknown option $1" >&2; exit 2 ;;
  esac
done

OUT="$BENCH_DIR/out/proxy-$(date -u +%Y%m%dT%H%M%SZ)"
BIN="$OUT/bin"
mkdir -p "$OUT/logs" "$BIN"
TMPD=$(mktemp -d /tmp/dally-proxyhol.XXXXXX)
trap cleanup EXIT

ensure_tools wrk:wrk nginx:nginx haproxy:haproxy taskset:util-linux curl:curl
log "building"
(cd "$BENCH_DIR" && go build -o "$BIN/" ./proxyhol/origin ./proxyhol/dallyproxy ./proxyhol/hol)

PROXIES=(dally nginx haproxy)
PROXY_ADDR=127.0.0.1:18191
GO_ORIGIN=127.0.0.1:18190
NGINX_ORIGIN=127.0.0.1:18192
# Command prefixes (not functions: a function started with & is a subshell,
# and its PID would not be the process we stop and measure).
PIN_PROXY=() PIN_LOAD=()
if ((PIN)); then PIN_PROXY=(taskset -c 1) PIN_LOAD=(taskset -c 0); fi

# wait_http ADDR: until GET / answers 200 (up to 10 s).
wait_http() {
  local i
  for ((i = 0; i < 100; i++)); do
    [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://$1/")" = 200 ] && return 0
    sleep 0.1
  done
  return 1
}

ORIGIN_PID=
start_origin() { # go|nginx
  case $1 in
    go)
      "${PIN_LOAD[@]}" "$BIN/origin" -listen "$GO_ORIGIN" >>"$OUT/logs/origin.log" 2>&1 &
      ORIGIN_PID=$!
      STARTED+=("$ORIGIN_PID")
      wait_http "$GO_ORIGIN" ;;
    nginx)
      mkdir -p "$TMPD/origin"
      "$BENCH_DIR/servers/nginx/genconf" "$TMPD/origin" "$NGINX_ORIGIN" >/dev/null
      "${PIN_LOAD[@]}" nginx -p "$TMPD/origin" -c "$TMPD/origin/nginx.conf" -e "$TMPD/origin/error.log" >>"$OUT/logs/origin.log" 2>&1 &
      ORIGIN_PID=$!
      STARTED+=("$ORIGIN_PID")
      wait_http "$NGINX_ORIGIN" ;;
  esac
}

nginx_proxy_conf() { # DIR UPSTREAM
  cat >"$1/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { use epoll; worker_connections 10000; }
http {
    access_log off;
    keepalive_requests 2147483647;
    keepalive_timeout 75s;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    upstream origin {
        server $2;
        keepalive 256;
        keepalive_requests 2147483647;
    }
    server {
        listen $PROXY_ADDR backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
}

haproxy_conf() { # FILE UPSTREAM
  cat >"$1" <<CONF
global
    nbthread 1
    maxconn 9000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option http-keep-alive
    http-reuse safe
frontend f
    bind $PROXY_ADDR
    default_backend b
backend b
    server origin $2
CONF
}

# start_proxy NAME UPSTREAM: sets SERVER_ROOT and SERVER_PIDS (lib.sh's).
start_proxy() {
  local name=$1 up=$2
  if curl -s -m 1 -o /dev/null "http://$PROXY_ADDR/"; then
    log "$PROXY_ADDR is already taken: not starting $name"
    return 1
  fi
  case $name in
    dally)
      "${PIN_PROXY[@]}" "$BIN/dallyproxy" -listen "$PROXY_ADDR" -upstream "http://$up" >>"$OUT/logs/dally.log" 2>&1 & ;;
    nginx)
      NGINX_PREFIX=$(mktemp -d /tmp/dally-bench-nginx.XXXXXX)
      nginx_proxy_conf "$NGINX_PREFIX" "$up"
      "${PIN_PROXY[@]}" nginx -p "$NGINX_PREFIX" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/error.log" >>"$OUT/logs/nginx.log" 2>&1 & ;;
    haproxy)
      haproxy_conf "$TMPD/haproxy.cfg" "$up"
      "${PIN_PROXY[@]}" haproxy -db -f "$TMPD/haproxy.cfg" >>"$OUT/logs/haproxy.log" 2>&1 & ;;
  esac
  SERVER_ROOT=$!
  STARTED+=("$SERVER_ROOT")
  SERVER_PIDS=("$SERVER_ROOT")
  if ! wait_http "$PROXY_ADDR"; then
    log "$name did not come up"
    stop_server
    return 1
  fi
  if [ "$name" = nginx ]; then
    # The worker: the master's first child. No pipeline: with pipefail, a
    # `grep -m1` that exits early fails the writer (SIGPIPE) and set -e
    # would end the run.
    local kids
    kids=$(cat /proc/"$SERVER_ROOT"/task/*/children)
    read -r kids _ <<<"$kids"
    SERVER_PIDS+=("$kids")
  fi
}

bench_hol() {
  local rows="$OUT/hol.tsv" r s mode line
  printf 'round\tproxy\tmode\tn\terrors\tp50_us\tp90_us\tp99_us\tmax_us\n' >"$rows"
  start_origin go || { log "origin did not start"; return 1; }
  for ((r = 1; r <= ROUNDS; r++)); do
    for s in $(rotated "$r" "${PROXIES[@]}"); do
      start_proxy "$s" "$GO_ORIGIN" || continue
      for mode in none trickle hang slowread; do
        line=$("${PIN_LOAD[@]}" "$BIN/hol" -target "$PROXY_ADDR" -a "$mode" -d "${DURATION}s")
        echo "$line" >>"$OUT/logs/hol-$s.log"
        awk -v r="$r" -v s="$s" '{
          for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
          printf "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", r, s, v["a"], v["n"], v["errors"], v["p50_us"], v["p90_us"], v["p99_us"], v["max_us"]
        }' <<<"$line" | tee -a "$rows" | awk -F'\t' '{printf "bench: hol round %d %s a=%s: n=%d errors=%d p50=%dus p99=%dus\n", $1, $2, $3, $4, $5, $6, $8 > "/dev/stderr"}'
      done
      stop_server
    done
  done
  stop_pid "$ORIGIN_PID"
  hol_table "$rows" | tee "$OUT/hol.md"
}

hol_table() {
  local rows=$1 s mode
  echo
  echo "### Head-of-line immunity (B: 4 connections, GET / paced 2 ms, ${DURATION}s per cell; median of $ROUNDS rounds)"
  echo
  echo "A: 8 connections. trickle: upstream sends 10 MB at ~1.3 MB/s; hang: upstream never answers; slowread: A reads a 10 MB body at 64 KiB/s."
  echo
  echo "| proxy | B alone p50 / p99 µs | A trickle p50 / p99 | A hang p50 / p99 | A slowread p50 / p99 | B errors |"
  echo "|---|---:|---:|---:|---:|---:|"
  for s in "${PROXIES[@]}"; do
    local line="| $s |" p50 p99 errs
    for mode in none trickle hang slowread; do
      p50=$(awk -F'\t' -v s="$s" -v m="$mode" 'NR > 1 && $2 == s && $3 == m {print $6}' "$rows" | median)
      p99=$(awk -F'\t' -v s="$s" -v m="$mode" 'NR > 1 && $2 == s && $3 == m {print $8}' "$rows" | median)
      line+=" $p50 / $p99 |"
    done
    errs=$(awk -F'\t' -v s="$s" 'NR > 1 && $2 == s {e += $5} END {print e + 0}' "$rows")
    echo "$line $errs |"
  done
}

TP_SCENARIOS=("c50 50" "c200 200")

bench_tp() {
  local rows="$OUT/throughput.tsv" r s sc name conns out t0 t1 line tck
  tck=$(getconf CLK_TCK)
  printf 'round\tproxy\tscenario\tconns\trequests\tduration_s\trps\tcpu_ticks\tclk_tck\terrors\n' >"$rows"
  start_origin nginx || { log "nginx origin did not start"; return 1; }
  for ((r = 1; r <= ROUNDS; r++)); do
    for s in $(rotated "$r" "${PROXIES[@]}"); do
      start_proxy "$s" "$NGINX_ORIGIN" || continue
      "${PIN_LOAD[@]}" wrk -t1 -c 50 -d 2s "http://$PROXY_ADDR/" >/dev/null # warm-up
      for sc in "${TP_SCENARIOS[@]}"; do
        read -r name conns <<<"$sc"
        t0=$(cpu_ticks "${SERVER_PIDS[@]}")
        out=$("${PIN_LOAD[@]}" wrk -t1 -c "$conns" -d "${DURATION}s" --timeout 5s -s "$BENCH_DIR/throughput/report.lua" "http://$PROXY_ADDR/" 2>&1) || {
          log "wrk failed against $s: $out"; continue; }
        t1=$(cpu_ticks "${SERVER_PIDS[@]}")
        echo "$out" >>"$OUT/logs/wrk-$s.log"
        line=$(grep '^WRKSTATS' <<<"$out") || continue
        awk -v r="$r" -v s="$s" -v sc="$name" -v c="$conns" -v ticks=$((t1 - t0)) -v tck="$tck" '{
          for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
          errs = v["connect"] + v["read"] + v["write"] + v["status"] + v["timeout"]
          secs = v["duration_us"] / 1e6
          printf "%d\t%s\t%s\t%d\t%d\t%.3f\t%.0f\t%d\t%d\t%d\n", r, s, sc, c, v["requests"], secs, v["requests"] / secs, ticks, tck, errs
        }' <<<"$line" | tee -a "$rows" | awk -F'\t' '{printf "bench: proxy throughput round %d %s %s: %d req/s, %d ticks, %d errors\n", $1, $2, $3, $7, $8, $10 > "/dev/stderr"}'
      done
      stop_server
    done
  done
  stop_pid "$ORIGIN_PID"
  tp_table "$rows" | tee "$OUT/throughput.md"
}

tp_table() {
  local rows=$1 s sc name
  echo
  echo "### Proxy throughput (wrk -t1, ${DURATION}s per scenario, median of $ROUNDS rounds; origin nginx return 200)"
  echo
  echo "CPU µs/req: the proxy's utime+stime (nginx: master and worker) over the run / requests completed."
  echo
  local head="| proxy |" rule="|---|"
  for sc in "${TP_SCENARIOS[@]}"; do
    read -r name _ <<<"$sc"
    head+=" $name req/s | ×dally | CPU µs/req |"
    rule+="---:|---:|---:|"
  done
  echo "$head"
  echo "$rule"
  for s in "${PROXIES[@]}"; do
    local line="| $s |" rps cpu base
    for sc in "${TP_SCENARIOS[@]}"; do
      read -r name _ <<<"$sc"
      rps=$(awk -F'\t' -v s="$s" -v sc="$name" 'NR > 1 && $2 == s && $3 == sc {print $7}' "$rows" | median)
      base=$(awk -F'\t' -v sc="$name" 'NR > 1 && $2 == "dally" && $3 == sc {print $7}' "$rows" | median)
      cpu=$(awk -F'\t' -v s="$s" -v sc="$name" 'NR > 1 && $2 == s && $3 == sc && $5 > 0 {print $8 * 1e6 / $9 / $5}' "$rows" | median)
      if [ "$rps" = NA ]; then
        line+=" failed | | |"
      else
        line+=$(awk -v a="$rps" -v b="$base" -v c="$cpu" 'BEGIN {printf " %.0f | %.2f | %.1f |", a, (b > 0 ? a / b : 0), c}')
      fi
    done
    echo "$line"
  done
}

{
  echo "# proxy benchmark $(date -u +%FT%TZ)"
  echo "commit $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown); $(nginx -v 2>&1); $(haproxy -v 2>&1 | head -1); $(go version)"
  echo "cpus $(nproc); pinned=$PIN; duration ${DURATION}s; rounds $ROUNDS"
} >"$OUT/summary.md"
[ "$ONLY" = throughput ] || bench_hol >>"$OUT/summary.md"
[ "$ONLY" = hol ] || bench_tp >>"$OUT/summary.md"
cat "$OUT/summary.md"
log "results in $OUT"
