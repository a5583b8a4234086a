-- wrk script for the DPoP row: every request sends the one bound token of TOKENS_FILE (first line)
-- as `Authorization: DPoP …` and its own proof from PROOFS_FILE (one per line, made in advance by
-- bench-proofs), so the server verifies a new proof each time, as it would in production.
-- The THREADS threads (same value as wrk -t) take disjoint slices of the proofs: a proof sent twice is
-- a replay, refused with a 401 and counted as non-2xx. Past the end of its slice a thread starts
-- over, so a run that outpaces the file shows up as non-2xx rather than as a stall.
-- Each request is the same text with the proof spliced in: one string concatenation per request.
-- done() prints the line bearer.lua prints: RESULT req_per_s p50_ms p99_ms non_2xx requests.

local token = nil
for line in io.lines(os.getenv("TOKENS_FILE")) do
  if line ~= "" then token = line break end
end
local proofs = {}
for line in io.lines(os.getenv("PROOFS_FILE")) do
  if line ~= "" then proofs[#proofs + 1] = line end
end
local threads = tonumber(os.getenv("THREADS") or "1")

local thread_count = 0
function setup(thread)
  thread:set("index", thread_count)
  thread_count = thread_count + 1
end

local head, tail
local first, last, next_proof
function init(args)
  local marker = "PROOF-GOES-HERE"
  local template = wrk.format("GET", nil, { ["Authorization"] = "DPoP " .. token, ["DPoP"] = marker })
  local at = template:find(marker, 1, true)
  head = template:sub(1, at - 1)
  tail = template:sub(at + #marker)
  local share = math.floor(#proofs / threads)
  first = (index or 0) * share + 1
  last = first + share - 1
  next_proof = first
end

function request()
  local proof = proofs[next_proof]
  next_proof = next_proof + 1
  if next_proof > last then next_proof = first end
  return head .. proof .. tail
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
