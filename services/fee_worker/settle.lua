-- One atomic step of the fee worker: ledger entries, output events, dead letters, parked
-- reports, the log position priced against, and the XACK of the entries settled, together.
--
-- KEYS[1] input stream   KEYS[2] accruals stream   KEYS[3] dead letters   KEYS[4] unpriced hash
-- KEYS[5] checkpoint     KEYS[6] ledger portfolios set   KEYS[6+k] ledger hash of portfolio k
-- ARGV[1] group   ARGV[2] expected checkpoint ('' = none yet)   ARGV[3] new checkpoint ('' = keep)
-- ARGV[4] n       ARGV[5 .. 4+n] portfolio ids of KEYS[7 .. 6+n]   then the operations:
--   A k as_of ledger report_id revision event_id data ack unpriced_field   accrue unless accrued
--   R k as_of expected ledger event_id data ack                            revise (compare-and-set)
--   P k as_of field report revision ack                                    park unpriced
--   D event_id data ack                                                    dead letter
--   K ack                                                                  acknowledge only
--   L k length                                                             precondition (k=0: unpriced)
-- Returns {'stale', checkpoint} | {'conflict', key} (nothing written) | {'ok', i, stored, ...}
-- where each (i, stored) is an A or P operation (0-based) that found its date already accrued.
local WIDTH = {A = 10, R = 8, P = 7, D = 4, K = 2, L = 3}

local current = redis.call('GET', KEYS[5]) or ''
if current ~= ARGV[2] then
  return {'stale', current}
end

local n = tonumber(ARGV[4])
local first = 5 + n
local function ledger(k)
  return KEYS[6 + tonumber(k)]
end

-- Pass 1: every precondition before any write, since a script cannot roll back.
local i = first
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'R' then
    if redis.call('HGET', ledger(ARGV[i + 1]), ARGV[i + 2]) ~= ARGV[i + 3] then
      return {'conflict', ledger(ARGV[i + 1]) .. ' ' .. ARGV[i + 2]}
    end
  elseif op == 'L' then
    local key = KEYS[4]
    if ARGV[i + 1] ~= '0' then key = ledger(ARGV[i + 1]) end
    if redis.call('HLEN', key) ~= tonumber(ARGV[i + 2]) then
      return {'conflict', key}
    end
  end
  i = i + WIDTH[op]
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

local index = 0
i = first
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'A' then
    local key, as_of = ledger(ARGV[i + 1]), ARGV[i + 2]
    local stored = redis.call('HGET', key, as_of)
    if not stored then
      redis.call('HSET', key, as_of, ARGV[i + 3])
      emit(KEYS[2], 'FeeAccrued', ARGV[i + 6], ARGV[i + 7])
      if ARGV[i + 9] ~= '' then redis.call('HDEL', KEYS[4], ARGV[i + 9]) end
      ack(ARGV[i + 8])
    else
      local s = cjson.decode(stored)
      if s.report_id == ARGV[i + 4] and tostring(s.revision) == ARGV[i + 5] then
        ack(ARGV[i + 8])  -- the same report again: already accrued
      else
        out[#out + 1] = tostring(index)
        out[#out + 1] = stored
      end
    end
  elseif op == 'R' then
    redis.call('HSET', ledger(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 4])
    emit(KEYS[2], 'FeeAdjusted', ARGV[i + 5], ARGV[i + 6])
    ack(ARGV[i + 7])
  elseif op == 'P' then
    local stored = redis.call('HGET', ledger(ARGV[i + 1]), ARGV[i + 2])
    if stored then
      out[#out + 1] = tostring(index)
      out[#out + 1] = stored
    else
      local parked = redis.call('HGET', KEYS[4], ARGV[i + 3])
      if (not parked) or tonumber(cjson.decode(parked).revision) < tonumber(ARGV[i + 5]) then
        redis.call('HSET', KEYS[4], ARGV[i + 3], ARGV[i + 4])
      end
      ack(ARGV[i + 6])
    end
  elseif op == 'D' then
    emit(KEYS[3], 'DeadLetter', ARGV[i + 1], ARGV[i + 2])
    ack(ARGV[i + 3])
  elseif op == 'K' then
    ack(ARGV[i + 1])
  end
  index = index + 1
  i = i + WIDTH[op]
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
