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
-- Environment: PAYLOAD (file), SIGNATURE (sha256=..., without VARIANTS), VARIANTS, START
-- (default 0), THREADS (default 1), EVENT (default pull_request), PACE_MS (optional: a
-- pause before each request on each connection, to hold a rate).

local payload_file = assert(os.getenv("PAYLOAD"), "PAYLOAD is not set")
local signature = os.getenv("SIGNATURE")
local variants_file = os.getenv("VARIANTS")
assert(signature or variants_file, "neither SIGNATURE nor VARIANTS is set")
local start = tonumber(os.getenv("START") or "0")
local thread_count = tonumber(os.getenv("THREADS") or "1")
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

-- The variants: their whitespace tails and signatures, in order; and how many requests
-- this thread has sent (a global, read by `done`).
local tails, signatures = {}, {}
sent = 0

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
  end
end

function request()
  counter = counter + 1
  wrk.headers["X-GitHub-Delivery"] = string.format("bench-%s-%s-%d", stamp, prefix, counter)
  if variants_file then
    local i = variant(sent) % #tails + 1
    sent = sent + 1
    wrk.headers["X-Hub-Signature-256"] = signatures[i]
    return wrk.format(nil, nil, nil, body .. tails[i])
  end
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
    local n = thread:get("sent") or 0
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
