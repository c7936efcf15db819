--[[
  Dead-letters a claimed request that failed the worker's schema check. The id is released
  from the dedupe set, so Multcall may send a corrected request under the same id.

  Input:
    KEYS[1] calls        HASH request id -> call record
    KEYS[2] workerCalls  SET  ids held by this worker
    KEYS[3] seen         ZSET request id -> accepted at
    KEYS[4] dead         LIST dead letters
    KEYS[5] stats        HASH counters

    ARGV[1] request id
    ARGV[2] worker id
    ARGV[3] dead letter (JSON)

  Output: 1 dead-lettered, 0 not held by this worker in state claimed
]]
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
if rec.w ~= ARGV[2] or rec.s ~= 'claimed' then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('LPUSH', KEYS[4], ARGV[3])
redis.call('HINCRBY', KEYS[5], 'dead', 1)
return 1
