# bench/throughput/throughput.sh, sourced by bench/run: wrk keep-alive
# throughput and server CPU time per request. Scenarios: 50 and 500
# connections one request at a time, and 50 connections pipelining 16
# requests per write. Servers interleaved, rounds rotated, medians reported.
#
# Pinning (PIN=1, the default): with 2 cores, wrk and the server would
# otherwise fight over both and the figure would say as much about the
# scheduler as about the server. The server gets CPU 1 and wrk (1 thread)
# CPU 0, so every server has exactly one core: nginx runs its one worker
# there and the Go runtime sizes GOMAXPROCS to the affinity mask (1).
# PIN=0 lets both float over both cores (wrk -t2, GOMAXPROCS=2).

THROUGHPUT_SCENARIOS=("c50 50 1" "c500 500 1" "pipe16 50 16")

bench_throughput() {
  local rows="$OUT/throughput.tsv"
  printf 'round\tserver\tscenario\tconns\tdepth\trequests\tduration_s\trps\tcpu_ticks\tclk_tck\terrors\tbytes_per_resp\tresponse_bytes\n' >"$rows"
  log "throughput: ${DURATION}s per scenario, $ROUNDS rounds, pinned=$PIN"
  local r s
  for ((r = 1; r <= ROUNDS; r++)); do
    for s in $(rotated "$r" "${SERVERS[@]}"); do
      throughput_server "$r" "$s" >>"$rows" || log "throughput: round $r $s failed"
    done
  done
  throughput_table "$rows" | tee "$OUT/throughput.md"
}

# throughput_server ROUND SERVER: every scenario against one fresh server.
throughput_server() {
  local r=$1 s=$2 wrk=(wrk -t2) scpu=
  if ((PIN)); then
    wrk=(taskset -c 0 wrk -t1)
    scpu=1
  fi
  start_server "$s" "$scpu" || return 1
  local url="http://127.0.0.1:${PORT[$s]}/"
  local dir="$BENCH_DIR/throughput"
  # Warm up (page in, grow buffers and pools, JIT nothing): not recorded.
  "${wrk[@]}" -c 50 -d 2s "$url" >/dev/null
  local sc name conns depth script out t0 t1 line tck
  tck=$(getconf CLK_TCK)
  for sc in "${THROUGHPUT_SCENARIOS[@]}"; do
    read -r name conns depth <<<"$sc"
    script=("-s" "$dir/report.lua")
    ((depth > 1)) && script=("-s" "$dir/pipeline.lua")
    t0=$(cpu_ticks "${SERVER_PIDS[@]}")
    # --timeout bounds a stalled connection; wrk itself stops at -d.
    out=$("${wrk[@]}" -c "$conns" -d "${DURATION}s" --timeout 5s "${script[@]}" "$url" -- "$depth" 2>&1) || {
      log "throughput: wrk failed against $s: $out"
      continue
    }
    t1=$(cpu_ticks "${SERVER_PIDS[@]}")
    echo "$out" >>"$OUT/logs/wrk-$s.log"
    line=$(grep '^WRKSTATS' <<<"$out") || {
      log "throughput: no WRKSTATS from wrk against $s"
      continue
    }
    awk -v r="$r" -v s="$s" -v sc="$name" -v c="$conns" -v d="$depth" \
      -v ticks=$((t1 - t0)) -v tck="$tck" -v rb="$RESPONSE_BYTES" '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      errs = v["connect"] + v["read"] + v["write"] + v["status"] + v["timeout"]
      secs = v["duration_us"] / 1e6
      bpr = v["requests"] ? v["bytes"] / v["requests"] : 0
      printf "%d\t%s\t%s\t%d\t%d\t%d\t%.3f\t%.0f\t%d\t%d\t%d\t%.2f\t%d\n",
        r, s, sc, c, d, v["requests"], secs, v["requests"] / secs, ticks, tck, errs, bpr, rb
    }' <<<"$line" | throughput_check
  done
  stop_server
}

# throughput_check: pass a row through, warning when wrk saw errors or when
# the bytes it read do not match its response count. A server that answered
# a pipelined batch with fewer (or merged) responses would stall or drift
# here. Requests in flight at the end add partial bytes; 2% covers them.
throughput_check() {
  awk -F'\t' '{
    print
    printf "bench: throughput: round %d %s %s: %d req/s, %d requests, %d ticks\n", $1, $2, $3, $8, $6, $9 > "/dev/stderr"
    if ($11 > 0) printf "bench: WARNING %s %s: %d wrk errors\n", $2, $3, $11 > "/dev/stderr"
    if ($13 > 0 && ($12 / $13 > 1.02 || $12 / $13 < 0.98))
      printf "bench: WARNING %s %s: %.1f bytes per counted response, one response is %d\n", $2, $3, $12, $13 > "/dev/stderr"
  }'
}

# throughput_table ROWS: median req/s, ratio to dally's median, median CPU
# microseconds per request, per scenario.
throughput_table() {
  local rows=$1 sc name s
  local pinned="server on CPU 1, wrk -t1 on CPU 0"
  ((PIN)) || pinned="unpinned, wrk -t2, server and wrk share both CPUs"
  echo
  echo "### Throughput (wrk, ${DURATION}s per scenario, median of $ROUNDS rounds; $pinned)"
  echo
  echo "c50/c500: connections, one request at a time. pipe16: 50 connections, 16 requests per write."
  echo "CPU µs/req: server utime+stime (/proc/PID/stat) over the run / requests completed."
  echo
  local head="| server |" rule="|---|"
  for sc in "${THROUGHPUT_SCENARIOS[@]}"; do
    read -r name _ <<<"$sc"
    head+=" $name req/s | ×dally | CPU µs/req |"
    rule+="---:|---:|---:|"
  done
  echo "$head"
  echo "$rule"
  local dally_rps=()
  for sc in "${THROUGHPUT_SCENARIOS[@]}"; do
    read -r name _ <<<"$sc"
    dally_rps+=("$(awk -F'\t' -v sc="$name" 'NR > 1 && $2 == "dally" && $3 == sc {print $8}' "$rows" | median)")
  done
  for s in "${ALL_SERVERS[@]}"; do
    local line="| $s |" i=0 rps cpu ratio
    for sc in "${THROUGHPUT_SCENARIOS[@]}"; do
      read -r name _ <<<"$sc"
      rps=$(awk -F'\t' -v s="$s" -v sc="$name" 'NR > 1 && $2 == s && $3 == sc {print $8}' "$rows" | median)
      cpu=$(awk -F'\t' -v s="$s" -v sc="$name" 'NR > 1 && $2 == s && $3 == sc && $6 > 0 {print $9 * 1e6 / $10 / $6}' "$rows" | median)
      if [ "$rps" = NA ]; then
        line+=" $(no_data "$s") | | |"
      else
        ratio=—
        [ "${dally_rps[i]}" != NA ] && ratio=$(awk -v a="$rps" -v b="${dally_rps[i]}" 'BEGIN {printf "%.2f", a / b}')
        line+=$(printf ' %.0f | %s | %.1f |' "$rps" "$ratio" "$cpu")
      fi
      i=$((i + 1))
    done
    echo "$line"
  done
}
