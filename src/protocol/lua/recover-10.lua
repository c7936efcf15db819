--[[
  Takes over what a dead worker held. Runs only if the worker's heartbeat deadline passed.

  - Requests it claimed but never dialled (state `claimed`, and its landing list) go back
    to the head of the dial queue: nobody was called, so nobody is called twice.
  - Requests it may have dialled (any later state) are handed to the recovering worker,
    which asks the central whether the call is still up and follows it, or reports it
    as `unknown`. They are never put back in the queue. An `originated` record keeps in
    `rt` the worker whose inbox Multcall's ACK reply goes to. The record keeps the time of its
    last transition (`u`): when the dead worker marked it `originating` is what a peer
    needs to prove it was not dialled.

  A worker on another central leaves the dead worker to peers of its own central (who can
  ask that central about the calls) until the deadline is `ARGV[5]` ms old.

  Input:
    KEYS[1] workers      ZSET worker id -> heartbeat deadline
    KEYS[2] workerInfo   HASH worker id -> info
    KEYS[3] deadLanding  LIST the dead worker's landing list
    KEYS[4] deadCalls    SET  ids held by the dead worker
    KEYS[5] calls        HASH request id -> call record
    KEYS[6] dial         LIST dial queue
    KEYS[7] seen         ZSET request id -> accepted at
    KEYS[8] myCalls      SET  ids held by the recovering worker
    KEYS[9] stats        HASH counters
    KEYS[10] departed    ZSET worker id -> when its calls were taken over (ms)

    ARGV[1] dead worker id
    ARGV[2] recovering worker id
    ARGV[3] now (ms)
    ARGV[4] recovering worker's central
    ARGV[5] how long (ms) peers of the dead worker's central get before anyone may recover

  Output: false if the worker is alive or left to its central's peers; else a flat array
          requeuedCount, id1, record1, id2, record2, … of the calls handed over.
]]
local now = tonumber(ARGV[3])
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
if deadline and tonumber(deadline) > now then return false end
if deadline and now - tonumber(deadline) < tonumber(ARGV[5]) then
  local info = redis.call('HGET', KEYS[2], ARGV[1])
  if info then
    local ok, decoded = pcall(cjson.decode, info)
    if ok and type(decoded) == 'table' and decoded.central and decoded.central ~= ARGV[4] then return false end
  end
end

local requeued = 0
local raw = redis.call('RPOP', KEYS[3])
while raw do
  redis.call('RPUSH', KEYS[6], raw)
  requeued = requeued + 1
  raw = redis.call('RPOP', KEYS[3])
end

local out = { 0 }
for _, id in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local recRaw = redis.call('HGET', KEYS[5], id)
  if recRaw then
    local rec = cjson.decode(recRaw)
    if rec.w == ARGV[1] then
      if rec.s == 'claimed' then
        redis.call('RPUSH', KEYS[6], rec.r)
        redis.call('HDEL', KEYS[5], id)
        redis.call('ZREM', KEYS[7], id)
        requeued = requeued + 1
      else
        -- Multcall replies to the inbox of the worker that sent the ACK (the holder when the
        -- call became `originated`): the adopter reads it from there (`forward-4`).
        if rec.s == 'originated' and not rec.rt then rec.rt = rec.w end
        rec.w = ARGV[2]
        rec.from = ARGV[1]
        recRaw = cjson.encode(rec)
        redis.call('HSET', KEYS[5], id, recRaw)
        redis.call('SADD', KEYS[8], id)
        out[#out + 1] = id
        out[#out + 1] = recRaw
      end
    end
  end
end
redis.call('DEL', KEYS[4])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
-- A worker taken over while still alive (its lease lapsed under load) may yet park a request
-- in its landing list before it notices; if it then dies without registering again, only
-- this mark leads anyone back to that list (`landing-4`).
redis.call('ZADD', KEYS[10], now, ARGV[1])
if requeued > 0 then redis.call('HINCRBY', KEYS[9], 'requeued', requeued) end
out[1] = requeued
return out
