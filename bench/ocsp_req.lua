-- SPDX-License-Identifier: Apache-2.0
-- bench/ocsp_req.lua: wrk script for bench/ocsp.sh. BENCH_METHOD=POST sends the DER request in
-- the file named by $BENCH_BODY to $BENCH_PATH; BENCH_METHOD=GET asks for $BENCH_PATH (which
-- then holds the base64 request). BENCH_HOST is the Host header (the script is read before wrk
-- knows the host). Counts answers that are not OCSP "successful" (a body that
-- does not start 30 82 .. 0a 01 00 or 30 81 .. 0a 01 00) as bad. At the end prints:
--   WRKSTAT requests=N non2xx=N errors=N bad=N seconds=S p50_ms=X p99_ms=Y
local method = os.getenv("BENCH_METHOD") or "POST"
local path = os.getenv("BENCH_PATH") or "/"
local body = nil
if method == "POST" then
  local f = assert(io.open(os.getenv("BENCH_BODY") or "", "rb"), "BENCH_BODY must name the request")
  body = f:read("*a")
  f:close()
end
local headers = {["Content-Type"] = "application/ocsp-request", ["Host"] = os.getenv("BENCH_HOST")}
local req = wrk.format(method, path, headers, body)
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function request()
  return req
end

-- an OCSPResponse whose responseStatus is successful: SEQUENCE, long length, ENUMERATED 0
local function ok(b)
  if b == nil or #b < 7 or b:byte(1) ~= 0x30 then return false end
  local i = 2
  local l = b:byte(i)
  if l >= 0x80 then i = i + (l - 0x80) end
  return b:byte(i + 1) == 0x0a and b:byte(i + 2) == 0x01 and b:byte(i + 3) == 0x00
end

function response(status, hdrs, b)
  if status ~= 200 or not ok(b) then bad = bad + 1 end
end

function done(summary, latency, requests)
  local nbad = 0
  for _, t in ipairs(threads) do nbad = nbad + (t:get("bad") or 0) end
  local e = summary.errors
  io.write(string.format(
    "WRKSTAT requests=%d non2xx=%d errors=%d bad=%d seconds=%.3f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, nbad,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
