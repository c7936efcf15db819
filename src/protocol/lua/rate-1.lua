--[[
  Takes up to N tokens from a central's Originate token bucket, shared by every worker of
  every célula on the same Redis: `rate` tokens per second, at most `burst` saved up.

  Uses the Redis clock (TIME), so worker clocks need not agree; Redis 7 replicates the
  script's effects, not the script. The bucket expires once it would be full anyway.

  Input:
    KEYS[1] rate  HASH tokens, at (ms)

    ARGV[1] tokens wanted (N)
    ARGV[2] rate (tokens per second)
    ARGV[3] burst (most tokens saved up)

  Output: { tokens granted, ms until the next token (0 when all N were granted) }
]]
local wanted = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000

local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = burst
if state[1] and state[2] then
  tokens = math.min(burst, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * rate / 1000)
end

local granted = math.max(0, math.min(wanted, math.floor(tokens)))
tokens = tokens - granted
local wait = 0
if granted < wanted then wait = math.ceil((1 - tokens) * 1000 / rate) end

redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.3f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return { granted, wait }
