#!/usr/bin/env bash
# scripts/interop.d/proxy.sh: `dally proxy` against real software. nginx is
# the origin (our own instance on a free loopback port), curl the client:
# reverse proxy in front of nginx, and `curl -x` through the forward proxy,
# plain and CONNECT (-p). Bounded: every curl has -m, every process we start
# is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/need curl nginx python3

tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
waitport() { # port: wait up to 5 s for a listener
  local i
  for i in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

go build -o "$tmp/dally" ./cmd/dally

# The origin: nginx, keep-alive, logging its connection serial number so the
# checks see how the proxy reuses upstream connections.
np=$(freeport)
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 256; }
http {
    log_format conn '\$connection \$request_uri [\$http_via] [\$http_connection]';
    access_log $tmp/nginx/access.log conn;
    keepalive_timeout 60s;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
        listen 127.0.0.1:$np;
        location / { default_type text/plain; return 200 "hello from nginx\n"; }
    }
}
CONF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" -g 'daemon off;' 2>"$tmp/nginx.stderr" &
pids+=($!)
waitport "$np" || { echo "FAIL  nginx did not start"; cat "$tmp/nginx.stderr"; exit 1; }

rp=$(freeport) fp=$(freeport) dp=$(freeport) dead=$(freeport)
"$tmp/dally" proxy -listen "127.0.0.1:$rp" -upstream "http://127.0.0.1:$np" 2>"$tmp/rev.log" &
pids+=($!)
"$tmp/dally" proxy -listen "127.0.0.1:$fp" -forward -connect-ports "$np" 2>"$tmp/fwd.log" &
pids+=($!)
"$tmp/dally" proxy -listen "127.0.0.1:$dp" -upstream "http://127.0.0.1:$dead" 2>"$tmp/dead.log" &
pids+=($!)
for p in "$rp" "$fp" "$dp"; do
  waitport "$p" || { echo "FAIL  dally proxy did not start on $p"; cat "$tmp"/*.log; exit 1; }
done
rev=http://127.0.0.1:$rp origin=http://127.0.0.1:$np

pass=0 fail=0
check() { # name, command...
  local name=$1; shift
  if out=$("$@" 2>&1); then
    pass=$((pass+1)); echo "ok    $name"
  else
    fail=$((fail+1)); echo "FAIL  $name"; echo "$out" | tail -20 | sed 's/^/      /'
  fi
}

reverse_get() {
  curl -s -m 10 -D "$tmp/h" "$rev/one" >"$tmp/b"
  [ "$(cat "$tmp/b")" = "hello from nginx" ] || { cat "$tmp/h" "$tmp/b"; return 1; }
  grep -qi '^Via: 1.1 dally' "$tmp/h" || { echo "no Via"; cat "$tmp/h"; return 1; }
}
reverse_reuse() { # ten requests on one client connection: one connect, serial reuse upstream
  : >"$tmp/nginx/access.log.mark"
  local before n c
  before=$(wc -l <"$tmp/nginx/access.log")
  n=$(curl -s -m 10 -o /dev/null -w '%{num_connects}\n' $(for i in $(seq 10); do echo "$rev/reuse$i"; done) | awk '{s+=$1} END {print s}')
  [ "$n" = 1 ] || { echo "client connects: $n, want 1"; return 1; }
  sleep 0.2
  c=$(tail -n +$((before + 1)) "$tmp/nginx/access.log" | grep ' /reuse' | awk '{print $1}' | sort -u | wc -l)
  [ "$c" -le 2 ] || { echo "nginx saw $c upstream connections for one client"; return 1; }
  if tail -n +$((before + 1)) "$tmp/nginx/access.log" | grep ' /reuse' | grep -v '\[-\]$' | grep -q .; then
    echo "a Connection field reached nginx"; tail -5 "$tmp/nginx/access.log"; return 1
  fi
}
reverse_http10() { # a proxy keeps no persistent connection with an HTTP/1.0 client
  local n
  curl -s -m 10 --http1.0 -H 'Connection: keep-alive' -D "$tmp/h" -o /dev/null "$rev/ten"
  grep -qi '^Connection: close' "$tmp/h" || { echo "no Connection: close"; cat "$tmp/h"; return 1; }
  n=$(curl -s -m 10 --http1.0 -H 'Connection: keep-alive' -o /dev/null -w '%{num_connects}\n' "$rev/a" "$rev/b" | awk '{s+=$1} END {print s}')
  [ "$n" = 2 ] || { echo "connects: $n, want 2"; return 1; }
}
reverse_502() {
  local code
  code=$(curl -s -m 10 -o "$tmp/b" -w '%{http_code}' "http://127.0.0.1:$dp/")
  [ "$code" = 502 ] && grep -q 'upstream refused the connection' "$tmp/b" || { echo "$code $(cat "$tmp/b")"; return 1; }
}
forward_absolute() {
  curl -s -m 10 -D "$tmp/h" -x "http://127.0.0.1:$fp" "$origin/fwd" >"$tmp/b"
  [ "$(cat "$tmp/b")" = "hello from nginx" ] && grep -qi '^Via: 1.1 dally' "$tmp/h" || { cat "$tmp/h" "$tmp/b"; return 1; }
}
forward_connect() {
  curl -s -m 10 -p -x "http://127.0.0.1:$fp" -D "$tmp/h" "$origin/tunnel" >"$tmp/b"
  [ "$(cat "$tmp/b")" = "hello from nginx" ] && grep -q '200 Connection Established' "$tmp/h" || { cat "$tmp/h" "$tmp/b"; return 1; }
}
forward_connect_denied() {
  local code
  code=$(curl -s -m 10 -p -x "http://127.0.0.1:$fp" -o /dev/null -w '%{http_connect}' "http://127.0.0.1:1/" || true)
  [ "$code" = 403 ] || { echo "CONNECT to port 1: $code, want 403"; return 1; }
}

check "reverse: GET through dally proxy to nginx, Via" reverse_get
check "reverse: one client connection, serial reuse upstream, no Connection upstream" reverse_reuse
check "reverse: HTTP/1.0 client gets Connection: close" reverse_http10
check "reverse: refused upstream is 502" reverse_502
check "forward: curl -x absolute-form" forward_absolute
check "forward: curl -p -x CONNECT tunnel" forward_connect
check "forward: CONNECT to a port not allowed is 403" forward_connect_denied

echo "interop proxy: $pass passed, $fail failed"
[ "$fail" = 0 ]
