-- pipeline.lua: wrk sends DEPTH requests in one write (wrk ... -s
-- pipeline.lua URL -- DEPTH, default 16). wrk counts the requests in the
-- string request() returns and writes the next batch only after as many
-- responses, so each one counted is a whole parsed response; bench/throughput
-- also checks bytes read against requests times the size of one response.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local batch

init = function(args)
  local depth = tonumber(args[1]) or 16
  local one = wrk.format("GET", "/")
  batch = string.rep(one, depth)
end

request = function()
  return batch
end
