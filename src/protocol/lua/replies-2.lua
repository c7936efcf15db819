--[[
  Takes the ACK replies still waiting in a worker's inbox after the blocking move that took
  the first one, which is sent in the same pipeline: a batch costs one round trip. Moved,
  not popped: a reply whose answer a dropped connection lost stays in the taken list, which
  the worker reads again after reconnecting, and removes only once handled.

  Input:
    KEYS[1] inbox  LIST ACK replies (Multcall LPUSHes; the oldest is on the right)
    KEYS[2] taken  LIST replies taken and not yet handled (the newest on the left)

    ARGV[1] how many at most

  Output: the replies moved, oldest first
]]
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local raw = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not raw then break end
  out[i] = raw
end
return out
