-- SPDX-License-Identifier: Apache-2.0
-- bench/issue_post.lua: wrk script for bench/issue.sh. Every request POSTs the same JSON body
-- (the file named by $BENCH_BODY) over keep-alive connections, with a bearer token when
-- $BENCH_TOKEN is set. At the end it prints one machine-readable line for the script:
--   WRKSTAT requests=N non2xx=N errors=N seconds=S p50_ms=X p99_ms=Y
-- where errors counts connect/read/write failures and timeouts, and non2xx wrk's
-- "Non-2xx or 3xx responses" (neither server answers 3xx, so the rest are 2xx).

local path = os.getenv("BENCH_BODY")
local f = assert(io.open(path or "", "rb"), "BENCH_BODY must name the request body file")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKSTAT requests=%d non2xx=%d errors=%d seconds=%.3f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
