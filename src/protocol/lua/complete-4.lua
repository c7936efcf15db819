--[[
  Publishes a call's one result and forgets the call. Idempotent: only the holder of the
  record can complete it, once; a second attempt (a retried command, or a peer that also
  tracked the call after a hand-off) returns 0 and pushes nothing.

  Input:
    KEYS[1] calls        HASH request id -> call record
    KEYS[2] workerCalls  SET  ids held by this worker
    KEYS[3] results      LIST results for Multcall
    KEYS[4] stats        HASH counters

    ARGV[1] request id
    ARGV[2] worker id
    ARGV[3] result message (JSON)
    ARGV[4] status (counter name)

  Output: 1 published, 0 already completed or held by another worker
]]
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
if rec.w ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('LPUSH', KEYS[3], ARGV[3])
redis.call('HINCRBY', KEYS[4], 'status:' .. ARGV[4], 1)
return 1
