--[[
  Passes an ACK reply taken by a worker that does not hold its call to the worker that does:
  Multcall replies to the inbox the ACK named, and the call may have changed hands since (a
  take-over while its worker stalled, which then came back). Once: the reply moves only if
  this LREM removed it from the taker's taken list, so a step re-sent after a lost answer
  pushes no second copy.

  Input:
    KEYS[1] calls   HASH request id -> call record
    KEYS[2] taken   LIST the taker's taken list
    KEYS[3] inbox   LIST the holder's inbox

    ARGV[1] request id
    ARGV[2] the holder the taker read from the record
    ARGV[3] the reply, byte for byte as taken

  Output: 1 passed on; 0 not (the record changed hands again, or is gone): removed all the same
]]
if redis.call('LREM', KEYS[2], -1, ARGV[3]) == 0 then return 0 end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local ok, rec = pcall(cjson.decode, raw)
if not ok or type(rec) ~= 'table' or rec.w ~= ARGV[2] then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[3])
return 1
