-- bench/hooks.lua — wrk script for bench/hooks_run: POSTs one signed GitHub
-- push delivery body with a unique X-GitHub-Delivery on every request.
--
--   BENCH_HOOKS_BODY=file BENCH_HOOKS_SIGNATURE=hex wrk -s bench/hooks.lua URL
--
-- The signature covers the body only, so one signature serves every request;
-- only the delivery id changes. An id is "<run>-<thread>-<counter>": <run> is
-- 12 random hex digits read once per wrk invocation (so a warm-up and the
-- measured run never share an id), <thread> the thread's number, <counter>
-- that thread's request count. At the end, done() prints one line
--   hooks: run=<run> status=<code>:<count>,...
-- with the number of responses per status code over all threads (wrk itself
-- only counts "non-2xx", and a 200 here would mean a duplicate), and a line
--   hooks: latency_ms p50=… p90=… p95=… p99=… p99.9=… max=…

local run = nil
local threads = {}
local nthreads = 0

local function random_hex(n)
   local f = assert(io.open("/dev/urandom", "rb"))
   local bytes = f:read(n)
   f:close()
   return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- runs in the main Lua state once per thread, before the threads start
function setup(thread)
   if run == nil then run = random_hex(6) end
   nthreads = nthreads + 1
   thread:set("prefix", run .. "-" .. nthreads .. "-")
   thread:set("run", run)
   threads[nthreads] = thread
end

-- the rest runs in each thread's own Lua state
local id_prefix, counter, headers, path, body
codes = {} -- a global: done() reads it with thread:get (wrk copies tables)

function init(args)
   local file = assert(os.getenv("BENCH_HOOKS_BODY"), "BENCH_HOOKS_BODY unset")
   local signature = assert(os.getenv("BENCH_HOOKS_SIGNATURE"), "BENCH_HOOKS_SIGNATURE unset")
   local f = assert(io.open(file, "rb"))
   body = f:read("*a")
   f:close()
   headers = {
      ["Content-Type"] = "application/json",
      ["User-Agent"] = "GitHub-Hookshot/bench",
      ["X-GitHub-Event"] = "push",
      ["X-Hub-Signature-256"] = "sha256=" .. signature,
   }
   id_prefix = prefix -- the global that setup() set in this thread
   counter = 0
   path = wrk.path
end

function request()
   counter = counter + 1
   headers["X-GitHub-Delivery"] = id_prefix .. counter
   return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, resp_body)
   codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      for code, n in pairs(thread:get("codes") or {}) do
         total[code] = (total[code] or 0) + n
      end
   end
   local parts = {}
   for code, n in pairs(total) do parts[#parts + 1] = code .. ":" .. n end
   table.sort(parts)
   io.write(string.format("hooks: run=%s status=%s\n", run or "?", table.concat(parts, ",")))
   -- the tail in more detail than wrk's 50/75/90/99 (latency is in microseconds)
   local pcts = {}
   for _, p in ipairs({ 50, 90, 95, 99, 99.9 }) do
      pcts[#pcts + 1] = string.format("p%s=%.1f", p, latency:percentile(p) / 1000)
   end
   io.write(string.format("hooks: latency_ms %s max=%.1f\n", table.concat(pcts, " "), latency.max / 1000))
end
