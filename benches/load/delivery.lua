-- wrk script: POSTs one signed webhook delivery, with a fresh X-GitHub-Delivery id on each
-- request (the signature covers only the body, so it is computed once, by run.sh).
--
-- Environment: PAYLOAD (file), SIGNATURE (sha256=...), EVENT (default pull_request),
-- PACE_MS (optional: a pause before each request on each connection, to hold a rate).

local payload_file = assert(os.getenv("PAYLOAD"), "PAYLOAD is not set")
local signature = assert(os.getenv("SIGNATURE"), "SIGNATURE is not set")
local event = os.getenv("EVENT") or "pull_request"
local pace = tonumber(os.getenv("PACE_MS") or "0")

local f = assert(io.open(payload_file, "rb"))
local body = f:read("*a")
f:close()

local threads = {}
local counter = 0
local stamp = ""

function setup(thread)
  -- Sets the global `prefix` in that thread's interpreter, so threads' ids never collide.
  thread:set("prefix", "t" .. #threads)
  table.insert(threads, thread)
end

function init(args)
  stamp = tostring(os.time())
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-GitHub-Event"] = event
  wrk.headers["X-Hub-Signature-256"] = signature
  wrk.headers["User-Agent"] = "GitHub-Hookshot/bench"
end

function request()
  counter = counter + 1
  wrk.headers["X-GitHub-Delivery"] = string.format("bench-%s-%s-%d", stamp, prefix, counter)
  return wrk.format()
end

if pace > 0 then
  function delay()
    return pace
  end
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local non2xx = (summary.errors.status or 0)
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f errors=%d non2xx=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    non2xx))
end
