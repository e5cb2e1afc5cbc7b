# bench/idlemem/idlemem.sh, sourced by bench/run: memory per idle keep-alive
# connection. For each round and server: start the server, read its memory,
# open N keep-alive connections (one GET / answered on each) from several
# client processes, wait SETTLE seconds, read its memory again, release the
# clients, stop the server. Figure: (RSS_after - RSS_before) / N.

# Descriptors one client process may hold: the machine allows 20,000 per
# process and a Go program needs a few for itself.
IDLE_CLIENT_MAX=18000
# Connections per source address (127.0.0.2, .3, ...): far below the 28,000
# ephemeral ports per address, and it spreads N over many "clients" the way a
# server with per-client policy would see real traffic.
IDLE_PER_SRC=1000

bench_idlemem() {
  local rows="$OUT/idlemem.tsv"
  printf 'round\tserver\tn\trss_before_kb\trss_after_kb\tpss_before_kb\tpss_after_kb\tthreads\tstill_open\n' >"$rows"
  log "idlemem: N=$IDLE_N connections, $ROUNDS rounds, settle ${SETTLE}s"
  if ((IDLE_N > 19000)); then
    log "idlemem: warning: N=$IDLE_N exceeds what a server may hold here (~19,000 of its 20,000 descriptors)"
  fi
  local r s
  for ((r = 1; r <= ROUNDS; r++)); do
    for s in $(rotated "$r" "${SERVERS[@]}"); do
      idlemem_one "$r" "$s" >>"$rows" || log "idlemem: round $r $s failed, no row"
    done
  done
  idlemem_table "$rows" | tee "$OUT/idlemem.md"
}

# idlemem_one ROUND SERVER: one measurement, printed as one TSV row.
idlemem_one() {
  local r=$1 s=$2
  # The server is pinned to the second CPU, where it runs in the throughput
  # benchmark too; memory does not depend on it, but its thread count does.
  start_server "$s" 1 || return 1
  sleep 1
  local pid=$SERVER_MEM_PID
  local rss0 pss0
  rss0=$(status_kb "$pid" VmRSS)
  pss0=$(pss_kb "$pid")

  # Split N over as few client processes as the descriptor limit allows.
  local k=$(((IDLE_N + IDLE_CLIENT_MAX - 1) / IDLE_CLIENT_MAX))
  local j n src=2 cpids=() fds=() outs=() fd
  for ((j = 0; j < k; j++)); do
    n=$((IDLE_N / k + (j < IDLE_N % k ? 1 : 0)))
    mkfifo "$TMPD/in.$r.$s.$j"
    outs+=("$TMPD/out.$r.$s.$j")
    # The subshell drops the write ends of the earlier clients' FIFOs, or
    # each later client would keep an earlier one from seeing EOF; it then
    # execs, so $! is the client's own PID.
    (
      for fd in "${fds[@]}"; do exec {fd}>&-; done
      exec "$BIN/idlemem" -target "127.0.0.1:${PORT[$s]}" -n "$n" -src-first "$src" \
        -per-src "$IDLE_PER_SRC" -hold "$((SETTLE + 120))s" -timeout 90s \
        <"$TMPD/in.$r.$s.$j" >"${outs[j]}" 2>>"$OUT/logs/idlemem-client.log"
    ) &
    cpids+=($!)
    STARTED+=($!)
    # Holding the FIFO's write end open keeps the client holding its
    # connections; closing it (below) is the signal to let go.
    exec {fd}>"$TMPD/in.$r.$s.$j"
    fds+=("$fd")
    src=$((src + (n + IDLE_PER_SRC - 1) / IDLE_PER_SRC))
  done

  # Wait (bounded) until every client reports all its connections idle.
  local ok=1 t
  for ((j = 0; j < k; j++)); do
    for ((t = 0; t < 1000; t++)); do
      grep -q '^idle ' "${outs[j]}" && break
      kill -0 "${cpids[j]}" 2>/dev/null || break
      sleep 0.1
    done
    grep -q '^idle ' "${outs[j]}" || ok=0
  done

  local rss1= pss1= threads=
  if ((ok)); then
    # Let the server finish whatever it does after a connection goes idle
    # (release buffers, park goroutines, GC); RSS is read from outside, so a
    # GC cannot be forced.
    sleep "$SETTLE"
    rss1=$(status_kb "$pid" VmRSS)
    pss1=$(pss_kb "$pid")
    threads=$(awk '$1 == "Threads:" {print $2}' /proc/"$pid"/status)
    if [ -z "$rss1" ] || [ -z "$pss1" ]; then
      log "idlemem: $s (PID $pid) exited while its connections were idle"
      ok=0
    fi
  else
    log "idlemem: $s: a client failed to open its connections:"
    tail -3 "$OUT/logs/idlemem-client.log" >&2
  fi

  # Release: close the FIFOs, then each client counts how many connections
  # the server closed meanwhile and exits.
  for fd in "${fds[@]}"; do exec {fd}>&-; done
  local still=0 c
  for ((j = 0; j < k; j++)); do
    for ((t = 0; t < 300; t++)); do
      kill -0 "${cpids[j]}" 2>/dev/null || break
      sleep 0.1
    done
    stop_pid "${cpids[j]}"
    c=$(awk '$1 == "still_open" {print $2}' "${outs[j]}")
    still=$((still + ${c:-0}))
  done
  stop_server
  ((ok)) || return 1
  if ((still == 0)); then
    log "idlemem: $s closed every idle connection; no figure"
    return 1
  fi
  printf '%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n' "$r" "$s" "$IDLE_N" "$rss0" "$rss1" "$pss0" "$pss1" "$threads" "$still"
  log "idlemem: round $r $s: RSS ${rss0} -> ${rss1} kB, Pss ${pss0} -> ${pss1} kB, $still/$IDLE_N still open"
}

# idlemem_table ROWS: the markdown summary, medians over rounds.
idlemem_table() {
  local rows=$1 s
  echo
  echo "### Memory per idle keep-alive connection (N=$IDLE_N, median of $ROUNDS rounds, settle ${SETTLE}s)"
  echo
  echo "N is bounded by the server's 20,000-descriptor limit on this machine."
  echo "nginx: the worker process (the master holds no connections)."
  echo "bytes/conn = (after - before) / connections still open at the end, so a"
  echo "server that closed some idle connections is not credited for them."
  echo
  echo "| server | RSS bytes/conn | Pss bytes/conn | RSS before (MiB) | RSS after (MiB) | threads | still open |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for s in "${ALL_SERVERS[@]}"; do
    if ! awk -F'\t' -v s="$s" 'NR > 1 && $2 == s {f = 1} END {exit !f}' "$rows"; then
      echo "| $s | $(no_data "$s") | | | | | |"
      continue
    fi
    local col
    col() { awk -F'\t' -v s="$s" "NR > 1 && \$2 == s {print $1}" "$rows" | median; }
    printf '| %s | %.0f | %.0f | %.1f | %.1f | %s | %s |\n' "$s" \
      "$(col '($5 - $4) * 1024 / $9')" "$(col '($7 - $6) * 1024 / $9')" \
      "$(col '$4 / 1024')" "$(col '$5 / 1024')" "$(col '$8')" "$(col '$9')"
  done
}
