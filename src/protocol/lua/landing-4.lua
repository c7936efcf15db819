--[[
  Gives back to the dial queue what sits in the landing list of a worker that peers took
  over (`recover-10`) and that has not registered again within a lease. Such a worker was
  taken over while still alive (its lease lapsed under load), parked a request with a
  blocking move before it noticed, and died: nobody else would ever look at that list. A
  request in a landing list has no record and was never dialled, so the queue is safe.

  Input:
    KEYS[1] workers   ZSET worker id -> heartbeat deadline
    KEYS[2] departed  ZSET worker id -> when its calls were taken over (ms)
    KEYS[3] landing   LIST that worker's landing list
    KEYS[4] dial      LIST the célula's dial queue

    ARGV[1] worker id
    ARGV[2] now (ms)
    ARGV[3] lease (ms): how long a worker taken over alive has to register again

  Output: how many requests went back to the queue
]]
local departedAt = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not departedAt then return 0 end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  -- It came back: its landing list is its own again.
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
if tonumber(ARGV[2]) - tonumber(departedAt) < tonumber(ARGV[3]) then return 0 end
local n = 0
local raw = redis.call('RPOP', KEYS[3])
while raw do
  redis.call('RPUSH', KEYS[4], raw)
  n = n + 1
  raw = redis.call('RPOP', KEYS[3])
end
redis.call('ZREM', KEYS[2], ARGV[1])
return n
