-- wrk script for benches/load.py: sends one fixed request and counts the status of every
-- response, so the benchmark can reject a run whose responses had an unexpected status.
--
-- Arguments after `--`: the method (default GET) and the request body (default none).
-- Headers such as X-API-Key, Cookie and Content-Type come from wrk's -H option.
-- done() prints one line: "LOAD_RESULT " followed by a JSON object.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   if args[1] then
      wrk.method = args[1]
   end
   if args[2] then
      wrk.body = args[2]
   end
   statuses = {}
   set_cookies = 0
end

-- Defining response() makes wrk parse every response's headers and body, which costs client
-- CPU. benches/load.py runs wrk on its own core so that this work takes no CPU from the server.
function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if headers["Set-Cookie"] ~= nil then
      set_cookies = set_cookies + 1
   end
end

local function status_counts_json(counts)
   local parts = {}
   for status, count in pairs(counts) do
      table.insert(parts, string.format('"%d": %d', status, count))
   end
   return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
   local counts = {}
   local cookies = 0
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         counts[status] = (counts[status] or 0) + count
      end
      cookies = cookies + thread:get("set_cookies")
   end

   local errors = summary.errors
   io.write(string.format(
      'LOAD_RESULT {"requests": %d, "duration_us": %d, "statuses": %s, "set_cookie": %d, '
         .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
         .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
      summary.requests, summary.duration, status_counts_json(counts), cookies,
      errors.connect, errors.read, errors.write, errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end
