-- wrk script: sends one token per request from TOKENS_FILE (one per line), each thread starting at
-- its own offset, or no Authorization header at all when TOKENS_FILE is unset (the public endpoint).
-- Every request is formatted once, in init(), so that wrk spends the same little time per request
-- whatever the workload, and the shared cores go to the server under test.
-- done() prints one machine-readable line: RESULT req_per_s p50_ms p99_ms non_2xx requests.

local tokens = {}
local file = os.getenv("TOKENS_FILE")
if file and file ~= "" then
  for line in io.lines(file) do
    if line ~= "" then tokens[#tokens + 1] = line end
  end
end

local thread_count = 0
function setup(thread)
  thread:set("offset", thread_count * 997)
  thread_count = thread_count + 1
end

local requests = {}
local next_index = 0
function init(args)
  if #tokens == 0 then
    requests[1] = wrk.format("GET")
  else
    for i, token in ipairs(tokens) do
      requests[i] = wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token })
    end
  end
  next_index = (offset or 0) % #requests
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local non_2xx = summary.errors.status
  print(string.format("RESULT %.0f %.3f %.3f %d %d",
    summary.requests / seconds,
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    non_2xx + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
