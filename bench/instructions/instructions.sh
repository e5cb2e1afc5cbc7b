# bench/instructions/instructions.sh, sourced by bench/run: user-space CPU
# instructions per request, dally against net/http, fasthttp and nginx.
#
# `perf stat -e instructions` is used when the machine counts instructions
# (it does not in most VMs, this one included); otherwise valgrind's
# callgrind runs the server. Either way each server runs twice per round:
# once serving INSTR_N keep-alive requests (bench/reqs, INSTR_CONNS
# connections, every response checked) and once serving none but idling as
# long as the first run took, so startup, shutdown and the runtime's
# background work cancel out:
#   instructions/request = (I(N requests) - I(0 requests)) / N.
# The server runs on one CPU with GOMAXPROCS=1 in both modes: idle Ps
# spinning for work would otherwise count as request cost.

INSTR_SERVERS=(dally nethttp fasthttp nginx)

bench_instructions() {
  local rows="$OUT/instructions.tsv" mode=callgrind
  if perf stat -x, -e instructions true 2>&1 >/dev/null | grep -q '^[0-9]'; then
    mode=perf
  fi
  printf 'round\tserver\tmode\trequests\tconns\tinstr_n\tinstr_0\tper_request\n' >"$rows"
  log "instructions: $mode, $INSTR_N requests over $INSTR_CONNS connections, $INSTR_DEPTH at a time, $INSTR_ROUNDS rounds"
  local r s
  for ((r = 1; r <= INSTR_ROUNDS; r++)); do
    for s in $(rotated "$r" "${INSTR_SERVERS[@]}"); do
      if [[ " ${SERVERS[*]} " != *" $s "* ]]; then
        if ((r == 1)); then log "instructions: $s skipped (not built or not selected)"; fi
        continue
      fi
      instr_server "$r" "$s" "$mode" >>"$rows" || log "instructions: round $r $s failed"
    done
  done
  instr_table "$rows" "$mode" | tee "$OUT/instructions.md"
}

# instr_server ROUND SERVER MODE: both runs, one TSV row.
instr_server() {
  local r=$1 s=$2 mode=$3 in elapsed i0
  in=$(instr_run "$s" "$mode" "$INSTR_N" 0) || return 1
  read -r in elapsed <<<"$in"
  i0=$(instr_run "$s" "$mode" 0 "$elapsed") || return 1
  read -r i0 _ <<<"$i0"
  printf '%d\t%s\t%s\t%d\t%d\t%d\t%d\t%.0f\n' "$r" "$s" "$mode" "$INSTR_N" "$INSTR_CONNS" "$in" "$i0" \
    "$(awk -v a="$in" -v b="$i0" -v n="$INSTR_N" 'BEGIN {print (a - b) / n}')"
  log "instructions: round $r $s: $in with $INSTR_N requests, $i0 idle -> $(((in - i0) / INSTR_N))/request"
}

# instr_run SERVER MODE N IDLE_SECONDS: run SERVER under the counter, send N
# requests (or, for N=0, sit idle IDLE_SECONDS), stop it by closing its stdin
# (the servers' -exit-on-eof: callgrind 3.19 asserts when a signal reaches a
# Go program) and print "INSTRUCTIONS ELAPSED_SECONDS". Runs in a subshell
# (command substitution), so it reaps its own children and its EXIT trap
# stops them.
instr_run() {
  local s=$1 mode=$2 n=$3 idle=$4 addr=127.0.0.1:${PORT[$1]}
  local tag="$TMPD/instr.$s.$n.$RANDOM" slog="$OUT/logs/instr-$s-$n.log"
  mkfifo "$tag.in"
  local pid cmd=("$BIN/$s" -exit-on-eof -listen "$addr")
  if [ "$s" = nginx ]; then
    # One process (no master), the throughput runs' configuration; it
    # stops on SIGQUIT (graceful), which callgrind survives, unlike Go's.
    mkdir -p "$tag.nginx"
    "$BENCH_DIR/servers/nginx/genconf" "$tag.nginx" "$addr" >/dev/null
    sed -i 's/^master_process on;/master_process off;/' "$tag.nginx/nginx.conf"
    cmd=(nginx -p "$tag.nginx" -c "$tag.nginx/nginx.conf" -e "$tag.nginx/error.log")
  fi
  case $mode in
    perf)
      # perf runs the server itself, so the count covers its whole life
      # exactly like callgrind's.
      GOMAXPROCS=1 taskset -c 1 perf stat -x, -e instructions:u -o "$tag.count" \
        "${cmd[@]}" <"$tag.in" >"$slog" 2>&1 &
      ;;
    callgrind)
      # asyncpreemptoff: the SIGURG that preempts long-running goroutines
      # also trips callgrind's signal assertion.
      GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 taskset -c 1 valgrind --tool=callgrind \
        --callgrind-out-file="$tag.count" "${cmd[@]}" \
        <"$tag.in" >"$slog" 2>&1 &
      ;;
  esac
  pid=$!
  trap 'kill -KILL '"$pid"' 2>/dev/null; wait '"$pid"' 2>/dev/null' EXIT
  local fd
  exec {fd}>"$tag.in"
  # -n 0 dials until the server accepts but sends no request, so readiness
  # costs the same in both runs.
  if ! "$BIN/reqs" -target "$addr" -wait 120s -n 0 >/dev/null; then
    log "instructions: $s did not start: $(tail -3 "$slog")"
    return 1
  fi
  local t0 t1
  t0=$(date +%s.%N)
  if ((n > 0)); then
    if ! "$BIN/reqs" -target "$addr" -n "$n" -c "$INSTR_CONNS" -pipeline "${INSTR_DEPTH:-1}" -timeout 600s >"$tag.reqs" 2>&1; then
      log "instructions: $s: requests failed: $(cat "$tag.reqs"); server log: $slog"
      return 1
    fi
  else
    sleep "$idle"
  fi
  t1=$(date +%s.%N)
  exec {fd}>&-
  if [ "$s" = nginx ]; then
    # nginx does not read stdin: ask it to stop (under perf, the child).
    local target=$pid
    if [ "$mode" = perf ]; then target=$(pgrep -P "$pid" | head -1); fi
    kill -QUIT "$target" 2>/dev/null || true
  fi
  # Bounded wait for the counter to write its figure.
  local i
  for ((i = 0; i < 1200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  wait "$pid" 2>/dev/null || true
  local count
  case $mode in
    perf) count=$(awk -F, '/instructions/ {print $1}' "$tag.count") ;;
    callgrind) count=$(awk '$1 == "totals:" {print $2}' "$tag.count" 2>/dev/null) ;;
  esac
  if [ -z "$count" ]; then
    log "instructions: $s: no count; server log:"
    tail -5 "$slog" >&2
    return 1
  fi
  echo "$count $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')"
}

instr_table() {
  local rows=$1 mode=$2 s
  echo
  local how="keep-alive requests"
  if ((${INSTR_DEPTH:-1} > 1)); then how="requests pipelined $INSTR_DEPTH at a time"; fi
  echo "### Instructions per request ($mode, user space only; $INSTR_N $how over $INSTR_CONNS connections, median of $INSTR_ROUNDS rounds)"
  echo
  echo "(I(N requests) - I(0 requests, same idle time)) / N; server on one CPU, GOMAXPROCS=1."
  echo
  echo "| server | instructions/request | ×dally |"
  echo "|---|---:|---:|"
  local d
  d=$(awk -F'\t' 'NR > 1 && $2 == "dally" {print $8}' "$rows" | median)
  for s in "${INSTR_SERVERS[@]}"; do
    local v
    v=$(awk -F'\t' -v s="$s" 'NR > 1 && $2 == s {print $8}' "$rows" | median)
    if [ "$v" = NA ]; then
      echo "| $s | $(no_data "$s") | |"
    elif [ "$d" = NA ]; then
      printf '| %s | %.0f | — |\n' "$s" "$v"
    else
      printf '| %s | %.0f | %.2f |\n' "$s" "$v" "$(awk -v a="$v" -v b="$d" 'BEGIN {print a / b}')"
    fi
  done
}
