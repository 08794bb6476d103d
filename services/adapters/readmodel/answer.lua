-- "Which schedule applied on a date, as known now", from the current generation in one step.
-- KEYS: 1 the read-model pointer
-- ARGV: 1 generation key prefix, 2 portfolio id or name, 3 the name folded, 4 the date YYYYMMDD
-- `:now` holds per portfolio an index of answer start dates (8 characters each, ascending, the
-- first 00010101) and the answers themselves at `<portfolio id>\31<n>`; the answer for a date
-- is the last one starting on or before it.
-- Returns {portfolio id, answer JSON}; '' where unknown.
local gen = redis.call('GET', KEYS[1])
if not gen then
  return {'', ''}
end
local base = ARGV[1] .. gen
local now = base .. ':now'
local pid = ARGV[2]
local index = redis.call('HGET', now, pid)
if not index then
  pid = redis.call('HGET', base .. ':names', ARGV[3])
  if not pid then
    return {'', ''}
  end
  index = redis.call('HGET', now, pid)
  if not index then
    return {'', ''}
  end
end
local day = tonumber(ARGV[4])
local lo, hi = 1, #index / 8
while lo < hi do
  local mid = math.floor((lo + hi + 1) / 2)
  if tonumber(string.sub(index, mid * 8 - 7, mid * 8)) <= day then
    lo = mid
  else
    hi = mid - 1
  end
end
return {pid, redis.call('HGET', now, pid .. '\31' .. lo) or ''}
