-- wrk script: POSTs signed webhook deliveries, each with a fresh X-GitHub-Delivery id.
--
-- With VARIANTS (a file of lines `<16 bits> sha256=<hex>`, from node/variants.mjs), each
-- request sends the next variant of the payload: the payload and 16 characters of JSON
-- whitespace spelling its bits (space 0, tab 1), with its own signature, so every request
-- is a new delivery to a service that knows a repeat by its body. From START, the THREADS
-- threads take the variants in turn (thread k the k-th of every THREADS); the summary
-- says where the next run should start (`next_variant`: past every variant sent, so it
-- sends none that was sent lately). Without VARIANTS, every request sends the payload
-- itself under SIGNATURE: after the first, repeats of one body.
--
-- With VARIANTS, each thread builds its requests before the run starts, RING of them
-- among all threads (default 16384: more than the 10,000 bodies agentpods remembers, so
-- that a body sent again after a whole ring is a new delivery to it), and sends them in
-- turn, again from the first once all are sent: per request, wrk's Lua only hands over a
-- string. Before, each request joined the 21 KB body and formatted the request in Lua,
-- which held wrk near 6,500 requests/s on its core whatever the server could do.
--
-- Environment: PAYLOAD (file), SIGNATURE (sha256=..., without VARIANTS), VARIANTS, START
-- (default 0), THREADS (default 1), RING (default 16384), EVENT (default pull_request),
-- PACE_MS (optional: a pause before each request on each connection, to hold a rate).

local payload_file = assert(os.getenv("PAYLOAD"), "PAYLOAD is not set")
local signature = os.getenv("SIGNATURE")
local variants_file = os.getenv("VARIANTS")
assert(signature or variants_file, "neither SIGNATURE nor VARIANTS is set")
local start = tonumber(os.getenv("START") or "0")
local thread_count = tonumber(os.getenv("THREADS") or "1")
local ring_total = tonumber(os.getenv("RING") or "16384")
local event = os.getenv("EVENT") or "pull_request"
local pace = tonumber(os.getenv("PACE_MS") or "0")

local f = assert(io.open(payload_file, "rb"))
local body = f:read("*a")
f:close()

local threads = {}
local counter = 0
local stamp = ""

function setup(thread)
  -- Sets the globals `prefix` and `index` in that thread's interpreter, so threads' ids
  -- never collide and each starts at its own share of the variants.
  thread:set("prefix", "t" .. #threads)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

-- The variants: their whitespace tails and signatures, in order; this thread's requests,
-- built in `init`; how many it has sent and how many it built (globals, read by `done`).
local tails, signatures = {}, {}
local ring = {}
sent = 0
built = 0

-- The variant of this thread's `n`-th request (from 0), counted from START, unwrapped.
local function variant(n)
  return start + index + thread_count * n
end

function init(args)
  stamp = tostring(os.time())
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-GitHub-Event"] = event
  wrk.headers["X-Hub-Signature-256"] = signature
  wrk.headers["User-Agent"] = "GitHub-Hookshot/bench"
  if variants_file then
    for line in io.lines(variants_file) do
      local bits, sig = line:match("^([01]+) (sha256=%x+)$")
      assert(bits, "not a variant line: " .. line)
      table.insert(tails, (bits:gsub("0", " "):gsub("1", "\t")))
      table.insert(signatures, sig)
    end
    assert(#tails > 0, variants_file .. ": no variants")
    -- This thread's share of the ring: its variants in order, each a whole request.
    local share = math.max(1, math.ceil(ring_total / thread_count))
    for n = 0, share - 1 do
      local i = variant(n) % #tails + 1
      wrk.headers["X-GitHub-Delivery"] = string.format("bench-%s-%s-%d", stamp, prefix, n)
      wrk.headers["X-Hub-Signature-256"] = signatures[i]
      ring[n + 1] = wrk.format(nil, nil, nil, body .. tails[i])
    end
    built = share
  end
end

function request()
  if variants_file then
    sent = sent + 1
    return ring[(sent - 1) % built + 1]
  end
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
  local next_variant = start
  for _, thread in ipairs(threads) do
    -- Past every variant of the thread's ring that was sent: all of them once it went round.
    local n = math.min(thread:get("sent") or 0, thread:get("built") or 0)
    next_variant = math.max(next_variant, start + thread:get("index") + thread_count * n)
  end
  local non2xx = (summary.errors.status or 0)
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f next_variant=%d errors=%d non2xx=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    latency.max / 1000, next_variant % 65536,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    non2xx))
end
