--[[
  The central accepted the Originate: records it and sends the ACK to Multcall in one step,
  so an ACK exists exactly when the record says the call was placed.

  Input:
    KEYS[1] calls  HASH request id -> call record
    KEYS[2] acks   LIST ACKs for Multcall

    ARGV[1] request id
    ARGV[2] worker id
    ARGV[3] now (ms)
    ARGV[4] ACK message (JSON)
    ARGV[5] channel id known up front ('' if none)

  Output: 1 recorded (also when it already was: safe to re-send), 0 not held by this worker
]]
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
if rec.w ~= ARGV[2] then return 0 end
if rec.s == 'originated' then return 1 end
if rec.s ~= 'originating' then return 0 end
rec.s = 'originated'
rec.u = tonumber(ARGV[3])
rec.o = tonumber(ARGV[3])
if ARGV[5] ~= '' then rec.ch = ARGV[5] end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
redis.call('LPUSH', KEYS[2], ARGV[4])
return 1
