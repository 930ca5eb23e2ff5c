-- Single-event publishing for wrk (Debian's `wrk`): one event per POST, a unique id per request.
--
--   wrk -t2 -c32 -d10s --latency -s bench/wrk/publish.lua http://127.0.0.1:18080/v1/events -- <publisher-key> <nonce> <sessions>
--   wrk -t2 -c32 -d10s --latency -s bench/wrk/publish.lua http://127.0.0.1:8090/pub/s-0 -- - <nonce> 32 /pub/s-
--
-- Arguments after `--` (all optional): the bearer key ("-" or empty: no Authorization header, e.g. Nchan),
-- a nonce that makes the ids unique across runs (default: the time), the number of sessions the events
-- go round-robin to (32), and a path prefix for a channel per session (Nchan). The body has the shape blobhub-realtime-bench publishes:
--   {"id":"wrk-<nonce>-<thread>-<n>","type":"processor.output","revision_id":"rev-1","session_id":"s-<k>","seq":<n>,"sent_ns":0}
-- The server would treat a repeated id as a retry of the same event, so every request carries a new one.
-- done() prints one line `WRK_JSON {...}` (requests, errors, latency percentiles in ms) for bench/wrk/run.py
-- (report.lua, shared with upgrade.lua).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(dir .. "report.lua")

local threads = {}
-- WRK_PORTS (optional, e.g. "18181,18182,18183"): thread i publishes to port i (round-robin) of the URL's host, so one
-- wrk spreads its connections over the nodes of a cluster (bench/cluster's single-wrk).
local ports = {}
for port in string.gmatch(os.getenv("WRK_PORTS") or "", "%d+") do table.insert(ports, port) end

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
  if #ports > 0 then
    thread.addr = wrk.lookup(wrk.host, ports[(#threads - 1) % #ports + 1])[1]
  end
end

local counter = 0
local prefix = ""
local sessions = 32
local pathPrefix = nil

function init(args)
  local key = args[1]
  local nonce = args[2] or tostring(os.time())
  sessions = tonumber(args[3] or "32") or 32
  -- Optional: publish to a channel per session, path = <prefix><k> (Nchan: "/pub/s-"), as blobhub-realtime-bench
  -- does; one channel for every connection made Nchan answer a third of the requests with 500.
  if args[4] ~= nil and args[4] ~= "" then pathPrefix = args[4] end
  prefix = '{"id":"wrk-' .. nonce .. '-' .. tostring(tid or 0) .. '-'
  wrk.headers["Content-Type"] = "application/json"
  if key ~= nil and key ~= "" and key ~= "-" then
    wrk.headers["Authorization"] = "Bearer " .. key
  end
end

function request()
  counter = counter + 1
  local body = prefix .. counter .. '","type":"processor.output","revision_id":"rev-1","session_id":"s-'
    .. (counter % sessions) .. '","seq":' .. counter .. ',"sent_ns":0}'
  local path = nil
  if pathPrefix ~= nil then path = pathPrefix .. (counter % sessions) end
  return wrk.format("POST", path, nil, body)
end
