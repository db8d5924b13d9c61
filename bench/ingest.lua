-- wrk script for bench_ingest.py: POST one pre-built face event per request, each with its own
-- event_id (a replay would hit the cheap idempotent path), and count the answers.
-- Environment: INGEST_BODIES (a file name pattern with one %d, the thread's number from 1: one
-- JSON body per line; every thread has its own file, so no two threads send the same event),
-- INGEST_TOKEN (worker JWT), INGEST_RATE, INGEST_CONNECTIONS and INGEST_START_MS (optional;
-- events/s in all, wrk's -c, and a CLOCK_REALTIME time in ms): send on a schedule at that rate
-- instead of as fast as the server answers. Then wrk runs one connection per thread; each thread
-- sends on its own schedule, from INGEST_START_MS on (wrk starts each thread as soon as its
-- script is loaded, so without a common start the first threads would run alone for a while),
-- and measures latency from when a request was due, not from when it went out, so a slow server
-- is not hidden by requests that waited to be sent (coordinated omission). The run's window is
-- from the start to the last answer, printed as window_ms. INGEST_TRACE (optional, paced runs):
-- a file to write "due_ms latency_ms" per request to, to see when the slow ones happened.

-- Globals, not locals: done() runs in another Lua state and reads them with thread:get().
next_body = 0
exhausted = 0
statuses = {}
new_customers, uncertain, staff = 0, 0, 0
local threads = {}
local bodies = {}
local rate = tonumber(os.getenv("INGEST_RATE") or "")
latencies = {}
dues = {}
last_answer_ms = 0

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } ingest_timespec;
int clock_gettime(int clock_id, ingest_timespec *tp);
]]
local clock = ffi.new("ingest_timespec")
local function now_ms()
  -- CLOCK_REALTIME: comparable with INGEST_START_MS, set by another process
  ffi.C.clock_gettime(0, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end
local interval, due, sent_due

init = function(args)
  -- thread_index was set by setup() (in wrk's main Lua state) before this thread's init
  for line in io.lines(string.format(os.getenv("INGEST_BODIES"), thread_index or 1)) do
    bodies[#bodies + 1] = line
  end
  if rate then
    interval = 1000 * tonumber(os.getenv("INGEST_CONNECTIONS")) / rate -- one connection per thread
    math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
    local start = tonumber(os.getenv("INGEST_START_MS") or "") or now_ms()
    start_ms = start
    due = start + math.random() * interval -- threads start staggered
  end
end

delay = function()
  if not rate then return 0 end
  return math.max(0, due - now_ms())
end

setup = function(thread)
  threads[#threads + 1] = thread
  thread:set("thread_index", #threads)
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
  if rate then
    sent_due = math.min(due, now_ms())
    due = due + interval
  end
  return wrk.format(nil, "/v1/events/face", nil, bodies[next_body])
end

response = function(status, headers, body)
  if rate then
    last_answer_ms = now_ms()
    latencies[#latencies + 1] = last_answer_ms - sent_due
    dues[#dues + 1] = sent_due
  end
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
  local p50, p95, p99, max = latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000
  local window_ms = summary.duration / 1000
  if rate then -- from the due times, all threads together
    local all = {}
    local last = 0
    local trace = os.getenv("INGEST_TRACE")
    local out = trace and io.open(trace, "w")
    for _, thread in ipairs(threads) do
      last = math.max(last, thread:get("last_answer_ms"))
      window_ms = last - thread:get("start_ms")
      local thread_dues = thread:get("dues")
      for i, ms in ipairs(thread:get("latencies")) do
        all[#all + 1] = ms
        if out then out:write(string.format("%.1f %.2f\n", thread_dues[i], ms)) end
      end
    end
    if out then out:close() end
    table.sort(all)
    local function pick(q) return all[math.max(1, math.ceil(q * #all))] or 0 end
    p50, p95, p99, max = pick(0.50), pick(0.95), pick(0.99), all[#all] or 0
  end
  io.write(string.format(
    "INGEST requests=%d seconds=%.3f window_ms=%.1f errors=%d p50=%.2f p95=%.2f p99=%.2f max=%.2f new=%d uncertain=%d staff=%d exhausted=%d statuses=%s\n",
    summary.requests, summary.duration / 1e6, window_ms,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    p50, p95, p99, max, new_customers, uncertain, staff, exhausted, table.concat(parts, ",")))
end
