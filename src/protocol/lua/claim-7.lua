--[[
  Claims up to N dial requests for one worker, atomically.

  Takes first from the worker's landing list (where a blocking move parked a request),
  then from the célula's dial queue. Each request is checked just enough to be keyed
  (JSON object, protocol version, request id, size, not seen before); anything else is
  moved to the dead-letter list here, so a bad message never blocks the queue. The full
  schema check happens in the worker, which dead-letters with `reject-5`.

  Input:
    KEYS[1] landing     LIST  this worker's landing list
    KEYS[2] dial        LIST  the célula's dial queue
    KEYS[3] calls       HASH  request id -> call record
    KEYS[4] seen        ZSET  request id -> accepted at (ms)
    KEYS[5] workerCalls SET   ids held by this worker
    KEYS[6] dead        LIST  dead letters
    KEYS[7] stats       HASH  counters

    ARGV[1] max requests to claim
    ARGV[2] worker id
    ARGV[3] now (ms)
    ARGV[4] dedupe window (ms)
    ARGV[5] max message size (bytes)
    ARGV[6] célula name
    ARGV[7] central name

  Output: flat array id1, raw1, id2, raw2, …
]]
local maxClaims = tonumber(ARGV[1])
local worker = ARGV[2]
local now = tonumber(ARGV[3])
local maxBytes = tonumber(ARGV[5])

redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - tonumber(ARGV[4]))

local function deadLetter(code, reason, id, raw)
  redis.call('LPUSH', KEYS[6], cjson.encode({
    v = 1, code = code, reason = reason, id = id or cjson.null,
    celula = ARGV[6], worker = worker, at = now, raw = raw,
  }))
  redis.call('HINCRBY', KEYS[7], 'dead', 1)
end

local out = {}
local claimed = 0
-- Bound the work one call does, even if the queue is full of garbage.
local budget = maxClaims + 100
while claimed < maxClaims and budget > 0 do
  budget = budget - 1
  local raw = redis.call('RPOP', KEYS[1])
  if not raw then raw = redis.call('RPOP', KEYS[2]) end
  if not raw then break end

  if #raw > maxBytes then
    deadLetter('oversize', 'message is ' .. #raw .. ' bytes, the limit is ' .. maxBytes, nil, raw)
  else
    local ok, msg = pcall(cjson.decode, raw)
    if not ok or type(msg) ~= 'table' or msg[1] ~= nil then
      deadLetter('invalid-json', 'not a JSON object', nil, raw)
    elseif msg.v ~= 1 then
      deadLetter('unsupported-version', 'field v must be 1, got ' .. tostring(msg.v), nil, raw)
    else
      local id = msg.id
      if type(id) ~= 'string' or #id == 0 or #id > 64 or not string.match(id, '^[%w%._:%-]+$') then
        deadLetter('invalid-id', 'field id must be 1-64 characters of A-Z a-z 0-9 . _ : -', nil, raw)
      elseif redis.call('ZSCORE', KEYS[4], id) or redis.call('HEXISTS', KEYS[3], id) == 1 then
        deadLetter('duplicate', 'request id ' .. id .. ' was already accepted inside the dedupe window', id, raw)
      else
        redis.call('ZADD', KEYS[4], now, id)
        redis.call('HSET', KEYS[3], id, cjson.encode({ s = 'claimed', w = worker, c = ARGV[7], t = now, a = 0, r = raw }))
        redis.call('SADD', KEYS[5], id)
        out[#out + 1] = id
        out[#out + 1] = raw
        claimed = claimed + 1
      end
    end
  end
end
if claimed > 0 then redis.call('HINCRBY', KEYS[7], 'claimed', claimed) end
return out
