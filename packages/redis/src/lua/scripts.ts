import { createHash } from 'node:crypto';
import { GENESIS_HASH, STALE_ATTEMPT } from '@spendguard/core/store-kit';
import { AMOUNT_LUA, AUDIT_LUA, COMMON_LUA, COUNTER_LUA, FORMAT_LUA, luaString } from './library.ts';

/** A script run by SHA (EVALSHA), sent in full (EVAL) only when the server does not know it. */
export interface LuaScript {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

function script(name: string, lua: string): LuaScript {
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

// `#!lua` (Redis 7): a script that may write is refused up front when Redis is out of memory,
// rather than failing at its first write and leaving the writes before it (Redis never rolls a
// script back). Every pipeline script also does all its reads and checks before its first write.
const WRITES = '#!lua\n';
const READS = '#!lua flags=no-writes\n';

/**
 * The error code FINISH replies with when a completion's cost is not a whole number of
 * micro-dollars; the message after it is core's RangeError message.
 */
export const AMOUNT_INVALID = 'AMOUNT_INVALID';

/**
 * The checkpoint fields begin reads back for a replay, a wait or a resume (HMGET, so the reply
 * is the values alone, in this order; nil where absent): what toReadCheckpoint (redis-store.ts)
 * reads.
 */
export const CHECKPOINT_FIELDS = [
  'key',
  'fp',
  'state',
  'ou',
  'gen',
  'fence',
  'lease',
  'keyId',
  'reserved',
  'windows',
  'started',
  'completed',
  'dedup',
  'result',
  'actual',
  'error',
  'vendor',
  'op',
] as const;

/** Lua: HMGET's field arguments for CHECKPOINT_FIELDS. */
const CHECKPOINT_HMGET = CHECKPOINT_FIELDS.map((f) => `'${f}'`).join(', ');

/** Lua for one field of begin's checkpoint read, `ex` (an HMGET of CHECKPOINT_FIELDS). */
function checkpointField(field: (typeof CHECKPOINT_FIELDS)[number]): string {
  return `ex[${CHECKPOINT_FIELDS.indexOf(field) + 1}]`;
}

/**
 * begin: a line-by-line port of core's `beginTx` (stores/state-tx.ts). Keys of the call's root
 * share the prefix rp(root); the audit chain and the id → root indexes are global.
 *
 * ARGV after the prefixes: now, root, keyId, checkpointId, checkpointKey, fingerprint, leaseMs,
 * dedupWindowMs, vendorIdempotent (1/0), costMicros, graceMs, #chain, chain…, #windows,
 * (id, keyId, label, capMicros|'', expiresAt|'', alerts joined by ',')…, #rates,
 * (id, keyId, limit, expiresAt)…, approval (1 + id, checkpointId, keyId, vendor, operation,
 * costMicros, createdAt, fingerprint, ttlMs, has account (1/0), account | 0), the call's vendor
 * and operation (each: has it (1/0), value), windows JSON, window expiries JSON, audit entry.
 */
export const BEGIN = script(
  'begin',
  `${WRITES}${COMMON_LUA}${FORMAT_LUA}${AMOUNT_LUA}${AUDIT_LUA}${COUNTER_LUA}
-- The fixed arguments in one call (nx() is one call per argument).
local nowIn, root, keyId, cpId, cpKey, fp, leaseIn, dedupIn, vi, costIn, graceIn = unpack(ARGV, 4, 14)
ai = 14
local now, leaseMs, dedupMs, grace = tonumber(nowIn), tonumber(leaseIn), tonumber(dedupIn), tonumber(graceIn)
local vendorIdempotent = vi == '1'
local P = rp(root)
-- The lists stay in ARGV, read where they are used (a table per entry costs more than the
-- rest of the reading): chain id i at ARGV[C + i]; window i's id, keyId, label, capMicros|'',
-- expiresAt|'' and alerts at ARGV[W + 6i - 5 .. W + 6i]; rate i's id, keyId, limit and
-- expiresAt at ARGV[R + 4i - 3 .. R + 4i].
local nchain = tonumber(nx())
local C = ai
ai = ai + nchain
local nwindows = tonumber(nx())
local W = ai
ai = ai + 6 * nwindows
local nrates = tonumber(nx())
local R = ai
ai = ai + 4 * nrates
-- An optional string: a 1/0 flag, then the value ('' when absent).
local function maybe()
  local has, value = nx() == '1', nx()
  if has then return value end
  return nil
end
local apr
if nx() == '1' then
  apr = { id = nx(), cp = nx(), keyId = nx(), vendor = nx(), op = nx(), cost = nx(), created = nx(),
    fp = nx(), ttl = nx(), acct = maybe(), to = maybe() }
end
local callVendor, callOp = maybe(), maybe()
local windowsJson, wexpJson = nx(), nx()
auditHead()

local function deny(code, message)
  formats()
  appendAudit({ decision = '"denied"', code = jstr(code), message = jstr(message) })
  return { 'denied', code, message }
end
local function ctr(id) return P .. 'ctr:' .. id end
local function counter(id) return tonumber(counterText(ctr(id)) or '0') end
local function usd(micros)
  formats()
  return fixed2(micros / 1000000)
end

-- The amounts first, as in core: a cost or cap that is not a whole number of micro-dollars is
-- refused before anything is reserved, so no counter can take NaN or a negative amount.
if not isMicros(costIn) then return deny('amount_invalid', 'the reservation ' .. costIn .. NOT_MICROS) end
for i = 1, nwindows do
  local w = W + 6 * i
  local capIn = ARGV[w - 2]
  if capIn ~= '' and not isMicros(capIn) then
    return deny('amount_invalid', 'the ' .. ARGV[w - 3] .. ' cap ' .. capIn .. ' of key ' .. ARGV[w - 4] .. NOT_MICROS)
  end
end
local cost = tonumber(costIn)

-- The chain: every key from the root down must exist and be unrevoked.
for i = C + 1, C + nchain do
  local id = ARGV[i]
  if redis.call('HEXISTS', P .. 'keys', id) == 0 or redis.call('HEXISTS', P .. 'revoked', id) == 1 then
    local which = id == keyId and 'this key' or ('its ancestor ' .. id)
    return deny('key_revoked', 'the vault key is revoked (' .. which .. ')')
  end
end

-- Checkpoint and approval ids are global, as in every store; they live under the root that
-- first used them (always this root for ids the guard makes: they hash the root key id in).
local cpIndexed = redis.call('HGET', G .. 'cproot', cpId)
local cpk = rp(cpIndexed or root) .. 'cp:' .. cpId
-- The checkpoint as a replay, a wait or a resume replies with it (CHECKPOINT_FIELDS), read once:
-- no fields when there is none (a new call), and a replay needs no second read.
local ex = redis.call('HMGET', cpk, ${CHECKPOINT_HMGET})
local state = ${checkpointField('state')}
local generation, fencingToken
if state then
  local live = state ~= 'completed' or (tonumber(${checkpointField('completed')}) or 0) + dedupMs > now
  if live and ${checkpointField('fp')} ~= fp then
    return deny('idempotency_mismatch', 'idempotency key ' .. cpKey .. ' was already used for a call with different parameters')
  end
  fencingToken = tonumber(${checkpointField('fence')}) + 1
  if state == 'completed' and live then
    appendAudit({ decision = '"replayed"', code = '"replayed"', estimatedCostUsd = '0',
      actualCostUsd = ${checkpointField('actual')} and usdText(${checkpointField('actual')}) or 'null' })
    return { 'replay', ex }
  end
  if state == 'in_progress' then
    if tonumber(${checkpointField('lease')}) > now then return { 'wait', ex } end
    -- The lease ended without an answer (timeout or crash): the vendor may have acted.
    if not vendorIdempotent then
      return deny('outcome_unknown', 'an earlier attempt may have reached the vendor and it has no idempotency key; reconcile before retrying')
    end
    -- Re-send under the same vendor idempotency key; the reservation is still held.
    redis.call('HSET', cpk, 'fence', num(fencingToken), 'lease', num(now + leaseMs), 'keyId', keyId)
    return { 'resumed', redis.call('HMGET', cpk, ${CHECKPOINT_HMGET}) }
  end
  -- failed, or completed beyond the dedup window: a new attempt under a new vendor key.
  generation = tonumber(${checkpointField('gen')}) + 1
else
  -- Perhaps pruned before: start above its numbers, so the vendor key and the fence are new.
  generation = tonumber(redis.call('GET', G .. 'cpfloor') or '1')
  fencingToken = generation
end

-- An approved record this call may use; marked used only once the call really proceeds.
local admitted
if apr then
  formats()
  local aprIndexed = redis.call('HGET', G .. 'aproot', apr.id)
  local ak = rp(aprIndexed or root) .. 'apr:' .. apr.id
  local a = redis.call('HMGET', ak, 'state', 'fp', 'used', 'decidedAt', 'ttl', 'cost', 'reason')
  local astate = a[1]
  if astate == 'denied' then
    local reason = a[7]
    local why = (reason and reason ~= '') and (': ' .. reason) or ''
    return deny('approval_denied', 'approval ' .. apr.id .. ' was denied' .. why)
  end
  -- core's staleApproval: why an approved record cannot admit this call, fingerprint first.
  local stale
  if astate == 'approved' then
    local again = '; a new approval is needed'
    if a[2] ~= fp then
      stale = 'approval ' .. apr.id .. ' was given for a different call' .. again
    elseif a[3] then
      stale = 'approval ' .. apr.id .. ' was already used at ' .. iso(tonumber(a[3])) .. again
    else
      local expiresAt = (tonumber(a[4]) or 0) + tonumber(a[5])
      if expiresAt <= now then
        stale = 'approval ' .. apr.id .. ' expired at ' .. iso(expiresAt) .. again
      elseif cost > tonumber(a[6]) then
        stale = 'approval ' .. apr.id .. ' covers up to $' .. usd(tonumber(a[6])) .. '; this call is $' .. usd(cost) .. again
      end
    end
  end
  if not astate or stale then
    -- A fresh pending record under the same id: no verdict, not used.
    redis.call('DEL', ak)
    if astate then redis.call('ZREM', G .. 'decided', apr.id) end
    redis.call('HSET', ak, 'cp', apr.cp, 'keyId', apr.keyId, 'vendor', apr.vendor, 'op', apr.op, 'cost', apr.cost,
      'fp', apr.fp, 'ttl', apr.ttl, 'state', 'pending', 'created', apr.created)
    if apr.acct then redis.call('HSET', ak, 'acct', apr.acct) end
    if apr.to then redis.call('HSET', ak, 'to', apr.to) end
    if not aprIndexed then redis.call('HSET', G .. 'aproot', apr.id, root) end
  end
  if not astate or astate == 'pending' or stale then
    appendAudit({ decision = '"needs_approval"', code = '"approval_required"',
      message = jstr(stale or ('approval ' .. apr.id .. ' is needed before this call')) })
    return { 'needs_approval', apr.id }
  end
  admitted = ak
end

for i = 1, nrates do
  local r = R + 4 * i
  local limit = ARGV[r - 1]
  if counter(ARGV[r - 3]) >= tonumber(limit) then
    return deny('rate_limited', 'rate limit of ' .. limit .. ' calls per minute reached for key ' .. ARGV[r - 2])
  end
end

for i = 1, nwindows do
  local w = W + 6 * i
  local cap = tonumber(ARGV[w - 2])
  if cap then
    local used = counter(ARGV[w - 5])
    if used + cost > cap then
      return deny('cap_exceeded', 'the ' .. ARGV[w - 3] .. ' cap of $' .. usd(cap) .. ' for key ' .. ARGV[w - 4] ..
        ' would be exceeded ($' .. usd(used) .. ' used, this call $' .. usd(cost) .. ')')
    end
  end
end

-- Reserve, and fire each alert threshold the reservation crosses, once per window.
local alerts = {}
for i = 1, nwindows do
  local w = W + 6 * i
  local id, cap, exp, thresholds = ARGV[w - 5], tonumber(ARGV[w - 2]), tonumber(ARGV[w - 1]), ARGV[w]
  local before = counter(id)
  local after = before + cost
  if cost ~= 0 then addCounter(ctr(id), cost, exp, now, grace) end
  if cap and thresholds ~= '' then
    for threshold in sgmatch(thresholds, '[^,]+') do
      local line = (cap * tonumber(threshold)) / 100
      local mark = P .. 'mark:alert:' .. id .. ':' .. threshold
      if before < line and after >= line and redis.call('EXISTS', mark) == 0 then
        local ttl = ttlOf(exp, now, grace)
        if ttl then redis.call('SET', mark, '1', 'PX', int(ttl)) else redis.call('SET', mark, '1') end
        alerts[#alerts + 1] = int(i)
        alerts[#alerts + 1] = threshold
        alerts[#alerts + 1] = num(after)
      end
    end
  end
end
for i = 1, nrates do
  local r = R + 4 * i
  addCounter(ctr(ARGV[r - 3]), 1, tonumber(ARGV[r]), now, grace)
end
if admitted then redis.call('HSET', admitted, 'used', num(now)) end

if state then
  redis.call('HDEL', cpk, 'completed', 'result', 'actual', 'error', 'vendor', 'op')
  redis.call('ZREM', G .. 'settled', cpId)
end
if not cpIndexed then redis.call('HSET', G .. 'cproot', cpId, root) end
local started = num(now)
-- One HSET for the whole checkpoint, the call's vendor and operation included when it has them.
local fields = { 'key', cpKey, 'fp', fp, 'state', 'in_progress', 'ou', '0', 'gen', num(generation),
  'fence', num(fencingToken), 'lease', num(now + leaseMs), 'keyId', keyId, 'reserved', num(cost),
  'windows', windowsJson, 'wexp', wexpJson, 'started', started, 'root', root, 'dedup', num(dedupMs) }
if callVendor then
  fields[#fields + 1] = 'vendor'
  fields[#fields + 1] = callVendor
end
if callOp then
  fields[#fields + 1] = 'op'
  fields[#fields + 1] = callOp
end
redis.call('HSET', cpk, unpack(fields))
-- The index listPending reads: in-progress checkpoints by start time (finish removes them).
redis.call('ZADD', G .. 'pending', started, cpId)
return { 'proceed', num(generation), num(fencingToken), alerts }
`,
);

/**
 * finish: core's `finishTx`. ARGV after the prefixes: now, checkpointId, fencingToken, outcome,
 * has result (1/0), result, actualMicros|'', error JSON|'', graceMs, audit entry. Replies
 * { '1', seq } when settled, { '0', 'fenced' | 'missing', seq } when not (the row's message is then
 * STALE_ATTEMPT). A completion whose actualMicros is not a whole number of micro-dollars gets an
 * AMOUNT_INVALID error reply.
 */
export const FINISH = script(
  'finish',
  `${WRITES}${COMMON_LUA}${AMOUNT_LUA}${AUDIT_LUA}${COUNTER_LUA}
local nowIn, cpId, fenceIn, outcome, hasResult, result, actualIn, errorJson, graceIn = unpack(ARGV, 4, 12)
local now, fencingToken, grace = tonumber(nowIn), tonumber(fenceIn), tonumber(graceIn)
-- Before any read or write, as in core: a completion's cost that is not a whole number of
-- micro-dollars is the caller's error (redis-store.ts throws it as a RangeError), not a settlement.
if outcome == 'completed' and actualIn ~= '' and not isMicros(actualIn) then
  return redis.error_reply('${AMOUNT_INVALID} the settlement ' .. actualIn .. NOT_MICROS)
end
auditHead()

local home = redis.call('HGET', G .. 'cproot', cpId)
local cpk = home and (rp(home) .. 'cp:' .. cpId)
local c = cpk and redis.call('HMGET', cpk, 'state', 'fence', 'reserved', 'windows', 'wexp', 'root', 'dedup', 'error') or {}
if c[1] ~= 'in_progress' or tonumber(c[2]) ~= fencingToken then
  -- A newer attempt owns the checkpoint (our lease ran out); its settlement wins. The vendor
  -- saw the same idempotency key, so this answer is the same call: record it, change nothing.
  appendAudit({ message = ${luaString(JSON.stringify(STALE_ATTEMPT))} })
  return { '0', c[1] and 'fenced' or 'missing', int(auditSeq) }
end
-- The reservation's counters are under the root of the call that made it.
local P = rp(c[6])
local reserved = tonumber(c[3])
local function settle(delta)
  local ids, exps = cjson.decode(c[4]), cjson.decode(c[5])
  for i, id in ipairs(ids) do
    local exp = exps[i]
    addCounter(P .. 'ctr:' .. id, delta, type(exp) == 'number' and exp or nil, now, grace)
  end
end
-- c[8]: the error an earlier attempt left, if any (an HDEL of nothing is skipped).
local function setError()
  if errorJson ~= '' then redis.call('HSET', cpk, 'error', errorJson) elseif c[8] then redis.call('HDEL', cpk, 'error') end
end
-- The index prune reads: settled checkpoints by when their dedup window ends (none recorded: kept).
local function settled()
  redis.call('ZREM', G .. 'pending', cpId)
  if c[7] then redis.call('ZADD', G .. 'settled', num(now + tonumber(c[7])), cpId) end
end

if outcome == 'completed' then
  local actual = tonumber(actualIn) or reserved
  local delta = actual - reserved
  if delta ~= 0 then settle(delta) end
  redis.call('HSET', cpk, 'state', 'completed', 'ou', '0', 'completed', num(now),
    'result', hasResult == '1' and result or 'null', 'actual', num(actual), 'reserved', num(actual))
  if c[8] then redis.call('HDEL', cpk, 'error') end
  settled()
elseif outcome == 'failed' then
  if reserved ~= 0 then settle(-reserved) end
  redis.call('HSET', cpk, 'state', 'failed', 'ou', '0', 'completed', num(now), 'reserved', '0')
  setError()
  settled()
else
  -- Unknown: keep the reservation and the in-progress checkpoint until its lease ends.
  redis.call('HSET', cpk, 'ou', '1')
  setError()
end
appendAudit()
return { '1', int(auditSeq) }
`,
);

/**
 * appendAudit: ARGV after the prefixes: audit entry. Returns the row's seq: the row is the entry
 * with that seq, which the caller already has (a reply of the row's text would only be parsed).
 */
export const APPEND_AUDIT = script(
  'appendAudit',
  `${WRITES}${COMMON_LUA}${AUDIT_LUA}
auditHead()
appendAudit()
return int(auditSeq)
`,
);

/**
 * decideApproval, second half: the verdict lands only if the approval is still pending (the
 * caller read it pending and built the audit row from it). ARGV after the prefixes: id, verdict,
 * decidedAt, has by (1/0), by, has reason (1/0), reason, audit entry.
 */
export const DECIDE_APPROVAL = script(
  'decideApproval',
  `${WRITES}${COMMON_LUA}${AUDIT_LUA}
local id, verdict, decidedAt = nx(), nx(), nx()
local hasBy, by, hasReason, reason = nx() == '1', nx(), nx() == '1', nx()
auditHead()
local root = redis.call('HGET', G .. 'aproot', id)
if not root then return { 'missing' } end
local ak = rp(root) .. 'apr:' .. id
local state = redis.call('HGET', ak, 'state')
if not state then return { 'missing' } end
if state ~= 'pending' then return { 'current', redis.call('HGETALL', ak) } end
redis.call('HSET', ak, 'state', verdict, 'decidedAt', decidedAt)
-- The index prune reads: decided approvals by decision time.
redis.call('ZADD', G .. 'decided', decidedAt, id)
if hasBy then redis.call('HSET', ak, 'decidedBy', by) end
if hasReason then redis.call('HSET', ak, 'reason', reason) end
appendAudit()
return { 'decided', redis.call('HGETALL', ak) }
`,
);

/**
 * ARGV after the prefixes: seq, hash, hmac. Records the anchor if the row at seq is linked, with
 * that hash, and seq is above the anchor recorded; 1 if it did.
 */
export const ANCHOR_AUDIT = script(
  'anchorAudit',
  `${WRITES}${COMMON_LUA}
local seq, hash, hmac = nx(), nx(), nx()
local linked = linkedHead()
if tonumber(seq) > linked then return 0 end
local current = tonumber(redis.call('HGET', G .. 'audit:anchor', 'seq') or '0')
if tonumber(seq) <= current then return 0 end
redis.call('HSET', G .. 'audit:anchor', 'seq', seq, 'hash', hash, 'hmac', hmac)
return 1
`,
);

/**
 * No ARGV after the prefixes. { head ('<seq> <hash>' | ''), last appended seq, anchor fields… },
 * read together.
 */
export const AUDIT_HEAD = script(
  'auditHead',
  `${READS}${COMMON_LUA}
return { redis.call('GET', G .. 'audit:head') or '', int(lastAppended()), redis.call('HGETALL', G .. 'audit:anchor') }
`,
);

/**
 * The sealer's read: ARGV after the prefixes: limit. { head ('<seq> <hash>' | ''), last appended
 * seq, the rows after the head up to limit of them ('' for a row that is gone) }.
 */
export const SEAL_READ = script(
  'sealRead',
  `${READS}${COMMON_LUA}
local limit = tonumber(nx())
local linked, _, head = linkedHead()
local appended = lastAppended()
local out = { head or '', int(appended) }
local last = math.min(appended, linked + limit)
if last > linked then
  local seqs = {}
  for seq = linked + 1, last do seqs[#seqs + 1] = int(seq) end
  local rows = redis.call('HMGET', G .. 'audit', unpack(seqs))
  for i = 1, #seqs do out[#out + 1] = rows[i] or '' end
end
return out
`,
);

/**
 * The sealer's write: ARGV after the prefixes: the head it read ('' for none), then for each row
 * after that head, in order: what identifies the row that was hashed (the whole row as read
 * while nothing is linked yet, else its length in bytes), and the row's hash. Each stored row
 * gets ',"prevHash":"…","hash":"…"' added before its last '}' here, from the stored text itself,
 * so rows come back as hashes rather than whole (one concatenation each instead of two compared
 * copies), and audit:head moves to the last one. 1 when written; 0, changing nothing, when
 * another sealer moved the head first or a row is gone or changed since it was read.
 *
 * A row changes after its append only when it is linked, which moves the head, or when someone
 * edits the log. Linking a row changes its length, and while the head stays put no sealer can
 * link one, so the head and each length show it is still the unlinked row that was hashed. An
 * edit of the same length between the read and this write would be linked with the hash of the
 * text read, and verify then names the row as edited, as it should. While nothing is linked the
 * head cannot tell a log cleared (`clear()`) and written again from the one read, so each row is
 * then compared whole: a sealer never hashes a row in that is not the one it read.
 */
export const SEAL = script(
  'seal',
  `${WRITES}${COMMON_LUA}
local expected = nx()
local linked, prev, head = linkedHead()
if (head or '') ~= expected then return 0 end
prev = prev or '${GENESIS_HASH}'
local whole = expected == ''
local n = (#ARGV - ai) / 2
if n < 1 then return 1 end
local seqs = {}
for i = 1, n do seqs[i] = int(linked + i) end
local rows = redis.call('HMGET', G .. 'audit', unpack(seqs))
local out = {}
for i = 1, n do
  local stored, check, hash = rows[i], ARGV[ai + 2 * i - 1], ARGV[ai + 2 * i]
  if not stored or (whole and stored ~= check) or (not whole and #stored ~= tonumber(check)) then return 0 end
  out[2 * i - 1] = seqs[i]
  out[2 * i] = ssub(stored, 1, -2) .. ',"prevHash":"' .. prev .. '","hash":"' .. hash .. '"}'
  prev = hash
end
redis.call('HSET', G .. 'audit', unpack(out))
redis.call('SET', G .. 'audit:head', int(linked + n) .. ' ' .. prev)
return 1
`,
);

/**
 * ARGV after the prefixes: now, limit. Walks the index of in-progress checkpoints oldest first
 * (ties by id), and returns (id, fields)… of those with an unknown outcome or an ended lease.
 */
export const LIST_PENDING = script(
  'listPending',
  `${READS}${COMMON_LUA}
local now, limit = tonumber(nx()), tonumber(nx())
-- The index holds exactly the in-progress checkpoints: begin adds, a settling finish removes.
local PAGE = 100
local out, found, start = {}, 0, 0
while found < limit do
  local ids = redis.call('ZRANGE', G .. 'pending', start, start + PAGE - 1)
  for _, id in ipairs(ids) do
    local cpk = rp(redis.call('HGET', G .. 'cproot', id)) .. 'cp:' .. id
    local c = redis.call('HMGET', cpk, 'ou', 'lease')
    if c[1] == '1' or tonumber(c[2]) <= now then
      out[#out + 1] = id
      out[#out + 1] = redis.call('HGETALL', cpk)
      found = found + 1
      if found == limit then break end
    end
  end
  if #ids < PAGE then break end
  start = start + PAGE
end
return out
`,
);

/** ARGV after the prefixes: id. The checkpoint's fields, or an empty list. */
export const GET_CHECKPOINT = script(
  'getCheckpoint',
  `${READS}${COMMON_LUA}
local id = nx()
local root = redis.call('HGET', G .. 'cproot', id)
if not root then return {} end
return redis.call('HGETALL', rp(root) .. 'cp:' .. id)
`,
);

/** ARGV after the prefixes: id. The approval's fields, or an empty list. */
export const GET_APPROVAL = script(
  'getApproval',
  `${READS}${COMMON_LUA}
local id = nx()
local root = redis.call('HGET', G .. 'aproot', id)
if not root then return {} end
return redis.call('HGETALL', rp(root) .. 'apr:' .. id)
`,
);

/**
 * ARGV after the prefixes: HSCAN cursor, count. One step through the approval index:
 * { next cursor, id, fields, id, fields, … } (an id whose record is gone is left out).
 */
export const LIST_APPROVALS = script(
  'listApprovals',
  `${READS}${COMMON_LUA}
local cursor, count = nx(), nx()
local page = redis.call('HSCAN', G .. 'aproot', cursor, 'COUNT', count)
local out = { page[1] }
local entries = page[2]
for i = 1, #entries, 2 do
  local id, root = entries[i], entries[i + 1]
  local fields = redis.call('HGETALL', rp(root) .. 'apr:' .. id)
  if #fields > 0 then
    out[#out + 1] = id
    out[#out + 1] = fields
  end
end
return out
`,
);

/** ARGV after the prefixes: id. { record JSON, revokedAt|'' } or an empty list. */
export const GET_KEY = script(
  'getKey',
  `${READS}${COMMON_LUA}
local id = nx()
local root = redis.call('HGET', G .. 'keyroot', id)
if not root then return {} end
local record = redis.call('HGET', rp(root) .. 'keys', id)
if not record then return {} end
return { record, redis.call('HGET', rp(root) .. 'revoked', id) or '' }
`,
);

/** ARGV after the prefixes: counter id, key id (the counter id's prefix). The value, '0' if none. */
export const GET_COUNTER = script(
  'getCounter',
  `${READS}${COMMON_LUA}
local id, keyId = nx(), nx()
local root = redis.call('HGET', G .. 'keyroot', keyId)
if not root then return '0' end
return redis.call('GET', rp(root) .. 'ctr:' .. id) or '0'
`,
);

/** ARGV after the prefixes: id, rootId, record JSON, revokedAt|''. INSERT OR IGNORE. */
export const INSERT_KEY = script(
  'insertKey',
  `${WRITES}${COMMON_LUA}
local id, root, record, revokedAt = nx(), nx(), nx(), nx()
local P = rp(root)
if redis.call('HSETNX', P .. 'keys', id, record) == 0 then return 0 end
redis.call('HSET', G .. 'keyroot', id, root)
-- Every key id, score 0, so they sort by id (byte order) for listKeys.
redis.call('ZADD', G .. 'keyids', 0, id)
if revokedAt ~= '' then redis.call('HSETNX', P .. 'revoked', id, revokedAt) end
return 1
`,
);

/** ARGV after the prefixes: id, at. 1 if the key exists (its first revocation time is kept). */
export const REVOKE_KEY = script(
  'revokeKey',
  `${WRITES}${COMMON_LUA}
local id, at = nx(), nx()
local root = redis.call('HGET', G .. 'keyroot', id)
if not root then return 0 end
local P = rp(root)
if redis.call('HEXISTS', P .. 'keys', id) == 0 then return 0 end
redis.call('HSETNX', P .. 'revoked', id, at)
return 1
`,
);

/**
 * ARGV after the prefixes: afterId ('' from the first), count. The next `count` key ids after
 * afterId by id: { how many ids, the last id, (record JSON, revokedAt|'')… }.
 */
export const LIST_KEYS = script(
  'listKeys',
  `${READS}${COMMON_LUA}
local after, count = nx(), nx()
local ids = redis.call('ZRANGEBYLEX', G .. 'keyids', after == '' and '-' or ('(' .. after), '+', 'LIMIT', 0, count)
local out = {}
for _, id in ipairs(ids) do
  local root = redis.call('HGET', G .. 'keyroot', id)
  local record = root and redis.call('HGET', rp(root) .. 'keys', id)
  if record then
    out[#out + 1] = record
    out[#out + 1] = redis.call('HGET', rp(root) .. 'revoked', id) or ''
  end
end
return { #ids, ids[#ids] or '', out }
`,
);

/**
 * No ARGV after the prefixes. Moves up to 1000 ids from `keylist` (insertion order, written
 * before key ids were kept sorted, and by older processes during an upgrade) into `keyids`.
 * Returns how many are left.
 */
export const ADOPT_KEYLIST = script(
  'adoptKeylist',
  `${WRITES}${COMMON_LUA}
local ids = redis.call('LPOP', G .. 'keylist', 1000)
if ids then
  for _, id in ipairs(ids) do redis.call('ZADD', G .. 'keyids', 0, id) end
end
return redis.call('LLEN', G .. 'keylist')
`,
);

/**
 * ARGV after the prefixes: cursor, now. One HSCAN step over the tokens: deletes those whose key
 * is missing, revoked or expired at now (core's isPrunableToken). { next cursor, deleted }.
 */
export const PRUNE_TOKENS = script(
  'pruneTokens',
  `${WRITES}${COMMON_LUA}
local cursor, now = nx(), tonumber(nx())
local step = redis.call('HSCAN', G .. 'tokens', cursor, 'COUNT', 500)
local flat, deleted = step[2], 0
for i = 1, #flat, 2 do
  local keyId = cjson.decode(flat[i + 1]).keyId
  local root = redis.call('HGET', G .. 'keyroot', keyId)
  local record = root and redis.call('HGET', rp(root) .. 'keys', keyId)
  local dead = not record or redis.call('HEXISTS', rp(root) .. 'revoked', keyId) == 1
  if not dead then
    local expiresAt = cjson.decode(record).expiresAt
    dead = type(expiresAt) == 'number' and expiresAt <= now
  end
  if dead then deleted = deleted + redis.call('HDEL', G .. 'tokens', flat[i]) end
end
return { step[1], deleted }
`,
);

/**
 * ARGV after the prefixes: now, count. Deletes up to count checkpoints whose dedup window ended
 * by now (the `settled` index holds only settled ones), and raises `cpfloor` above every
 * fencing token they used (core's raiseCheckpointFloor). { deleted, ids read }.
 */
export const PRUNE_CHECKPOINTS = script(
  'pruneCheckpoints',
  `${WRITES}${COMMON_LUA}
local now, count = nx(), nx()
local ids = redis.call('ZRANGEBYSCORE', G .. 'settled', '-inf', now, 'LIMIT', 0, count)
local floor = tonumber(redis.call('GET', G .. 'cpfloor') or '1')
local deleted = 0
for _, id in ipairs(ids) do
  local root = redis.call('HGET', G .. 'cproot', id)
  local cpk = root and (rp(root) .. 'cp:' .. id)
  local c = cpk and redis.call('HMGET', cpk, 'state', 'fence') or {}
  -- Never one in progress (begin takes a checkpoint out of the index when it starts again).
  if c[1] and c[1] ~= 'in_progress' then
    floor = math.max(floor, tonumber(c[2]) + 1)
    redis.call('DEL', cpk)
    redis.call('HDEL', G .. 'cproot', id)
    deleted = deleted + 1
  end
  redis.call('ZREM', G .. 'settled', id)
end
if deleted > 0 then redis.call('SET', G .. 'cpfloor', int(floor)) end
return { deleted, #ids }
`,
);

/**
 * ARGV after the prefixes: now, cutoff, offset, count. Reads count approvals decided by cutoff,
 * from offset in the `decided` index, and deletes those that cannot admit their call (core's
 * isPrunableApproval): one approved, unused and unexpired stays, in the index too.
 * { deleted, kept, ids read }.
 */
export const PRUNE_APPROVALS = script(
  'pruneApprovals',
  `${WRITES}${COMMON_LUA}
local now, cutoff, offset, count = tonumber(nx()), nx(), nx(), nx()
local ids = redis.call('ZRANGEBYSCORE', G .. 'decided', '-inf', cutoff, 'LIMIT', offset, count)
local deleted, kept = 0, 0
for _, id in ipairs(ids) do
  local root = redis.call('HGET', G .. 'aproot', id)
  local ak = root and (rp(root) .. 'apr:' .. id)
  local a = ak and redis.call('HMGET', ak, 'state', 'used', 'decidedAt', 'ttl') or {}
  if a[1] == 'approved' and not a[2] and tonumber(a[3]) + tonumber(a[4]) > now then
    kept = kept + 1
  else
    if a[1] and a[1] ~= 'pending' then
      redis.call('DEL', ak)
      redis.call('HDEL', G .. 'aproot', id)
      deleted = deleted + 1
    end
    redis.call('ZREM', G .. 'decided', id)
  end
end
return { deleted, kept, #ids }
`,
);

export const SCRIPTS = [
  BEGIN,
  FINISH,
  APPEND_AUDIT,
  DECIDE_APPROVAL,
  ANCHOR_AUDIT,
  AUDIT_HEAD,
  SEAL_READ,
  SEAL,
  LIST_PENDING,
  GET_CHECKPOINT,
  GET_APPROVAL,
  LIST_APPROVALS,
  GET_KEY,
  GET_COUNTER,
  INSERT_KEY,
  REVOKE_KEY,
  LIST_KEYS,
  ADOPT_KEYLIST,
  PRUNE_TOKENS,
  PRUNE_CHECKPOINTS,
  PRUNE_APPROVALS,
] as const;
