-- WebSocket upgrade requests for wrk, against a node that is at --max-connections (bench/overload):
-- every request is `GET /v1` with the upgrade headers and a valid bearer token, answered 503 with
-- `Connection: close`, so wrk opens a new TCP connection for each one: connects refused per second.
--
--   wrk -t2 -c32 -d10s --latency -s bench/wrk/upgrade.lua http://127.0.0.1:18190/v1 -- <token>
--
-- (Against a node with room left the first upgrade succeeds and wrk waits on a WebSocket: fill it first.)
-- done() prints the `WRK_JSON {...}` line bench/wrk/run.py reads (shared with publish.lua: report.lua).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(dir .. "report.lua")

function init(args)
  wrk.method = "GET"
  wrk.headers["Upgrade"] = "websocket"
  wrk.headers["Connection"] = "Upgrade"
  wrk.headers["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
  wrk.headers["Sec-WebSocket-Version"] = "13"
  local token = args[1]
  if token ~= nil and token ~= "" and token ~= "-" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end
