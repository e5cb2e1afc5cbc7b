#!/usr/bin/env bash
# scripts/interop.d/slowhttptest.sh: Debian's slowhttptest against
# `dally serve` in its three slow modes: slow headers (slowloris), slow body
# (R-U-Dead-Yet) and slow read. Each attack is bounded (CONNS connections,
# LEN seconds). Checks: a curl probe is answered every second during the
# attack and after it, and the server's descriptors (/proc/PID/fd) come
# back to their count before the attack. DALLY_BIN=path uses that binary
# instead of building cmd/dally.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/need slowhttptest curl python3

CONNS=${CONNS:-200}
LEN=${LEN:-15}
tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ -n "${DALLY_BIN:-}" ]; then cp "$DALLY_BIN" "$tmp/dally"; else go build -o "$tmp/dally" ./cmd/dally; fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
base="http://127.0.0.1:$port"
"$tmp/dally" serve -listen "127.0.0.1:$port" 2>"$tmp/server.log" &
spid=$!
pids+=($spid)
for _ in $(seq 100); do curl -s -o /dev/null "$base/" && break; sleep 0.05; done

fds() { ls "/proc/$spid/fd" | wc -l; }
fail=0
result() { # ok|FAIL name [detail]
  if [ "$1" = ok ]; then echo "ok    $2"; else echo "FAIL  $2${3:+: $3}"; fail=1; fi
}

# attack NAME SLOWHTTPTEST-ARGS...: run one bounded attack with a probe.
attack() {
  local name=$1; shift
  local before after probes=0 missed=0 i
  sleep 0.5
  before=$(fds)
  timeout $((LEN + 30)) slowhttptest "$@" -c "$CONNS" -r 100 -l "$LEN" -p 3 -o "$tmp/$name" -g >"$tmp/$name.out" 2>&1 &
  local apid=$!
  pids+=($apid)
  sleep 2 # let the connections open
  local peak=0 n
  while kill -0 "$apid" 2>/dev/null; do
    probes=$((probes + 1))
    curl -s -m 3 -o /dev/null "$base/" || missed=$((missed + 1))
    n=$(fds); ((n > peak)) && peak=$n
    sleep 1
  done
  wait "$apid" || true
  local open_at_peak=$((peak - before))
  # The descriptors come back once slowhttptest's connections are gone
  # (closes in stages take up to the linger bound, 2 s).
  for i in $(seq 50); do
    after=$(fds)
    ((after <= before)) && break
    sleep 0.2
  done
  curl -s -m 3 -o /dev/null "$base/" || missed=$((missed + 1))
  echo "      $name: $probes probes during the attack, $missed missed; server descriptors $before before, $peak at peak (+$open_at_peak), $after after"
  grep -E "^ *(service available|Exit status|closed|connected|pending)" "$tmp/$name.out" | tail -5 | sed -e "s/\x1b\[[0-9;]*m//g" -e "s/^/      slowhttptest: /" || true
  if ((missed > 0)); then result FAIL "slowhttptest $name" "$missed probes missed"
  elif ((after > before)); then result FAIL "slowhttptest $name" "descriptors $before -> $after"
  elif ((open_at_peak < CONNS / 4)); then result FAIL "slowhttptest $name" "the attack never held connections (+$open_at_peak)"
  else result ok "slowhttptest $name"; fi
}

attack slowloris -H -i 1 -x 8 -u "$base/"
attack slow-body -B -i 1 -x 8 -s 65536 -u "$base/echo"
attack slow-read -X -k 2 -n 1 -w 64 -y 256 -z 64 -u "$base/bytes/1048576"
kill -0 "$spid" || result FAIL "dally survived"
exit $fail
