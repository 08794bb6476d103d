-- Write a batch of projected documents together with the checkpoint they reach, atomically.
-- KEYS: 1 the read-model pointer
-- ARGV: 1 generation key prefix, 2 generation, 3 expected checkpoint ('' = none applied yet),
--       4 new checkpoint, 5 '1' if the generation must still be the current one,
--       6..11 counts of (portfolio, name, amendment, agreement, answer index, answer) pairs,
--       then the pairs in that order.
-- An answer index (`:now`, field portfolio id) is 8 characters per answer; the answers are the
-- fields `<portfolio id>\31<n>`. Answers beyond a shorter new index are deleted.
-- Returns 1 if written, 0 if another writer moved the checkpoint or the pointer (reload, retry).
local base = ARGV[1] .. ARGV[2]
if ARGV[5] == '1' and redis.call('GET', KEYS[1]) ~= ARGV[2] then
  return 0
end
if (redis.call('GET', base .. ':checkpoint') or '') ~= ARGV[3] then
  return 0
end
local now = base .. ':now'
local i = 12
for k, suffix in ipairs({':portfolios', ':names', ':amendments', ':agreements', ':now', ':now'}) do
  local n = tonumber(ARGV[5 + k])
  if n > 0 then
    if k == 5 then
      for j = i, i + 2 * n - 1, 2 do
        local old = redis.call('HGET', now, ARGV[j])
        for m = #ARGV[j + 1] / 8 + 1, (old and #old / 8 or 0) do
          redis.call('HDEL', now, ARGV[j] .. '\31' .. m)
        end
      end
    end
    redis.call('HSET', base .. suffix, unpack(ARGV, i, i + 2 * n - 1))
    i = i + 2 * n
  end
end
redis.call('SET', base .. ':checkpoint', ARGV[4])
return 1
