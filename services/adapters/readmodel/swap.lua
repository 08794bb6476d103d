-- Make a rebuilt generation current, but only once it has caught up with the whole log.
-- KEYS: 1 the read-model pointer, 2 the agreements log
-- ARGV: 1 generation key prefix, 2 the new generation
-- Returns {'ok', previous generation or ''} or {'behind', last log entry id}.
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local last_id = ''
if #last > 0 then
  last_id = last[1][1]
end
if (redis.call('GET', ARGV[1] .. ARGV[2] .. ':checkpoint') or '') ~= last_id then
  return {'behind', last_id}
end
local old = redis.call('GET', KEYS[1]) or ''
redis.call('SET', KEYS[1], ARGV[2])
return {'ok', old}
