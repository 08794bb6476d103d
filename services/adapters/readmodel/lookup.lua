-- Resolve the current generation and read one portfolio's document from it, in one atomic
-- step, so a reader never mixes two generations.
-- KEYS: 1 the read-model pointer
-- ARGV: 1 generation key prefix, 2 portfolio id, 3 the name's key, 4 the part ('portfolios'
--       for the timeline, 'now' for the answers as known now)
-- Returns {generation, portfolio id, document, checkpoint}; '' where absent.
local gen = redis.call('GET', KEYS[1])
if not gen then
  return {'', '', '', ''}
end
local base = ARGV[1] .. gen
local part = base .. ':' .. ARGV[4]
local pid = ARGV[2]
local doc = redis.call('HGET', part, pid)
if not doc then
  pid = redis.call('HGET', base .. ':names', ARGV[3]) or ''
  doc = pid ~= '' and redis.call('HGET', part, pid) or ''
end
return {gen, pid, doc or '', redis.call('GET', base .. ':checkpoint') or ''}
