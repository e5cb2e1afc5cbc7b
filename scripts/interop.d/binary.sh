#!/usr/bin/env bash
# scripts/interop.d/binary.sh: the dally binary as an operator meets it,
# driven by curl: `dally check` on the examples, a config file served, the
# admin listener (/healthz, /metrics, /status/), SIGHUP with a changed root
# on a connection curl keeps alive, SIGTERM and exit 0. Bounded: every curl
# has -m, the process we start is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/need curl python3

tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL $1"; [ -f "$tmp/log" ] && sed 's/^/  | /' "$tmp/log"; exit 1; }
ok() { echo "ok  $1"; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

go build -o "$tmp/dally" ./cmd/dally

"$tmp/dally" check examples/*.yaml >/dev/null || fail "dally check examples"
ok "dally check examples/*.yaml"
if "$tmp/dally" check cmd/dally/internal/config/testdata/bad/many.yaml 2>"$tmp/errs"; then fail "dally check bad file exits 0"; fi
[ "$(grep -c '^cmd/dally/internal/config/testdata/bad/many.yaml:[0-9]*:[0-9]*: ' "$tmp/errs")" -ge 30 ] || fail "dally check: every error with its line"
ok "dally check bad file: $(wc -l <"$tmp/errs") errors with file:line:col"

p=$(freeport); a=$(freeport)
mkdir -p "$tmp/one" "$tmp/two"
echo one >"$tmp/one/f.txt"; echo two >"$tmp/two/f.txt"
conf() { printf 'listeners: [{address: "127.0.0.1:%s"}]\nadmin: {address: "127.0.0.1:%s"}\nroutes: [{type: static, root: %s}]\naccess_log: {enabled: true}\n' "$p" "$a" "$1" >"$tmp/dally.yaml"; }
conf one
"$tmp/dally" -config "$tmp/dally.yaml" 2>"$tmp/log" &
pid=$!
for i in $(seq 100); do grep -q 'SIGHUP reloads' "$tmp/log" 2>/dev/null && break; sleep 0.05; done
grep -q "public   http://127.0.0.1:$p/" "$tmp/log" || fail "banner names the public URL"
grep -q "metrics  http://127.0.0.1:$a/metrics" "$tmp/log" || fail "banner names /metrics"
ok "banner: public, admin, metrics, status"

[ "$(curl -sS -m 5 "http://127.0.0.1:$p/f.txt")" = one ] || fail "static root served"
[ "$(curl -sS -m 5 "http://127.0.0.1:$a/healthz")" = ok ] || fail "admin /healthz"
metrics=$(curl -sS -m 5 "http://127.0.0.1:$a/metrics")
grep -q '^dally_http_requests_total{code="200"} 1$' <<<"$metrics" || fail "admin /metrics counts requests"
page=$(curl -sS -m 5 "http://127.0.0.1:$a/status/")
grep -qi '<html' <<<"$page" || fail "admin /status/"
ok "static route, /healthz, /metrics, /status/"

# One curl, two requests on one connection, SIGHUP in between (curl's
# --next keeps the connection; -w shows how many it opened).
conf two
( sleep 0.3; kill -HUP "$pid" ) &
out=$(curl -sS -m 10 "http://127.0.0.1:$p/f.txt" -w 'connects=%{num_connects} ' --next --rate 1/s "http://127.0.0.1:$p/f.txt" -w 'connects=%{num_connects}' 2>&1 | tr '\n' ' ' || true)
wait $! || true
grep -q 'msg=reloaded' "$tmp/log" || fail "SIGHUP reload logged"
[ "$out" = "one connects=1 two connects=0" ] || fail "reload on a kept-alive connection: got '$out'"
ok "SIGHUP: the next request on the same connection sees the new root"

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || fail "exit $rc after SIGTERM"
grep -q 'msg=stopped' "$tmp/log" || fail "drain logged"
grep -q 'msg=request method=GET target=/f.txt status=200' "$tmp/log" || fail "access log lines"
ok "SIGTERM: drained, exit 0; access log written"
