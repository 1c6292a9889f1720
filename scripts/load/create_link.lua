-- wrk script: POST /v1/links with a fresh reference on every request, and count what was not 201.
--
--   PAYLINK_LOAD_KEY=plk_… wrk -t2 -c32 -d15s -s scripts/load/create_link.lua https://127.0.0.1:PORT/v1/links
--
-- Environment:
--   PAYLINK_LOAD_KEY          the agent's API key (required), sent as `Authorization: Bearer …`
--   PAYLINK_LOAD_TAG          makes references (and idempotency keys) unique across runs (default: the time)
--   PAYLINK_LOAD_IDEMPOTENCY  "1" adds a unique `Idempotency-Key` to every request
--   PAYLINK_LOAD_CHECK        "1" counts every status that is not 201 exactly and keeps the first
--                             such body; otherwise wrk's own count of non-2xx/3xx responses is
--                             reported. The per-response hook makes wrk build a header table and
--                             a body string for every response: about 6 µs of CPU per request on
--                             the two cores the server also runs on, so it is off for measuring.
--
-- Every 201 is a committed create: the link row and its `link.created` event were committed
-- before the response was written, and fsynced if `synchronous=FULL` is in effect (check that
-- with scripts/load/fsync_check.sh; see docs/benchmarks.md).

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_number", #threads)
end

function init(args)
   token = os.getenv("PAYLINK_LOAD_KEY")
   if token == nil or token == "" then
      error("PAYLINK_LOAD_KEY is not set")
   end
   tag = os.getenv("PAYLINK_LOAD_TAG") or tostring(os.time())
   idempotency = os.getenv("PAYLINK_LOAD_IDEMPOTENCY") == "1"
   counter = 0
   created = 0
   non201 = 0
   statuses = {}
   status_text = ""
   sample = ""
   -- The request is assembled by hand rather than with wrk.format: that builds a header table
   -- and formats every header on every call, which made wrk spend about 60 µs of CPU per POST
   -- (against 35 µs per GET /healthz) on the two cores it shares with the server.
   head = "POST " .. wrk.path .. " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
      "\r\nAuthorization: Bearer " .. token .. "\r\nContent-Type: application/json\r\n"
   reference_prefix = "load-" .. tag .. "-" .. thread_number .. "-"
end

function request()
   counter = counter + 1
   local reference = reference_prefix .. counter
   local body = '{"amount":1999,"currency":"GBP","reference":"' .. reference .. '"}'
   local idempotency_header = idempotency and ("Idempotency-Key: " .. reference .. "\r\n") or ""
   return head .. idempotency_header .. "Content-Length: " .. #body .. "\r\n\r\n" .. body
end

local function check_response(status, headers, body)
   if status == 201 then
      created = created + 1
      return
   end
   non201 = non201 + 1
   statuses[status] = (statuses[status] or 0) + 1
   local parts = {}
   for code, count in pairs(statuses) do
      table.insert(parts, code .. "=" .. count)
   end
   table.sort(parts)
   status_text = table.concat(parts, " ")
   if sample == "" and body ~= nil then
      sample = string.sub(body, 1, 300)
   end
end

-- wrk calls `response` for every response only if the script defines it.
if os.getenv("PAYLINK_LOAD_CHECK") == "1" then
   response = check_response
end

function done(summary, latency, requests)
   if response == nil then
      io.write(string.format("non-201 responses: %d (wrk's count of non-2xx/3xx; PAYLINK_LOAD_CHECK=1 counts exactly)\n",
         summary.errors.status))
      io.write(string.format(
         "socket errors: connect %d, read %d, write %d, timeout %d\n",
         summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
      return
   end
   local total_created, total_non201, texts, first_sample = 0, 0, {}, ""
   for _, thread in ipairs(threads) do
      total_created = total_created + thread:get("created")
      total_non201 = total_non201 + thread:get("non201")
      local text = thread:get("status_text")
      if text ~= "" then
         table.insert(texts, "thread " .. thread:get("thread_number") .. ": " .. text)
      end
      if first_sample == "" then
         first_sample = thread:get("sample")
      end
   end
   io.write(string.format("created (201): %d\n", total_created))
   io.write(string.format("non-201 responses: %d\n", total_non201))
   if #texts > 0 then
      io.write("non-201 by status: " .. table.concat(texts, "; ") .. "\n")
   end
   if first_sample ~= "" then
      io.write("first non-201 body: " .. first_sample .. "\n")
   end
   io.write(string.format(
      "socket errors: connect %d, read %d, write %d, timeout %d\n",
      summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
