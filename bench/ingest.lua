-- wrk script for bench_ingest.py: POST one pre-built face event per request, each with its own
-- event_id (a replay would hit the cheap idempotent path), and count the answers.
-- Environment: INGEST_BODIES (a file, one JSON body per line), INGEST_TOKEN (worker JWT).

local bodies = {}
for line in io.lines(os.getenv("INGEST_BODIES")) do
  bodies[#bodies + 1] = line
end
-- Globals, not locals: done() runs in another Lua state and reads them with thread:get().
next_body = 0
exhausted = 0
statuses = {}
new_customers, uncertain, staff = 0, 0, 0
local threads = {}

setup = function(thread)
  threads[#threads + 1] = thread
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("INGEST_TOKEN")

request = function()
  next_body = next_body + 1
  if next_body > #bodies then
    exhausted = exhausted + 1
    next_body = 1
  end
  return wrk.format(nil, "/v1/events/face", nil, bodies[next_body])
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if string.find(body, '"is_new_customer":true', 1, true) then new_customers = new_customers + 1 end
  if string.find(body, '"uncertain":true', 1, true) then uncertain = uncertain + 1 end
  if string.find(body, '"is_staff":true', 1, true) then staff = staff + 1 end
end

done = function(summary, latency, requests)
  local parts = {}
  local counts = {}
  new_customers, uncertain, staff, exhausted = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do counts[status] = (counts[status] or 0) + n end
    new_customers = new_customers + thread:get("new_customers")
    uncertain = uncertain + thread:get("uncertain")
    staff = staff + thread:get("staff")
    exhausted = exhausted + thread:get("exhausted")
  end
  for status, n in pairs(counts) do parts[#parts + 1] = status .. "=" .. n end
  io.write(string.format(
    "INGEST requests=%d seconds=%.3f errors=%d p50=%.2f p95=%.2f p99=%.2f max=%.2f new=%d uncertain=%d staff=%d exhausted=%d statuses=%s\n",
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, new_customers, uncertain, staff, exhausted, table.concat(parts, ",")))
end
