# bench/lib.sh: what every benchmark in bench/ shares, sourced by bench/run.
# Building the servers and clients, starting and stopping a server (recording
# every PID we start so the EXIT trap can stop exactly those), reading a
# process's memory and CPU time from /proc, and medians.

# The servers in the order a round starts from; each round rotates it so no
# server always runs first (cold caches) or last (a warm, noisy neighbour).
ALL_SERVERS=(dally nethttp fasthttp nginx)
declare -A PORT=([dally]=18080 [nethttp]=18081 [fasthttp]=18082 [nginx]=18083)

STARTED=()       # every PID bench/run started and has not yet reaped
SERVERS=()       # servers that built, filled by build_all
SERVER_ROOT=     # PID we started for the running server (nginx: its master)
SERVER_PIDS=()   # PIDs whose CPU time is the server's (nginx: master and worker)
SERVER_MEM_PID=  # PID that holds the connections (nginx: the worker)
RESPONSE_BYTES=  # size on the wire of one response of the running server

log() { echo "bench: $*" >&2; }

# ensure_tools CMD:PACKAGE ...: apt-get install the packages whose command is
# missing, so the scripts run on a fresh Debian machine.
ensure_tools() {
  local need=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  log "installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
}

# build_all: build the servers and clients into $BIN. An anchor or client
# that does not build is a broken harness and stops the run; dally's server
# is under construction, so if it does not build it is skipped, loudly, and
# its column says so. Nothing stands in for it.
build_all() {
  mkdir -p "$BIN"
  log "building clients and anchors"
  (cd "$BENCH_DIR" && go build -o "$BIN/" ./servers/nethttp ./servers/fasthttp ./reqs ./idlemem)
  SERVERS=()
  local s
  for s in "${ALL_SERVERS[@]}"; do
    case $s in
      dally)
        if (cd "$BENCH_DIR" && go build -o "$BIN/dally" ./servers/dally) >"$OUT/dally-build.log" 2>&1; then
          SERVERS+=(dally)
        else
          log "SKIPPING dally: github.com/dallyhttp/dally/server does not build yet:"
          sed 's/^/bench:   /' "$OUT/dally-build.log" | head -5 >&2
          echo "dally: does not build (see dally-build.log)" >>"$OUT/skipped.txt"
        fi ;;
      nginx)
        if command -v nginx >/dev/null 2>&1; then
          SERVERS+=(nginx)
        else
          log "SKIPPING nginx: not installed"
          echo "nginx: not installed" >>"$OUT/skipped.txt"
        fi ;;
      *) SERVERS+=("$s") ;;
    esac
  done
  log "servers: ${SERVERS[*]}"
}

# rotated ROUND NAME...: the names rotated left by ROUND-1.
rotated() {
  local r=$1; shift
  local a=("$@") n=$# i
  for ((i = 0; i < n; i++)); do echo "${a[(i + r - 1) % n]}"; done
}

# start_server NAME [CPUS]: start NAME on 127.0.0.1:PORT[NAME], pinned to the
# CPU list CPUS when given, and wait until it answers a real request. Sets
# SERVER_ROOT, SERVER_PIDS, SERVER_MEM_PID and RESPONSE_BYTES. Not to be run
# in a subshell: the PIDs must be this shell's children.
start_server() {
  local name=$1 cpus=${2:-} addr=127.0.0.1:${PORT[$1]}
  local pin=()
  [ -n "$cpus" ] && pin=(taskset -c "$cpus")
  local logf="$OUT/logs/$name.log"
  mkdir -p "$OUT/logs"
  case $name in
    nginx)
      NGINX_PREFIX=$(mktemp -d /tmp/dally-bench-nginx.XXXXXX)
      "$BENCH_DIR/servers/nginx/genconf" "$NGINX_PREFIX" "$addr" >/dev/null
      "${pin[@]}" nginx -p "$NGINX_PREFIX" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/error.log" >>"$logf" 2>&1 &
      ;;
    *)
      "${pin[@]}" "$BIN/$name" -listen "$addr" >>"$logf" 2>&1 &
      ;;
  esac
  SERVER_ROOT=$!
  STARTED+=("$SERVER_ROOT")
  if ! wait_ready "$name"; then
    log "$name did not come up; its log:"
    tail -5 "$logf" >&2
    [ "$name" = nginx ] && tail -5 "$NGINX_PREFIX/error.log" >&2
    stop_server
    return 1
  fi
}

# wait_ready NAME: one real request, retried while the server starts; also
# learns RESPONSE_BYTES and, for nginx, the worker's PID.
wait_ready() {
  local name=$1 line= i
  # Up to 15 s, giving up early if the server has already exited.
  for ((i = 0; i < 15; i++)); do
    line=$("$BIN/reqs" -target "127.0.0.1:${PORT[$name]}" -wait 1s -n 1 -timeout 5s 2>&1) && break
    line=
    kill -0 "$SERVER_ROOT" 2>/dev/null || break
  done
  [ -n "$line" ] || return 1
  RESPONSE_BYTES=$(sed -n 's/.*response_bytes=\([0-9]*\).*/\1/p' <<<"$line")
  SERVER_PIDS=("$SERVER_ROOT")
  SERVER_MEM_PID=$SERVER_ROOT
  if [ "$name" = nginx ]; then
    # The worker answered the request, so it exists; it is the master's only
    # child (worker_processes 1) and holds every connection.
    SERVER_MEM_PID=$(cat /proc/"$SERVER_ROOT"/task/*/children | tr ' ' '\n' | grep -m1 .)
    SERVER_PIDS+=("$SERVER_MEM_PID")
  fi
}

# stop_server: stop the running server and reap it (bounded).
stop_server() {
  [ -n "$SERVER_ROOT" ] || return 0
  stop_pid "$SERVER_ROOT"
  if [ -n "${NGINX_PREFIX:-}" ]; then
    # Keep what nginx said (e.g. that it reused connections) before the
    # prefix goes.
    cat "$NGINX_PREFIX/error.log" >>"$OUT/logs/nginx-error.log" 2>/dev/null || true
    rm -rf "$NGINX_PREFIX"
  fi
  NGINX_PREFIX=
  SERVER_ROOT=
}

# stop_pid PID: SIGTERM, up to 10 s to exit, then SIGKILL; reap; forget it.
stop_pid() {
  local pid=$1 i
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      # A zombie answers kill -0; it has exited and only needs reaping.
      [ "$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null)" = Z ] && break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null)" != Z ] &&
      kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${STARTED[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  STARTED=("${keep[@]}")
}

# cleanup: the EXIT trap. Stops every process this run started, by PID.
cleanup() {
  local p
  for p in "${STARTED[@]}"; do stop_pid "$p"; done
  [ -n "${NGINX_PREFIX:-}" ] && rm -rf "$NGINX_PREFIX"
  [ -n "${TMPD:-}" ] && rm -rf "$TMPD"
  return 0
}

# status_kb PID FIELD: a "kB" field of /proc/PID/status (VmRSS, ...).
status_kb() { awk -v f="$2:" '$1 == f {print $2}' /proc/"$1"/status; }

# pss_kb PID: proportional set size, which shares pages (the Go binary's
# text, nginx's shared memory) out fairly between the processes mapping them.
pss_kb() { awk '$1 == "Pss:" {print $2}' /proc/"$1"/smaps_rollup; }

# cpu_ticks PID...: utime+stime summed over the PIDs, in clock ticks. The
# fields are counted after the ")" closing comm, which may contain spaces.
cpu_ticks() {
  local p t=0 v
  for p in "$@"; do
    v=$(sed 's/^.*) //' /proc/"$p"/stat | awk '{print $12 + $13}')
    t=$((t + v))
  done
  echo "$t"
}

# median: the median of the numbers on stdin (mean of the middle two for an
# even count); mawk has no asort, so sort(1) does the sorting.
median() {
  sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) { print "NA"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# no_data SERVER: why a table has no figure for SERVER.
no_data() {
  if [[ " ${SERVERS[*]} " == *" $1 "* ]]; then
    echo "failed (see logs)"
  elif grep -q "^$1: does not build" "$OUT/skipped.txt" 2>/dev/null; then
    echo "pending (does not build)"
  else
    echo "not run"
  fi
}
