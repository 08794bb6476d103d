-- One atomic step of the fee worker: ledger entries, output events, dead letters, parked
-- reports, the log position priced against, and the XACK of the entries settled, together.
--
-- KEYS[1] input stream   KEYS[2] accruals stream   KEYS[3] dead letters   KEYS[4] unpriced hash
-- KEYS[5] checkpoint     KEYS[6] ledger portfolios set   KEYS[6+k] ledger hash of portfolio k
-- ARGV[1] group   ARGV[2] expected checkpoint ('' = none yet)   ARGV[3] new checkpoint ('' = keep)
-- ARGV[4] n       ARGV[5 .. 4+n] portfolio ids of KEYS[7 .. 6+n]   then one argument per
-- operation, its fields joined by newlines (ids, dates and JSON never contain a raw newline;
-- one argument per operation keeps the client's packing cheap):
--   A k as_of ledger event_id data ack unpriced_field   accrue unless the date is accrued
--   R k as_of expected ledger event_id data ack         revise (compare-and-set)
--   P k as_of field report revision ack                 park unpriced
--   D event_id data ack                                 dead letter
--   K ack                                               acknowledge only
--   L k length                                          precondition (k=0: the unpriced hash)
-- Returns {'stale', checkpoint} | {'conflict', key} (nothing written) | {'ok', i, stored, ...}
-- where each (i, stored) is an A or P operation (0-based) that found its date already accrued.

local current = redis.call('GET', KEYS[5]) or ''
if current ~= ARGV[2] then
  return {'stale', current}
end

local n = tonumber(ARGV[4])
local first = 5 + n
local function ledger(k)
  return KEYS[6 + tonumber(k)]
end
local function split(text)
  local out, start = {}, 1
  while true do
    local stop = string.find(text, '\n', start, true)
    if not stop then
      out[#out + 1] = string.sub(text, start)
      return out
    end
    out[#out + 1] = string.sub(text, start, stop - 1)
    start = stop + 1
  end
end

-- Pass 1: every precondition before any write, since a script cannot roll back.
for i = first, #ARGV do
  local kind = string.sub(ARGV[i], 1, 1)
  if kind == 'R' then
    local f = split(ARGV[i])
    if redis.call('HGET', ledger(f[2]), f[3]) ~= f[4] then
      return {'conflict', ledger(f[2]) .. ' ' .. f[3]}
    end
  elseif kind == 'L' then
    local f = split(ARGV[i])
    local key = KEYS[4]
    if f[2] ~= '0' then key = ledger(f[2]) end
    if redis.call('HLEN', key) ~= tonumber(f[3]) then
      return {'conflict', key}
    end
  end
end

-- Pass 2: the effects.
local acks = {}
local out = {'ok'}
local function ack(id)
  if id ~= '' then acks[#acks + 1] = id end
end
local function emit(stream, kind, event_id, data)
  redis.call('XADD', stream, '*', 'type', kind, 'event_id', event_id,
    'schema_version', '1', 'data', data)
end
local function conflict(i, stored)
  out[#out + 1] = tostring(i - first)
  out[#out + 1] = stored
end

for i = first, #ARGV do
  local f = split(ARGV[i])
  local kind = f[1]
  if kind == 'A' then
    local key = ledger(f[2])
    local stored = redis.call('HGET', key, f[3])
    if not stored then
      redis.call('HSET', key, f[3], f[4])
      emit(KEYS[2], 'FeeAccrued', f[5], f[6])
      if f[8] ~= '' then redis.call('HDEL', KEYS[4], f[8]) end
      ack(f[7])
    else
      local old, new = cjson.decode(stored), cjson.decode(f[4])
      if old.report_id == new.report_id and old.revision == new.revision then
        ack(f[7])  -- the same report again: already accrued
      else
        conflict(i, stored)
      end
    end
  elseif kind == 'R' then
    redis.call('HSET', ledger(f[2]), f[3], f[5])
    emit(KEYS[2], 'FeeAdjusted', f[6], f[7])
    ack(f[8])
  elseif kind == 'P' then
    local stored = redis.call('HGET', ledger(f[2]), f[3])
    if stored then
      conflict(i, stored)
    else
      local parked = redis.call('HGET', KEYS[4], f[4])
      if (not parked) or tonumber(cjson.decode(parked).revision) < tonumber(f[6]) then
        redis.call('HSET', KEYS[4], f[4], f[5])
      end
      ack(f[7])
    end
  elseif kind == 'D' then
    emit(KEYS[3], 'DeadLetter', f[2], f[3])
    ack(f[4])
  elseif kind == 'K' then
    ack(f[2])
  elseif kind ~= 'L' then
    return redis.error_reply('unknown operation ' .. tostring(kind))
  end
end

for j = 1, #acks, 1000 do
  redis.call('XACK', KEYS[1], ARGV[1], unpack(acks, j, math.min(j + 999, #acks)))
end
for j = 5, 4 + n, 1000 do
  redis.call('SADD', KEYS[6], unpack(ARGV, j, math.min(j + 999, 4 + n)))
end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[5], ARGV[3])
end
return out
