import { createHash } from 'node:crypto';

/**
 * The one script: takes `tokens` tokens from every bucket or from none (rule R7), with
 * continuous refill (rule R4), in the units of core's MemoryRateLimitStore (tokens × windowMs,
 * so refill adds exactly `capacity` units per millisecond) and with the same arithmetic, so
 * both stores give the same answers, also for several tokens at once (`BucketRequest.tokens`,
 * what an engine batch asks) and for more tokens than the bucket holds (always refused).
 *
 * KEYS[i]  the Redis key of bucket i, holding 24 bytes: three little-endian doubles, the level
 *          (units left), the latest millisecond the bucket has counted refill up to (the time of
 *          its last take, or later: it never moves back), and the millisecond the key expires
 *          (see bucket-state.ts). Binary doubles round-trip exactly and cost less than text.
 * ARGV[1]  the caller's now in ms, or '' to read the server's TIME (so skewed hosts agree).
 * ARGV[2..]  per bucket i, capacity and windowMs, and its tokens only when some bucket of the
 *          call takes more than one (an engine batch): a stride of 2 or 3 arguments per
 *          bucket, (#ARGV - 1) / #KEYS. An argument fewer per call in the common case is a
 *          little less to build, send and parse on every operation.
 * Returns  whole tokens left in the emptiest bucket (an integer) when admitted, or
 *          { retryAfterMs, index of the first rejecting bucket } when not.
 *
 * Time: each bucket computes at `at`, the later of now and its recorded time, and records `at`.
 * A clock that steps back refills nothing and moves no bucket back, so stepping forward again
 * cannot refill the same milliseconds twice. A rejection's retryAfterMs and a key's TTL are
 * counted from now (they include the wait for the clock to reach the bucket's time).
 *
 * Expiry: an absent key is a full bucket, so a key may vanish only once its bucket is full
 * again. Setting a TTL on every take costs about as much as the rest of the script, so a
 * take keeps the key's TTL (KEEPTTL) while the recorded expiry is still no earlier than the
 * bucket's new time-to-full, and otherwise sets it to one window from now (the longest a
 * bucket can take to fill), plus 1 ms for Redis' own clock reading. A key thus lives until
 * its bucket is full, and at most one window (+1 ms) after its last take.
 * Numbers given to redis.call are formatted by Redis with 17 digits, so TTLs are exact.
 * Redis 5+ replicates a script's effects, not the script, so reading TIME before writing is safe.
 */
export const CONSUME_SCRIPT = `local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = t[1] * 1000 + math.floor(t[2] / 1000)
end
local n = #KEYS
if n == 1 then
  -- One limit per operation is the common case: the same steps without tables.
  local key = KEYS[1]
  local capacity = tonumber(ARGV[2])
  local window = tonumber(ARGV[3])
  local need = window
  if #ARGV == 4 then need = window * tonumber(ARGV[4]) end
  local full = capacity * window
  local units = full
  local expires = 0
  local at = now
  local value = redis.call('GET', key)
  if value then
    local level, last
    level, last, expires = struct.unpack('<ddd', value)
    if last > at then at = last end
    units = level + (at - last) * capacity
    if units > full then units = full end
  end
  if units < need then return {math.ceil((need - units) / capacity + (at - now)), 1} end
  local left = units - need
  local full_at = at + math.ceil((full - left) / capacity)
  if expires >= full_at then
    redis.call('SET', key, struct.pack('<ddd', left, at, expires), 'KEEPTTL')
  else
    expires = at + math.ceil(window)
    if expires < full_at then expires = full_at end
    redis.call('SET', key, struct.pack('<ddd', left, at, expires), 'PX', math.ceil(expires - now) + 1)
  end
  return math.floor(left / window)
end
local stride = (#ARGV - 1) / n
local limited = 0
local retry = 0
local taken = {}
for i = 1, n do
  local base = 1 + stride * (i - 1)
  local capacity = tonumber(ARGV[base + 1])
  local window = tonumber(ARGV[base + 2])
  local need = window
  if stride == 3 then need = window * tonumber(ARGV[base + 3]) end
  local full = capacity * window
  local units = full
  local expires = 0
  local at = now
  local value = redis.call('GET', KEYS[i])
  if value then
    local level, last
    level, last, expires = struct.unpack('<ddd', value)
    if last > at then at = last end
    units = level + (at - last) * capacity
    if units > full then units = full end
  end
  if units < need then
    if limited == 0 then limited = i end
    local wait = math.ceil((need - units) / capacity + (at - now))
    if wait > retry then retry = wait end
  end
  taken[i] = {capacity, window, units - need, expires, at}
end
if limited > 0 then return {retry, limited} end
local remaining = -1
for i = 1, n do
  local b = taken[i]
  local capacity, window, left, expires, at = b[1], b[2], b[3], b[4], b[5]
  local full_at = at + math.ceil((capacity * window - left) / capacity)
  if expires >= full_at then
    redis.call('SET', KEYS[i], struct.pack('<ddd', left, at, expires), 'KEEPTTL')
  else
    expires = at + math.ceil(window)
    if expires < full_at then expires = full_at end
    redis.call('SET', KEYS[i], struct.pack('<ddd', left, at, expires), 'PX', math.ceil(expires - now) + 1)
  end
  local whole = math.floor(left / window)
  if remaining < 0 or whole < remaining then remaining = whole end
end
return remaining
`;

/** What Redis names the script in its cache (EVALSHA). */
export const CONSUME_SCRIPT_SHA = createHash('sha1').update(CONSUME_SCRIPT).digest('hex');

/**
 * Several `consume` calls in one script run, answered in order: what concurrent calls of one
 * tick send instead of one EVALSHA each (the store's batching, docs/ratelimit-redis.md). Each
 * call runs CONSUME_SCRIPT itself, unchanged, as a function of its own KEYS and ARGV, so each
 * gets exactly the answer it would get alone, and a call sees the takes of the calls before it,
 * as separate scripts run back to back would. A call that fails (say WRONGTYPE: something
 * else wrote a list where its bucket belongs) fails alone, as its own script would: its error
 * is its reply, and the calls after it still run. (CONSUME_SCRIPT reads every bucket before it
 * writes any, so a call that fails has written nothing.)
 *
 * KEYS     the keys of every call, in order.
 * ARGV[1]  the number of calls; then per call, the number of its keys, the number of its
 *          arguments, and its arguments (CONSUME_SCRIPT's ARGV).
 * Returns  one CONSUME_SCRIPT reply per call, in order, or that call's error.
 */
export const CONSUME_MANY_SCRIPT = `local function consume(KEYS, ARGV)
${CONSUME_SCRIPT}end
local replies = {}
local k = 0
local a = 2
for call = 1, tonumber(ARGV[1]) do
  local nkeys = tonumber(ARGV[a])
  local nargs = tonumber(ARGV[a + 1])
  local keys = {}
  for i = 1, nkeys do keys[i] = KEYS[k + i] end
  local argv = {}
  for i = 1, nargs do argv[i] = ARGV[a + 1 + i] end
  local ok, reply = pcall(consume, keys, argv)
  if ok then
    replies[call] = reply
  else
    replies[call] = {err = type(reply) == 'table' and reply.err or tostring(reply)}
  end
  k = k + nkeys
  a = a + 2 + nargs
end
return replies
`;

export const CONSUME_MANY_SCRIPT_SHA = createHash('sha1').update(CONSUME_MANY_SCRIPT).digest('hex');

/**
 * What CONSUME_SCRIPT would answer now, with the same arithmetic, arguments and reply,
 * writing nothing: the `peek` capability that dry runs (`policy.evaluate`) use. A bucket
 * counts from the later of now and its recorded time, as in a take, and each bucket is asked
 * for its `tokens`, as in a take.
 */
export const PEEK_SCRIPT = `local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = t[1] * 1000 + math.floor(t[2] / 1000)
end
local stride = (#ARGV - 1) / #KEYS
local limited = 0
local retry = 0
local remaining = -1
for i = 1, #KEYS do
  local base = 1 + stride * (i - 1)
  local capacity = tonumber(ARGV[base + 1])
  local window = tonumber(ARGV[base + 2])
  local need = window
  if stride == 3 then need = window * tonumber(ARGV[base + 3]) end
  local full = capacity * window
  local units = full
  local at = now
  local value = redis.call('GET', KEYS[i])
  if value then
    local level, last = struct.unpack('<ddd', value)
    if last > at then at = last end
    units = level + (at - last) * capacity
    if units > full then units = full end
  end
  if units < need then
    if limited == 0 then limited = i end
    local wait = math.ceil((need - units) / capacity + (at - now))
    if wait > retry then retry = wait end
  else
    local whole = math.floor((units - need) / window)
    if remaining < 0 or whole < remaining then remaining = whole end
  end
end
if limited > 0 then return {retry, limited} end
if remaining < 0 then remaining = 0 end
return remaining
`;

export const PEEK_SCRIPT_SHA = createHash('sha1').update(PEEK_SCRIPT).digest('hex');
