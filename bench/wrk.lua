-- wrk script for `make bench`: `wrk ... -s bench/wrk.lua URL -- MODE PATH FILE [FIRST]`.
-- FIRST: skip the file's first lines (a later slice of a run continues with fresh students).
-- MODE sign: POST PATH with `{}` as a different student per request (tokens split between wrk
-- threads, none reused while they last); MODE get: GET PATH (optionally with a bearer token);
-- MODE list: FILE holds one request per line, `METHOD<TAB>PATH<TAB>TOKEN<TAB>BODY` (PATH ignored),
-- sent in order and split between threads like the tokens, starting over when they run out
-- (used for the quiz's autosave and submit, where URL, token and body change per request).
-- init() writes "ready" once the requests are formatted (bench/bench.py measures CPU from there);
-- done() prints one JSON line that bench/bench.py reads.
local threads = {}
local count = 0

function setup(thread)
  thread:set("tid", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  mode, path, file = args[1], args[2], args[3]
  local first = tonumber(args[4] or "0")  -- lines before it were used by an earlier run
  tokens = {}
  requests = {}
  if file and file ~= "" then
    local i = 0
    for line in io.lines(file) do
      if i >= first and ((mode ~= "sign" and mode ~= "list") or i % count_threads() == tid) then
        if mode == "list" then
          local m, p, t, b = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
          local headers = {["Authorization"] = "Bearer " .. t, ["Content-Type"] = "application/json"}
          requests[#requests + 1] = wrk.format(m, p, headers, b)
        else
          tokens[#tokens + 1] = line
        end
      end
      i = i + 1
    end
  end
  -- Every request is formatted here, before the run: formatting it per request cost wrk ~40 µs
  -- more CPU for a signing than for health, taken from the same two cores as the server's.
  if mode ~= "list" then
    for n = 1, math.max(#tokens, 1) do
      local headers = {}
      if #tokens > 0 then
        headers["Authorization"] = "Bearer " .. tokens[n]
      end
      if mode == "sign" then
        headers["Content-Type"] = "application/json"
        requests[n] = wrk.format("POST", path, headers, "{}")
      else
        requests[n] = wrk.format("GET", path, headers)
      end
    end
    tokens = nil
  end
  idx = 0
  created, existing, other = 0, 0, 0
  if tid == 0 then  -- bench/bench.py starts its CPU figures here, after the file was read
    io.write("ready\n")
    io.flush()
  end
end

function count_threads()
  return tonumber(os.getenv("WRK_THREADS") or "1")
end

function request()
  idx = idx + 1
  return requests[((idx - 1) % #requests) + 1]
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  elseif status == 200 then
    existing = existing + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local c, e, o = 0, 0, 0
  for _, thread in ipairs(threads) do
    c = c + thread:get("created")
    e = e + thread:get("existing")
    o = o + thread:get("other")
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"created": %d, "ok": %d, "non_2xx": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, c, e, o, errors.connect, errors.read, errors.write, errors.timeout))
end
