--[[
  Sets how many of a central's channel slots one holder (a worker of some célula) holds,
  never letting the holders together go over the central's cap by taking more.

  A holder states the absolute number it wants, not a delta, so running this twice (a
  command re-sent after a lost reply) gives the same state: a release is never counted
  twice and never lost. Holders whose lease passed (a worker that died without giving its
  slots back) are dropped first, so their slots return to the pool.

  `inUse` is what the holder's calls occupy on the central right now. It is always
  recorded, even over the cap: those channels exist (e.g. calls adopted from a dead peer
  after its lease had dropped them) and others must wait for them to end.

  Uses the Redis clock (TIME), so worker clocks need not agree; Redis 7 replicates the
  script's effects, not the script.

  Input:
    KEYS[1] slots   HASH holder -> slots held
    KEYS[2] leases  ZSET holder -> lease deadline (ms)

    ARGV[1] holder (`<celula>/<worker>`)
    ARGV[2] inUse: slots the holder's calls occupy (always granted)
    ARGV[3] target: slots the holder wants in all (>= inUse)
    ARGV[4] cap: the central's maxChannels
    ARGV[5] lease (ms)

  Output: { slots now held by the holder, slots held by all holders }
]]
local holder = ARGV[1]
local inUse = tonumber(ARGV[2])
local target = math.max(tonumber(ARGV[3]), inUse)
local cap = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('HDEL', KEYS[1], gone)
  redis.call('ZREM', KEYS[2], gone)
end

local current = tonumber(redis.call('HGET', KEYS[1], holder) or '0')
local all = 0
for _, n in ipairs(redis.call('HVALS', KEYS[1])) do all = all + tonumber(n) end
local others = all - current

local held = target
if target > current then
  -- Growing: only into what the others leave free (never below what is already held or in use).
  held = math.max(inUse, math.min(target, math.max(current, cap - others)))
end

if held > 0 then
  redis.call('HSET', KEYS[1], holder, held)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), holder)
else
  redis.call('HDEL', KEYS[1], holder)
  redis.call('ZREM', KEYS[2], holder)
end
return { held, others + held }
