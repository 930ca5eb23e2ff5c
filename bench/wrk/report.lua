-- wrk's done() for the scripts here: one line `WRK_JSON {...}` (requests, errors, latency percentiles in ms)
-- that bench/wrk/run.py parses. Scripts take it with `done = dofile(dir .. "report.lua")`.
return function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"latency_p50_ms":%.3f,"latency_p90_ms":%.3f,' ..
    '"latency_p99_ms":%.3f,"latency_max_ms":%.3f,"latency_mean_ms":%.3f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000))
end
