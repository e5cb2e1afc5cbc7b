# bench/capture/capture.sh, sourced by bench/run: the capture effect (the
# draft "HTTP Connection Management", §9). Per round and server: start the
# server pinned to CPU 1; run 20 polite clients alone (the idle baseline);
# then 200 greedy pipelining connections from 4 addresses and the 20 polite
# clients together over one window; stop the server. The clients run on
# CPU 0 as two processes, so that the polite clients are not goroutines
# queued behind 200 busy ones in the same runtime (the kernel wakes a
# sleeping process promptly).
#
# Configurations (each a server and a handler):
#   dally, nethttp, nginx   bench/servers/*, the 13-byte body, started by
#                           lib.sh's start_server exactly as for throughput
#   dally-spin, nethttp-spin  bench/capture/srv: the same body after ~75 µs
#                           of CPU in the handler, so that the handlers, not
#                           the parsing, saturate the CPU (nginx has no such
#                           handler and is not in this variant)
#   dally-spin-nogc         dally-spin with DisableGreedyControl: what the
#                           pausing of greedy clients does, by difference
#   dally-spin[-nogc]-w8    the same with MaxWorkers 8: connections then
#                           queue for a worker, and the deficit round robin
#                           by client address decides who runs
#   dally-spin-nolimit      dally-spin with SchedTarget -1: no run bound
#                           from the CPU's scheduling delay, so the Go
#                           scheduler, not the fair queue, orders the
#                           busy connections (dally before commit of the
#                           run bound)

CAPTURE_CONFIGS=(dally nethttp nginx dally-spin dally-spin-nolimit dally-spin-nogc dally-spin-w8 dally-spin-nogc-w8 nethttp-spin)
PORT[dally-spin]=18184
PORT[dally-spin-nogc]=18186
PORT[nethttp-spin]=18185
PORT[dally-spin-w8]=18187
PORT[dally-spin-nogc-w8]=18179
PORT[dally-spin-nolimit]=18178
CAPTURE_IDLE=5        # seconds of the idle baseline
CAPTURE_WARM=2        # seconds of greedy load before the window opens
CAPTURE_SPIN=75us
CAPTURE_GREEDY=(-addrs 4 -conns 200 -depth 16)
CAPTURE_POLITE=(-polite 20 -think 10ms -timeout 5s)

bench_capture() {
  # Ports of their own: other benchmarks (a soak, a throughput run) may hold
  # lib.sh's ports on this shared machine.
  PORT[dally]=18180 PORT[nethttp]=18181 PORT[nginx]=18183
  (cd "$BENCH_DIR" && go build -o "$BIN/capture" ./capture && go build -o "$BIN/capsrv" ./capture/srv)
  local rows="$OUT/capture.tsv"
  printf 'round\tconfig\tserver_cpu_pct\t%s\tpauses\tgreedy503\tsaturated_closes\n' \
    "$("$BIN/capture" -role header)" >"$rows"
  local configs=() c
  for c in "${CAPTURE_CONFIGS[@]}"; do
    # CAPTURE_ONLY=a,b,...: just these configurations.
    [[ -n ${CAPTURE_ONLY:-} && ",$CAPTURE_ONLY," != *",$c,"* ]] && continue
    if [[ " ${SERVERS[*]} " == *" ${c%%-*} "* ]]; then configs+=("$c"); fi
  done
  log "capture: ${configs[*]}; idle ${CAPTURE_IDLE}s, load ${DURATION}s, $ROUNDS rounds"
  local r
  for ((r = 1; r <= ROUNDS; r++)); do
    for c in $(rotated "$r" "${configs[@]}"); do
      capture_one "$r" "$c" >>"$rows" || log "capture: round $r $c failed, no row"
    done
  done
  capture_table "$rows" | tee "$OUT/capture.md"
}

# capture_start CONFIG: start the server of CONFIG on CPU 1.
capture_start() {
  local c=$1
  case $c in
    *-spin*)
      local logf="$OUT/logs/$c.log" extra=()
      [[ $c == *-nogc* ]] && extra+=(-no-greedy-control)
      [[ $c == *-w8 ]] && extra+=(-max-workers 8)
      [[ $c == *-nolimit ]] && extra+=(-sched-target -1ns)
      taskset -c 1 "$BIN/capsrv" -impl "${c%%-*}" -listen "127.0.0.1:${PORT[$c]}" -spin "$CAPTURE_SPIN" \
        "${extra[@]}" -stats "$TMPD/stats.$c.json" >>"$logf" 2>&1 &
      SERVER_ROOT=$!
      STARTED+=("$SERVER_ROOT")
      wait_ready "$c" || { tail -5 "$logf" >&2; stop_server; return 1; }
      ;;
    *) start_server "$c" 1 ;;
  esac
}

# capture_one ROUND CONFIG: one row.
capture_one() {
  local r=$1 c=$2 target="127.0.0.1:${PORT[$2]}"
  rm -f "$TMPD/stats.$c.json"
  capture_start "$c" || return 1
  local base="$TMPD/cap.$r.$c" start gp pp ok=1
  # The idle baseline: polite clients alone.
  start=$(($(date +%s%N) + 300000000))
  taskset -c 0 "$BIN/capture" -role polite -target "$target" -start "$start" -duration "${CAPTURE_IDLE}s" \
    "${CAPTURE_POLITE[@]}" >"$base.idle" 2>>"$OUT/logs/capture-client.log" &
  pp=$!
  STARTED+=("$pp")
  wait "$pp" || ok=0
  stop_pid "$pp"
  # Under load: the greedy clients start CAPTURE_WARM before the window.
  start=$(($(date +%s%N) + CAPTURE_WARM * 1000000000 + 300000000))
  taskset -c 0 "$BIN/capture" -role greedy -target "$target" -start "$start" -warm "${CAPTURE_WARM}s" \
    -duration "${DURATION}s" "${CAPTURE_GREEDY[@]}" >"$base.greedy" 2>>"$OUT/logs/capture-client.log" &
  gp=$!
  STARTED+=("$gp")
  taskset -c 0 "$BIN/capture" -role polite -target "$target" -start "$start" -duration "${DURATION}s" \
    "${CAPTURE_POLITE[@]}" >"$base.load" 2>>"$OUT/logs/capture-client.log" &
  pp=$!
  STARTED+=("$pp")
  # Server CPU over the window only.
  sleep "$(awk -v s="$start" -v n="$(date +%s%N)" 'BEGIN {d = (s - n) / 1e9; print (d > 0 ? d : 0)}')"
  local t0 t1 tck
  tck=$(getconf CLK_TCK)
  t0=$(cpu_ticks "${SERVER_PIDS[@]}")
  sleep "$DURATION"
  t1=$(cpu_ticks "${SERVER_PIDS[@]}")
  wait "$pp" || ok=0
  wait "$gp" || ok=0
  stop_pid "$pp"
  stop_pid "$gp"
  stop_server
  for f in idle load greedy; do cp "$base.$f" "$OUT/logs/capture-$r-$c.$f.txt"; done
  if ((!ok)); then
    log "capture: a client failed against $c:"
    tail -3 "$OUT/logs/capture-client.log" >&2
    return 1
  fi
  local row stats="NA NA NA"
  row=$("$BIN/capture" -role report -idle "$base.idle" -load "$base.load" -greedy "$base.greedy" | tail -1) || return 1
  if [ -f "$TMPD/stats.$c.json" ]; then
    cp "$TMPD/stats.$c.json" "$OUT/logs/capture-$r-$c.stats.json"
    stats="$(json_int Pauses "$TMPD/stats.$c.json") $(json_int Greedy503 "$TMPD/stats.$c.json") $(json_int saturated "$TMPD/stats.$c.json")"
  fi
  local cpu
  cpu=$(awk -v t=$((t1 - t0)) -v k="$tck" -v d="$DURATION" 'BEGIN {printf "%.0f", 100 * t / k / d}')
  printf '%d\t%s\t%s\t%s\t%s\n' "$r" "$c" "$cpu" "$row" "$(tr ' ' '\t' <<<"$stats")"
  awk -F'\t' -v r="$r" -v c="$c" -v cpu="$cpu" '{
    printf "bench: capture: round %d %s: polite p99 %d us idle, %d us loaded (x%s); jain %s; greedy %d req/s; server CPU %s%%\n",
      r, c, $3, $6, $7, $17, $13, cpu > "/dev/stderr" }' <<<"$row"
}

# json_int KEY FILE: the integer after "KEY": in FILE (server.Stats keys
# are unique, Closed's reasons included).
json_int() { grep -o "\"$1\":[0-9]*" "$2" | head -1 | cut -d: -f2; }

# capture_table ROWS: medians over rounds per configuration.
capture_table() {
  local rows=$1 c
  echo
  echo "### Capture effect (median of $ROUNDS rounds; server on CPU 1, clients on CPU 0)"
  echo
  echo "Load: 200 greedy connections (4 source addresses × 50, 16 pipelined GETs per write, next write as soon as"
  echo "the 16 are read) and 20 polite clients (one address each; connect, GET, read, close, ${CAPTURE_POLITE[3]} think),"
  echo "${DURATION} s window after ${CAPTURE_WARM} s of greedy warm-up. Idle: the same polite clients alone, ${CAPTURE_IDLE} s."
  echo "Latency: connect to last byte of a polite request (successful ones). Fairness: see docs/benchmarks.md."
  echo
  echo "| config | polite p50 idle µs | p50 loaded µs | polite p99 idle µs | p99 loaded µs | p99 ×idle | Jain (demand-normalised, 24 clients) | Jain greedy (4) | worst polite share | polite req/s idle → loaded | polite failed | greedy req/s | all req/s | server CPU % | dally pauses / 503 / sat. closes |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for c in "${CAPTURE_CONFIGS[@]}"; do
    [[ -n ${CAPTURE_ONLY:-} && ",$CAPTURE_ONLY," != *",$c,"* ]] && continue
    if ! awk -F'\t' -v c="$c" 'NR > 1 && $2 == c {f = 1} END {exit !f}' "$rows"; then
      echo "| $c | $(no_data "${c%%-*}") | | | | | | | | | | | | | |"
      continue
    fi
    local col
    col() { awk -F'\t' -v c="$c" "NR > 1 && \$2 == c {print $1}" "$rows" | median; }
    printf '| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.3f | %.3f | %.2f | %.0f → %.0f | %s | %.0f | %.0f | %s | %s / %s / %s |\n' "$c" \
      "$(col '$5')" "$(col '$8')" "$(col '$6')" "$(col '$9')" "$(col '$10')" "$(col '$20')" "$(col '$22')" "$(col '$24')" \
      "$(col '$12')" "$(col '$13')" "$(col '$14')" "$(col '$16')" "$(col '$13 + $16')" "$(col '$3')" "$(col '$25')" "$(col '$26')" "$(col '$27')"
  done
}
