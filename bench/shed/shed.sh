# bench/shed/shed.sh, sourced by bench/run: dally at a small connection
# limit (MaxConns 200) with 10x more clients (2000, one source address
# each), idle most of the time with bursts of requests, for ShedLRU against
# ShedRandom (the draft "HTTP Connection Management", §5). Per round and
# case, both policies, in rotated order; each run a fresh server on CPU 1
# (bench/capture/srv) and the client (bench/shed) on CPU 0.
#
# Cases: NAME DIST MIN_IDLE
#   exp     every client thinks an exponential 3 s on average
#   mixed   each client has its own mean, log-uniform in [0.5 s, 18 s]
#   mixed-w mixed with MinIdleWindow 250 ms instead of the default 2 s

SHED_CASES=("exp exp 0" "mixed mixed 0" "mixed-w mixed 250ms")
SHED_POLICIES=(lru random)
SHED_MAXCONNS=200
SHED_CLIENTS=2000
SHED_THINK=3s
SHED_WARM=4
PORT[shed-lru]=18188
PORT[shed-random]=18189

bench_shed() {
  (cd "$BENCH_DIR" && go build -o "$BIN/shed" ./shed && go build -o "$BIN/capsrv" ./capture/srv)
  if [[ " ${SERVERS[*]} " != *" dally "* ]]; then
    log "shed: dally does not build; nothing to run"
    return 0
  fi
  # The window: 1.5 x --duration (15 s by default), after SHED_WARM s.
  SHED_WINDOW=$((DURATION * 3 / 2))
  local rows="$OUT/shed.tsv"
  printf 'round\tcase\tpolicy\trequests\tok\treused\treuse_ratio\topened\tfound_closed\traced\ts503\tfailed\tp50_us\tp99_us\trss_kb\thwm_kb\tsrv_shed\tsrv_503\tsrv_accepted\n' >"$rows"
  log "shed: ${#SHED_CASES[@]} cases x ${SHED_POLICIES[*]}, ${SHED_CLIENTS} clients, MaxConns $SHED_MAXCONNS, ${SHED_WINDOW}s window, $ROUNDS rounds"
  local r sc p
  for ((r = 1; r <= ROUNDS; r++)); do
    for sc in "${SHED_CASES[@]}"; do
      for p in $(rotated "$r" "${SHED_POLICIES[@]}"); do
        shed_one "$r" "$sc" "$p" >>"$rows" || log "shed: round $r ${sc%% *} $p failed, no row"
      done
    done
  done
  shed_table "$rows" | tee "$OUT/shed.md"
}

# shed_one ROUND "CASE DIST MIN_IDLE" POLICY: one row.
shed_one() {
  local r=$1 name dist minidle p=$3 c="shed-$3"
  read -r name dist minidle <<<"$2"
  local logf="$OUT/logs/shed-server.log" stats="$TMPD/stats.shed.json"
  rm -f "$stats"
  taskset -c 1 "$BIN/capsrv" -impl dally -listen "127.0.0.1:${PORT[$c]}" -max-conns "$SHED_MAXCONNS" \
    -shed "$p" -min-idle "$minidle" -stats "$stats" >>"$logf" 2>&1 &
  SERVER_ROOT=$!
  STARTED+=("$SERVER_ROOT")
  wait_ready "$c" || { tail -5 "$logf" >&2; stop_server; return 1; }
  local out="$TMPD/shed.$r.$name.$p" cp
  taskset -c 0 "$BIN/shed" -target "127.0.0.1:${PORT[$c]}" -clients "$SHED_CLIENTS" -think "$SHED_THINK" \
    -dist "$dist" -warm "${SHED_WARM}s" -duration "${SHED_WINDOW}s" -seed "$r" \
    >"$out" 2>>"$OUT/logs/shed-client.log" &
  cp=$!
  STARTED+=("$cp")
  # Server memory at the end of the window, while every client still holds
  # what it holds.
  sleep $((SHED_WARM + SHED_WINDOW - 1))
  local rss hwm
  rss=$(status_kb "$SERVER_MEM_PID" VmRSS)
  hwm=$(status_kb "$SERVER_MEM_PID" VmHWM)
  local ok=1
  wait "$cp" || ok=0
  stop_pid "$cp"
  stop_server
  cp "$out" "$OUT/logs/shed-$r-$name-$p.txt"
  ((ok)) || { log "shed: the client failed:"; tail -3 "$OUT/logs/shed-client.log" >&2; return 1; }
  local sshed=NA s503=NA sacc=NA
  if [ -f "$stats" ]; then
    cp "$stats" "$OUT/logs/shed-$r-$name-$p.stats.json"
    sshed=$(json_int shed "$stats")
    s503=$(json_int Rejected503 "$stats")
    sacc=$(json_int Accepted "$stats")
  fi
  awk -v r="$r" -v n="$name" -v p="$p" -v rss="$rss" -v hwm="$hwm" -v a="$sshed" -v b="$s503" -v c="$sacc" '$1 == "shed" {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "%d\t%s\t%s\t%d\t%d\t%d\t%.4f\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", r, n, p,
      v["requests"], v["ok"], v["reused"], v["reuse_ratio"], v["opened"], v["found_closed"], v["raced"],
      v["s503"], v["failed"], v["p50_us"], v["p99_us"], rss, hwm, a, b, c
    printf "bench: shed: round %d %s %s: reuse %.3f, %d ok of %d, %d opened, %d 503, %d failed, RSS %d kB\n",
      r, n, p, v["reuse_ratio"], v["ok"], v["requests"], v["opened"], v["s503"], v["failed"], rss > "/dev/stderr"
  }' "$out"
}

# shed_table ROWS: medians over rounds per case and policy.
shed_table() {
  local rows=$1 sc name p
  echo
  echo "### Shedding: LRU against random (dally, MaxConns $SHED_MAXCONNS, $SHED_CLIENTS clients, median of $ROUNDS rounds)"
  echo
  echo "Each client: its own source address; bursts of 1-5 GETs (0-100 ms apart) after exponential think times;"
  echo "keeps its connection and reuses it if the server has not closed it (checked with a non-blocking peek),"
  echo "else opens a new one. ${SHED_WINDOW} s window after ${SHED_WARM} s. Counts are requests begun in the window."
  echo "reuse = 200s on a kept connection / all 200s. raced: the kept connection failed on send (closed under"
  echo "the request), retried once on a new one. RSS: server VmRSS at the end of the window."
  echo
  echo "| case | policy | requests | 200 | reuse | opened | found closed | raced | 503 | failed | p50 µs | p99 µs | RSS MiB | server sheds |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for sc in "${SHED_CASES[@]}"; do
    read -r name _ <<<"$sc"
    for p in "${SHED_POLICIES[@]}"; do
      if ! awk -F'\t' -v n="$name" -v p="$p" 'NR > 1 && $2 == n && $3 == p {f = 1} END {exit !f}' "$rows"; then
        echo "| $name | $p | failed (see logs) | | | | | | | | | | | |"
        continue
      fi
      local col
      col() { awk -F'\t' -v n="$name" -v p="$p" "NR > 1 && \$2 == n && \$3 == p {print $1}" "$rows" | median; }
      printf '| %s | %s | %.0f | %.0f | %.3f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.1f | %s |\n' "$name" "$p" \
        "$(col '$4')" "$(col '$5')" "$(col '$7')" "$(col '$8')" "$(col '$9')" "$(col '$10')" "$(col '$11')" \
        "$(col '$12')" "$(col '$13')" "$(col '$14')" "$(col '$15 / 1024')" "$(col '$17')"
    done
  done
}
