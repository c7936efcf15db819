--[[
  Gives back requests this worker claimed but never dialled (drain, shrinking threads):
  they return to the head of the dial queue, so the next free worker takes them first.
  Requests already dialled are left alone.

  Input:
    KEYS[1] calls        HASH request id -> call record
    KEYS[2] workerCalls  SET  ids held by this worker
    KEYS[3] dial         LIST dial queue
    KEYS[4] seen         ZSET request id -> accepted at
    KEYS[5] landing      LIST this worker's landing list

    ARGV[1] worker id
    ARGV[2..] request ids

  Output: flat array: how many came from the landing list, then the ids given back
]]
local out = { 0 }
local raw = redis.call('RPOP', KEYS[5])
while raw do
  redis.call('RPUSH', KEYS[3], raw)
  out[1] = out[1] + 1
  raw = redis.call('RPOP', KEYS[5])
end
for i = 2, #ARGV do
  local recRaw = redis.call('HGET', KEYS[1], ARGV[i])
  if recRaw then
    local rec = cjson.decode(recRaw)
    if rec.w == ARGV[1] and rec.s == 'claimed' then
      redis.call('RPUSH', KEYS[3], rec.r)
      redis.call('HDEL', KEYS[1], ARGV[i])
      redis.call('SREM', KEYS[2], ARGV[i])
      redis.call('ZREM', KEYS[4], ARGV[i])
      out[#out + 1] = ARGV[i]
    end
  end
end
return out
