--[[
  Moves the ACK replies waiting for a worker that was taken over into the inbox of the
  worker that adopted its calls. Multcall LPUSHes each reply on the list the ACK named
  (`replyTo`), the inbox of the worker that sent it; once that worker is gone, only its
  adopter can apply them. The adopter runs this at the take-over and then while replies
  for the adopted calls may still come (until their Timeout_Command_ACK).

  Nothing moves while the departed worker is registered again (taken over in a stall, it
  came back and reads its own inbox), nor once the adopter is no longer registered (taken
  over in turn: the calls, and their replies, are the next holder's). Replies move byte for byte, the taken list's first (they were
  handed out earlier); the adopter drops those for calls it does not hold.

  Input:
    KEYS[1] workers   ZSET worker id -> heartbeat deadline
    KEYS[2] inbox     LIST the departed worker's inbox
    KEYS[3] taken     LIST the departed worker's taken list
    KEYS[4] to        LIST the adopter's inbox

    ARGV[1] departed worker id
    ARGV[2] adopter's worker id

  Output: how many replies moved; -1 if nothing may move any more (see above)
]]
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return -1 end
local n = 0
for i = 3, 2, -1 do
  local raw = redis.call('LMOVE', KEYS[i], KEYS[4], 'RIGHT', 'LEFT')
  while raw do
    n = n + 1
    raw = redis.call('LMOVE', KEYS[i], KEYS[4], 'RIGHT', 'LEFT')
  end
end
return n
