-- Write read-model documents together with the checkpoint they reach, atomically.
-- KEYS: 1 the read-model pointer
-- ARGV: 1 generation key prefix, 2 generation, 3 expected checkpoint ('' = none applied yet),
--       4 new checkpoint, 5 '1' if the generation must still be the current one,
--       6..9 counts of (portfolio, answers, name, agreement) pairs, then the pairs in order.
-- Returns 1 if written, 0 if another writer moved the checkpoint or the pointer (reload, retry).
local base = ARGV[1] .. ARGV[2]
if ARGV[5] == '1' and redis.call('GET', KEYS[1]) ~= ARGV[2] then
  return 0
end
if (redis.call('GET', base .. ':checkpoint') or '') ~= ARGV[3] then
  return 0
end
local i = 10
for k, suffix in ipairs({':portfolios', ':now', ':names', ':agreements'}) do
  local n = tonumber(ARGV[5 + k])
  if n > 0 then
    redis.call('HSET', base .. suffix, unpack(ARGV, i, i + 2 * n - 1))
    i = i + 2 * n
  end
end
redis.call('SET', base .. ':checkpoint', ARGV[4])
return 1
