"""The Lua scripts :class:`~tandem.state.redis_counters.RedisCounters` runs: each operation
that changes state is one script, so it is atomic on the Redis server.

Scores and instants are the caller's ``at`` (epoch seconds), never the server's clock; key
expiries (PEXPIRE, in real milliseconds) only collect keys nobody touches any more.
"""

from __future__ import annotations

__all__ = [
    "ACQUIRE", "ADD", "FORGET_NODE", "INCR", "MARK", "RECORD", "RELEASE", "SERIES", "TOTAL",
]  # fmt: skip

# KEYS: call record, node set, slot key 1..n. ARGV: call id, at, expiry, gc ms, cap 1..n.
# Returns 0 when admitted, else the index (1-based) of the first full slot key.
ACQUIRE = """
local cid = ARGV[1]
local at = tonumber(ARGV[2])
local exp = tonumber(ARGV[3])
local gc = tonumber(ARGV[4])
local n = #KEYS - 2
for i = 1, n do
  local k = KEYS[i + 2]
  redis.call('ZREMRANGEBYSCORE', k, '-inf', at)
  if not redis.call('ZSCORE', k, cid) then
    if redis.call('ZCARD', k) >= tonumber(ARGV[i + 4]) then
      return i
    end
  end
end
local held = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
if #held > 0 then
  local old = tonumber(held[2])
  if old <= at then
    for j = 1, #held, 2 do redis.call('ZREM', held[j], cid) end
    redis.call('DEL', KEYS[1])
    held = {}
  elseif old > exp then
    exp = old
  end
end
if #held == 0 and n == 0 then return 0 end
local function take(k)
  redis.call('ZADD', k, exp, cid)
  redis.call('ZADD', KEYS[1], exp, k)
  if redis.call('PTTL', k) < gc then redis.call('PEXPIRE', k, gc) end
end
for j = 1, #held, 2 do take(held[j]) end
for i = 1, n do take(KEYS[i + 2]) end
redis.call('PEXPIRE', KEYS[1], gc)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', at)
redis.call('ZADD', KEYS[2], exp, cid)
if redis.call('PTTL', KEYS[2]) < gc then redis.call('PEXPIRE', KEYS[2], gc) end
return 0
"""

# KEYS: call record, node set. ARGV: call id, at ('' when not given).
# Returns 1 when it freed slots live at ``at`` (any slot when no ``at``), else 0.
RELEASE = """
local held = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
redis.call('ZREM', KEYS[2], ARGV[1])
if #held == 0 then return 0 end
local removed = 0
for j = 1, #held, 2 do removed = removed + redis.call('ZREM', held[j], ARGV[1]) end
redis.call('DEL', KEYS[1])
if removed == 0 then return 0 end
if ARGV[2] ~= '' and tonumber(held[2]) <= tonumber(ARGV[2]) then return 0 end
return 1
"""

# KEYS: node set. ARGV: call record key prefix. Frees every slot of every call this node
# holds; returns how many calls.
FORGET_NODE = """
local calls = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, cid in ipairs(calls) do
  local rec = ARGV[1] .. cid
  local held = redis.call('ZRANGE', rec, 0, -1)
  for _, k in ipairs(held) do redis.call('ZREM', k, cid) end
  redis.call('DEL', rec)
end
redis.call('DEL', KEYS[1])
return #calls
"""

# KEYS: counter. ARGV: delta. The new value, never below zero (a zero counter is deleted).
INCR = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v <= 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
return v
"""

# KEYS: window hash (field per bucket number, and "s": the sum of every bucket in the hash),
# window index (sorted set of bucket numbers). ARGV: bucket, buckets in the window, amount,
# gc ms. Drops the buckets that left the window; returns {sum, amount of each later bucket}
# (an instant before the latest one): the total is the sum minus those, computed exactly by
# the caller (Lua numbers are doubles; Redis integers are 64-bit).
ADD = """
local b = tonumber(ARGV[1])
local oldest = b - tonumber(ARGV[2])
redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[1], 's', ARGV[3])
redis.call('ZADD', KEYS[2], b, ARGV[1])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', oldest)
for _, f in ipairs(old) do
  local v = redis.call('HGET', KEYS[1], f)
  if v then
    local negated = (string.sub(v, 1, 1) == '-') and string.sub(v, 2) or ('-' .. v)
    redis.call('HINCRBY', KEYS[1], 's', negated)
    redis.call('HDEL', KEYS[1], f)
  end
end
if #old > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', oldest) end
local out = {redis.call('HGET', KEYS[1], 's')}
for _, f in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')) do
  out[#out + 1] = redis.call('HGET', KEYS[1], f)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return out
"""

# KEYS: window hash, window index. ARGV: bucket, buckets in the window. Read only: returns
# {sum, amount of each bucket outside the window}; the total is the sum minus those.
TOTAL = """
local b = tonumber(ARGV[1])
local out = {redis.call('HGET', KEYS[1], 's') or '0'}
local outside = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', b - tonumber(ARGV[2]))
for _, f in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')) do
  outside[#outside + 1] = f
end
for _, f in ipairs(outside) do
  out[#out + 1] = redis.call('HGET', KEYS[1], f) or '0'
end
return out
"""

# KEYS: series index (zset of bucket starts). ARGV: bucket start, cutoff, gc ms, bucket key
# prefix, then field, amount pairs. Buckets starting before the cutoff are dropped.
RECORD = """
local start = tonumber(ARGV[1])
local cutoff = tonumber(ARGV[2])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
for _, s in ipairs(old) do redis.call('DEL', ARGV[4] .. s) end
if #old > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2]) end
if start >= cutoff then
  local bk = ARGV[4] .. ARGV[1]
  for j = 5, #ARGV, 2 do redis.call('HINCRBY', bk, ARGV[j], ARGV[j + 1]) end
  redis.call('PEXPIRE', bk, ARGV[3])
  redis.call('ZADD', KEYS[1], start, ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 0
"""

# KEYS: series index. ARGV: since, until, bucket key prefix.
# Returns {start, {field, amount, ...}, start, {...}, ...} oldest first.
SERIES = """
local starts = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])
local out = {}
for _, s in ipairs(starts) do
  out[#out + 1] = s
  out[#out + 1] = redis.call('HGETALL', ARGV[3] .. s)
end
return out
"""

# KEYS: mark. ARGV: at, expiry, value, gc ms. The mark is stored as "expiry|value".
MARK = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  if sep and tonumber(string.sub(cur, 1, sep - 1)) > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[3], 'PX', ARGV[4])
return 1
"""
