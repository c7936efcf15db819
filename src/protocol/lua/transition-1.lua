--[[
  Moves one call record from one state to the next, only if this worker holds it and it is
  in the expected state (compare-and-set). The worker sends an Originate only after
  `claimed -> originating` succeeded, which is what makes recovery safe: a record still in
  `claimed` was never dialled and may be re-queued; anything later is never re-dialled.

  Input:
    KEYS[1] calls  HASH request id -> call record

    ARGV[1] request id
    ARGV[2] worker id
    ARGV[3] expected state(s), comma separated
    ARGV[4] new state
    ARGV[5] now (ms)
    ARGV[6] JSON object of extra fields to merge into the record ('' for none)
    ARGV[7] token of this transition ('' for none): running the same transition twice (a
            command re-sent after a lost reply) answers 1 again instead of 0

  Output: 1 moved, 0 not held by this worker or not in an expected state
]]
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
if rec.w ~= ARGV[2] then return 0 end
if ARGV[7] ~= '' and rec.s == ARGV[4] and rec.tok == ARGV[7] then return 1 end
local expected = false
for state in string.gmatch(ARGV[3], '[^,]+') do
  if rec.s == state then expected = true end
end
if not expected then return 0 end
rec.s = ARGV[4]
rec.u = tonumber(ARGV[5])
if ARGV[7] ~= '' then rec.tok = ARGV[7] end
if ARGV[6] ~= '' then
  for k, v in pairs(cjson.decode(ARGV[6])) do rec[k] = v end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
return 1
