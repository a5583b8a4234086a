-- wrk script: sends one token per request from TOKENS_FILE (one per line), each thread starting at
-- its own offset, or no Authorization header at all when TOKENS_FILE is unset (the public endpoint).
-- done() prints one machine-readable line: RESULT req_per_s p50_ms p99_ms non_2xx requests.

local tokens = {}
local file = os.getenv("TOKENS_FILE")
if file and file ~= "" then
  for line in io.lines(file) do
    if line ~= "" then tokens[#tokens + 1] = "Bearer " .. line end
  end
end

local thread_count = 0
function setup(thread)
  thread:set("offset", thread_count * 997)
  thread_count = thread_count + 1
end

local next_index = nil
function request()
  if #tokens == 0 then
    return wrk.format("GET")
  end
  if next_index == nil then next_index = (offset or 0) % #tokens end
  next_index = next_index % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = tokens[next_index] })
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
