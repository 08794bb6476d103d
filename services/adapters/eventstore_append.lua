-- Append one agreement event to the log, atomically guarded by the agreement's version.
-- KEYS: 1 log stream, 2 versions hash, 3 the agreement's entry-id list, 4 idempotency hash
-- ARGV: 1 agreement id, 2 expected version, 3 idempotency key ('' = none), 4.. field, value
-- Returns {status, entry id, version}; status is 'ok', 'duplicate' or 'conflict'.
local key = ARGV[3]
if key ~= '' then
  local seen = redis.call('HGET', KEYS[4], key)
  if seen then
    -- A retried command: report the entry it recorded the first time; append nothing.
    local index = redis.call('LPOS', KEYS[3], seen)
    return {'duplicate', seen, tostring(index and index + 1 or 0)}
  end
end
local actual = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if actual ~= tonumber(ARGV[2]) then
  return {'conflict', '', tostring(actual)}
end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))
local version = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('RPUSH', KEYS[3], id)
if key ~= '' then
  redis.call('HSETNX', KEYS[4], key, id)
end
return {'ok', id, tostring(version)}
