--[[
  Gives back requests this worker claimed but never dialled (drain, shrinking threads):
  they return to the head of the dial queue, so the next free worker takes them first.
  Requests already dialled are left alone. Requests that are no longer this worker's (no
  record: released by an earlier run of this same call whose reply was lost, or completed;
  or taken over by a peer) are named too, so that the worker lets go of them.

  Input:
    KEYS[1] calls        HASH request id -> call record
    KEYS[2] workerCalls  SET  ids held by this worker
    KEYS[3] dial         LIST dial queue
    KEYS[4] seen         ZSET request id -> accepted at
    KEYS[5] landing      LIST this worker's landing list

    ARGV[1] worker id
    ARGV[2..] request ids

  Output: flat array: how many came from the landing list, how many ids were given back,
          those ids, then the ids that were no longer this worker's
]]
local landed = 0
local raw = redis.call('RPOP', KEYS[5])
while raw do
  redis.call('RPUSH', KEYS[3], raw)
  landed = landed + 1
  raw = redis.call('RPOP', KEYS[5])
end
local released, gone = {}, {}
for i = 2, #ARGV do
  local recRaw = redis.call('HGET', KEYS[1], ARGV[i])
  local rec = recRaw and cjson.decode(recRaw)
  if not rec or rec.w ~= ARGV[1] then
    gone[#gone + 1] = ARGV[i]
  elseif rec.s == 'claimed' then
    redis.call('RPUSH', KEYS[3], rec.r)
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('SREM', KEYS[2], ARGV[i])
    redis.call('ZREM', KEYS[4], ARGV[i])
    released[#released + 1] = ARGV[i]
  end
end
local out = { landed, #released }
for _, id in ipairs(released) do out[#out + 1] = id end
for _, id in ipairs(gone) do out[#out + 1] = id end
return out
