-- wrk script for the DPoP row: every request sends one line of PROOFS_FILE (made in advance by
-- bench-proofs, "TOKEN PROOF"): the token as `Authorization: DPoP …` and the proof, bound to that
-- token, as `DPoP`, so the server verifies a new proof each time, as it would in production. The
-- proofs rotate over several keys, each with its own bound token, so that no key reaches the API's
-- per-key proof quota (429).
-- The THREADS threads (same value as wrk -t) take disjoint slices of the proofs: a proof sent twice is
-- a replay, refused with a 401 and counted as non-2xx. Past the end of its slice a thread starts
-- over, so a run that outpaces the file shows up as non-2xx rather than as a stall.
-- Each request is its token's text with the proof spliced in: one string concatenation per request.
-- done() prints the line bearer.lua prints: RESULT req_per_s p50_ms p99_ms non_2xx requests.

local tokens, proofs = {}, {}
for line in io.lines(os.getenv("PROOFS_FILE")) do
  local token, proof = line:match("^(%S+) (%S+)$")
  if token then
    tokens[#tokens + 1] = token
    proofs[#proofs + 1] = proof
  end
end
local threads = tonumber(os.getenv("THREADS") or "1")

local thread_count = 0
function setup(thread)
  thread:set("index", thread_count)
  thread_count = thread_count + 1
end

-- Per proof, the request text before and after it (shared by every proof of the same token).
local heads, tails = {}, {}
local first, last, next_proof
function init(args)
  local marker = "PROOF-GOES-HERE"
  local split = {}
  local share = math.floor(#proofs / threads)
  first = (index or 0) * share + 1
  last = first + share - 1
  for i = first, last do
    local token = tokens[i]
    if not split[token] then
      local template = wrk.format("GET", nil, { ["Authorization"] = "DPoP " .. token, ["DPoP"] = marker })
      local at = template:find(marker, 1, true)
      split[token] = { template:sub(1, at - 1), template:sub(at + #marker) }
    end
    heads[i], tails[i] = split[token][1], split[token][2]
  end
  next_proof = first
end

function request()
  local i = next_proof
  next_proof = next_proof + 1
  if next_proof > last then next_proof = first end
  return heads[i] .. proofs[i] .. tails[i]
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
