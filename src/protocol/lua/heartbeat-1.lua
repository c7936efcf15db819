--[[
  Extends a worker's heartbeat deadline, only while the worker is registered. A peer that
  took over its calls removed it: adding it back here would hide that from the worker, since
  a heartbeat re-sent after a lost reply would then find it and the worker would never
  register again. An absent worker stays absent, and is told so: it registers again.

  Input:
    KEYS[1] workers  ZSET worker id -> heartbeat deadline (ms)

    ARGV[1] worker id
    ARGV[2] new deadline (ms)

  Output: 1 extended, 0 not registered (nothing written)
]]
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[1])
return 1
