--[[
  Dead-letters a malformed ACK reply taken from a worker's inbox, once: removes it from the
  taken list and writes the dead letter only if it was there. Run again (a reply handled
  twice: after a reconnect, or a step re-sent after a lost answer), it finds nothing to
  remove and writes nothing.

  Input:
    KEYS[1] taken  LIST replies taken and not yet handled (the newest on the left)
    KEYS[2] dead   LIST dead letters
    KEYS[3] stats  HASH counters

    ARGV[1] the reply, byte for byte as taken (it may not be valid UTF-8)
    ARGV[2] the dead letter (JSON)

  Output: 1 dead-lettered, 0 not in the taken list (nothing written)
]]
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('HINCRBY', KEYS[3], 'dead', 1)
return 1
