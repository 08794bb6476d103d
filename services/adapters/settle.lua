-- One atomic step of the fee worker: ledger entries, output events, dead letters, parked
-- reports, the log position priced against, and the XACK of the entries settled, together.
-- It keeps storage invariants only (set if absent, compare-and-set, checkpoint, XACK): which
-- report wins, and what counts as the same report, is decided in Python
-- (services/app/pricing.py). services/adapters/memory_ledger.py is its in-memory twin, and
-- tests/ledger_port_cases.py runs against both.
--
-- KEYS[1] input stream   KEYS[2] accruals stream   KEYS[3] dead letters   KEYS[4] unpriced hash
-- KEYS[5] checkpoint     KEYS[6] report outcomes stream   KEYS[7] ledger portfolios set
-- KEYS[7+k] ledger hash of portfolio k   KEYS[7+n+k] its coverage hash (each day of a period
-- but its as_of -> that as_of)   KEYS[8+2n] the closed months (portfolio|month -> its record)
-- KEYS[9+2n] invoice outcomes stream   KEYS[10+2n] invoices waiting for their month's close
-- ARGV[1] group   ARGV[2] expected checkpoint ('' = none yet)   ARGV[3] new checkpoint ('' = keep)
-- ARGV[4] n       ARGV[5 .. 4+n] portfolio ids of KEYS[8 .. 7+n]   then the operations, each
-- its letter and then its fields, one argument each (the count per letter is fixed; C says how
-- many events follow). Passing each field as an argument costs the script nothing but the
-- argument itself: cutting fields out of a joined one copied each ledger entry and event again.
--   A k as_of ledger event_id data ack unpriced_field unpriced_value covers
--       accrue if the date has no entry and no other accrual covers a day of `covers`
--       (comma-separated days; they are then claimed), then drop the parked report if it is
--       still that one
--   R k as_of expected ledger event_id data ack covers releases books_in
--       revise (compare-and-set, and only while the month `books_in` names is not closed,
--       '' = no month); `covers` ('' = the period is unchanged) claimed as for A,
--       the days of `releases` given back; no event is emitted when event_id is ''
--   P k as_of field report expected event_id data ack
--       park if the date has no entry and the parked value is still `expected` ('' = none)
--   E s event_id type data ack                      emit on KEYS[s] (2 accruals, 6 outcomes,
--                                                   3 dead letters, I invoice outcomes)
--   H field invoice ack closed                      keep an invoice until its month closes
--                                                   (precondition: `closed` is not closed yet)
--   D field                                         drop a kept invoice
--   U field expected                                drop a parked report if still `expected`
--   K ack                                           acknowledge only
--   L k length                                      precondition (k=0: the unpriced hash)
--   X k as_of entry                                 precondition: the date's entry is still
--                                                   `entry` ('' = none)
--   C field record m (event_id type data)*m         close a month: precondition that it is not
--                                                   closed; mark it, emit its events on KEYS[2]
-- Returns {'stale', checkpoint} | {'conflict', key} | {'refused', 'key type'} (nothing written) | {'ok', i, where, stored,
-- ...} where each (i, where, stored) is an operation (0-based) not applied: `where` is
-- 'ledger' (A or P: its date has an entry, `stored`), 'unpriced' (P: a parked report) or
-- 'coverage' (A or R: another accrual, whose entry is `stored`, covers a day of its period).

local current = redis.call('GET', KEYS[5]) or ''
if current ~= ARGV[2] then
  return {'stale', current}
end

local n = tonumber(ARGV[4])
local first = 5 + n
local function ledger(k)
  return KEYS[7 + tonumber(k)]
end
local function coverage(k)
  return KEYS[7 + n + tonumber(k)]
end
-- The entry of another accrual that covers one of `days`, if any: a day is covered by the
-- accrual whose as_of it is (the ledger's field), or by the one the coverage hash names (the
-- other days of a period; an accrual's own as_of is never in it, so a plain day claims nothing).
-- Portfolio k -> whether its coverage hash exists (read by pass 1's TYPE checks, set when a
-- claim makes it): a portfolio with none has no day covered, and is not asked for each day.
local covered = {}
local function overlap(k, days, as_of)
  local any = covered[tonumber(k)]
  for day in string.gmatch(days, '[^,]+') do
    if day ~= as_of then
      local own = redis.call('HGET', ledger(k), day)
      if own then
        return own
      end
    end
    local holder = any and redis.call('HGET', coverage(k), day)
    if holder and holder ~= as_of then
      return redis.call('HGET', ledger(k), holder) or holder
    end
  end
  return nil
end
local function claim(k, days, as_of)
  for day in string.gmatch(days, '[^,]+') do
    if day ~= as_of then
      redis.call('HSET', coverage(k), day, as_of)
      covered[tonumber(k)] = true
    end
  end
end
local function release(k, days, as_of)
  for day in string.gmatch(days, '[^,]+') do
    if redis.call('HGET', coverage(k), day) == as_of then
      redis.call('HDEL', coverage(k), day)
    end
  end
end

-- The number of arguments of the operation at ARGV[i] (its letter and its fields), or nil for
-- an unknown letter.
local ARITY = {A = 10, R = 11, P = 9, E = 6, H = 5, D = 2, U = 3, K = 2, L = 3, X = 4}
local function width(i)
  if ARGV[i] == 'C' then
    return 4 + 3 * tonumber(ARGV[i + 3])
  end
  return ARITY[ARGV[i]]
end
local function fields(i, w)
  return {unpack(ARGV, i, i + w - 1)}
end

-- Pass 1: every precondition before any write, since a script cannot roll back.
for k = 1, 2 * n do
  -- A ledger key holding something else would fail a write half way through the step.
  local kind = redis.call('TYPE', KEYS[7 + k]).ok
  if kind ~= 'hash' and kind ~= 'none' then
    return {'refused', KEYS[7 + k] .. ' ' .. kind}
  end
  if k > n then
    covered[k - n] = kind == 'hash'
  end
end
-- Each precondition answers what changed (the conflict's detail), or nil: the compare-and-set
-- of R and X (the date's entry is still `expected`; false: none), and the month R, C or H
-- books in closed since it was planned.
local function changed(k, as_of, expected)
  if redis.call('HGET', ledger(k), as_of) ~= expected then
    return ledger(k) .. ' ' .. as_of
  end
end
local function closed(month)
  if month ~= '' and redis.call('HEXISTS', KEYS[8 + 2 * n], month) == 1 then
    return 'closed ' .. month
  end
end
-- Only the operations that hold one are read here (an accrual, nearly every one, holds none);
-- an unknown letter is refused before anything is written.
local guarded = {R = true, X = true, L = true, C = true, H = true}
local argc = #ARGV
local i = first
while i <= argc do
  local kind, w = ARGV[i], width(i)
  if not w then
    return redis.error_reply('unknown operation ' .. tostring(kind))
  end
  local f = guarded[kind] and fields(i, w)
  i = i + w
  local conflict
  if kind == 'R' then
    conflict = changed(f[2], f[3], f[4]) or closed(f[11])
  elseif kind == 'X' then
    conflict = changed(f[2], f[3], f[4] ~= '' and f[4])
  elseif kind == 'C' then
    conflict = closed(f[2])
  elseif kind == 'H' then
    conflict = closed(f[5])
  elseif kind == 'L' then
    local key = f[2] == '0' and KEYS[4] or ledger(f[2])
    conflict = redis.call('HLEN', key) ~= tonumber(f[3]) and key
  end
  if conflict then
    return {'conflict', conflict}
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
-- An entry's own event is written only by the step that acknowledges it: were a claimed entry
-- settled by two workers, the second finds it acknowledged and writes nothing.
local function first_ack(id)
  return id == '' or redis.call('XACK', KEYS[1], ARGV[1], id) == 1
end
-- Drop a parked report if it is still `expected` (another step may have replaced it).
local function unpark(field, expected)
  if redis.call('HGET', KEYS[4], field) == expected then
    redis.call('HDEL', KEYS[4], field)
  end
end
local function unapplied(number, where, stored)
  out[#out + 1] = tostring(number)
  out[#out + 1] = where
  out[#out + 1] = stored
end

-- An accrual, its fields unpacked from ARGV onto the stack (`a` is the index of its letter):
-- nearly every operation is one, and a table of its fields per operation cost about a
-- twentieth of the script's time (benchmarks/bench_settle.py).
local function accrue(op, a)
  local k, as_of, entry, event_id, data, ack_id, field, parked, covers = unpack(ARGV, a + 1, a + 9)
  local key = ledger(k)
  local stored, other, written
  if covers == as_of and not covered[tonumber(k)] then
    -- One day, of a portfolio with no day covered by another's period: only its own date
    -- can hold an entry, so it is written if absent in one call (else that entry is read).
    written = redis.call('HSETNX', key, as_of, entry) == 1
    stored = not written and redis.call('HGET', key, as_of)
  else
    stored = redis.call('HGET', key, as_of)
    other = not stored and overlap(k, covers, as_of)
  end
  if stored then
    unapplied(op, 'ledger', stored)
  elseif other then
    unapplied(op, 'coverage', other)
  else
    if not written then
      claim(k, covers, as_of)
      redis.call('HSET', key, as_of, entry)
    end
    emit(KEYS[2], 'FeeAccrued', event_id, data)
    if field ~= '' then
      unpark(field, parked)
    end
    ack(ack_id)
  end
end

-- `op`: the operation's number (0-based), as the reply names it.
local op = 0
i = first
while i <= argc do
  local kind = ARGV[i]
  local w = width(i)
  local f = kind ~= 'A' and fields(i, w)
  i = i + w
  if kind == 'A' then
    accrue(op, i - w)
  elseif kind == 'R' then
    local other = overlap(f[2], f[9], f[3])
    if other then
      unapplied(op, 'coverage', other)
    else
      release(f[2], f[10], f[3])
      claim(f[2], f[9], f[3])
      redis.call('HSET', ledger(f[2]), f[3], f[5])
      if f[6] ~= '' then
        emit(KEYS[2], 'FeeAdjusted', f[6], f[7])
      end
      ack(f[8])
    end
  elseif kind == 'P' then
    local stored = redis.call('HGET', ledger(f[2]), f[3])
    local parked = redis.call('HGET', KEYS[4], f[4]) or ''
    if stored then
      unapplied(op, 'ledger', stored)
    elseif parked ~= f[6] then
      unapplied(op, 'unpriced', parked)
    elseif first_ack(f[9]) then
      redis.call('HSET', KEYS[4], f[4], f[5])
      emit(KEYS[6], 'ReportHeld', f[7], f[8])
    end
  elseif kind == 'E' then
    if first_ack(f[6]) then
      local stream = KEYS[9 + 2 * n]
      if f[2] ~= 'I' then stream = KEYS[tonumber(f[2])] end
      emit(stream, f[4], f[3], f[5])
    end
  elseif kind == 'H' then
    if first_ack(f[4]) then
      redis.call('HSET', KEYS[10 + 2 * n], f[2], f[3])
    end
  elseif kind == 'D' then
    redis.call('HDEL', KEYS[10 + 2 * n], f[2])
  elseif kind == 'U' then
    unpark(f[2], f[3])
  elseif kind == 'K' then
    ack(f[2])
  elseif kind == 'C' then
    redis.call('HSET', KEYS[8 + 2 * n], f[2], f[3])
    for j = 5, #f, 3 do
      emit(KEYS[2], f[j + 1], f[j], f[j + 2])
    end
  end
  op = op + 1
end

for j = 1, #acks, 1000 do
  redis.call('XACK', KEYS[1], ARGV[1], unpack(acks, j, math.min(j + 999, #acks)))
end
for j = 5, 4 + n, 1000 do
  redis.call('SADD', KEYS[7], unpack(ARGV, j, math.min(j + 999, 4 + n)))
end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[5], ARGV[3])
end
return out
