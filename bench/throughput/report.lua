-- report.lua: wrk's own summary in one machine-readable line, for
-- bench/throughput. Defining only done() keeps wrk on its fast path (no Lua
-- call per request or response).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKSTATS requests=%d bytes=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.bytes, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout))
end
