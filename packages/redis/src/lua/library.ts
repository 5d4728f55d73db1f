import { AUDIT_ARGS, SCRIPT_FIELDS } from '../audit-fields.ts';

/**
 * Lua shared by the scripts. Every script starts with ARGV[1..3] = the global key prefix and the
 * two halves of a root key's prefix (`<prefix>{` and `}:` by default), so key names are built in
 * one place (see keys.ts) and the scripts only concatenate.
 *
 * Numbers are stored with `%.17g`, which reads back as the same double in JavaScript. Lua's
 * `tostring` would round to 14 digits, so it is never used on a number that is stored or sent.
 */
export const COMMON_LUA = `
local G, RP1, RP2 = ARGV[1], ARGV[2], ARGV[3]
local ai = 3
local function nx() ai = ai + 1; return ARGV[ai] end
local function rp(root) return RP1 .. root .. RP2 end
local sformat, ssub, sgsub, smatch, srep, schar, sgmatch = string.format, string.sub, string.gsub, string.match, string.rep, string.char, string.gmatch
local tconcat = table.concat
local function num(x) return sformat('%.17g', x) end
local function int(x) return sformat('%d', x) end
-- audit:head is '<seq> <hash>' of the newest linked row; audit:seq the newest appended seq.
local function linkedHead()
  local head = redis.call('GET', G .. 'audit:head')
  if not head then return 0, nil, nil end
  local s, h = smatch(head, '^(%d+) (%x+)$')
  if not s then error('spendguard: corrupt audit head') end
  return tonumber(s), h, head
end
local function lastAppended()
  local v = redis.call('GET', G .. 'audit:seq')
  if not v then return (linkedHead()) end
  if not smatch(v, '^%d+$') then error('spendguard: corrupt audit seq') end
  return tonumber(v)
end
`;

/** Lua table entries: each byte JSON.stringify escapes (C0 controls, '"', '\\') and its escape. */
const JSON_ESCAPES = Array.from({ length: 0x60 }, (_, code) => String.fromCharCode(code))
  .filter((ch) => ch < ' ' || ch === '"' || ch === '\\')
  .map((ch) => `[${luaString(ch)}] = ${luaString(JSON.stringify(ch).slice(1, -1))}`)
  .join(', ');

/** A Lua string literal of an ASCII string, with every byte outside printable ASCII escaped. */
export function luaString(text: string): string {
  let out = "'";
  for (const ch of text) {
    const code = ch.charCodeAt(0);
    out += code < 0x20 || code > 0x7e || ch === "'" || ch === '\\' ? `\\${code}` : ch;
  }
  return `${out}'`;
}

/**
 * What the pipeline scripts share beyond COMMON_LUA, in pieces so each script builds only the
 * functions it may call (every local function is a closure made on each run).
 *
 * FORMAT_LUA: JSON strings and numbers printed exactly as JavaScript prints them (jstr, jsnum,
 * fixed2, iso), once formats() has made them; usdText, a stored amount in dollars.
 */
export const FORMAT_LUA = String.raw`
-- They are made by formats(), which a script calls before it prints: most runs print nothing,
-- and a closure costs on every run that makes it.
local jstr, jsnum, fixed2, iso
local function formats()
  if jstr then return end
  -- JSON.stringify of a string, byte for byte: Redis strings reach Lua as UTF-8, which JSON
  -- leaves as it is; only '"', '\' and the C0 controls are escaped, as JavaScript escapes them.
  local JESC = { ${JSON_ESCAPES} }
  function jstr(s) return '"' .. sgsub(s, '[%z\1-\31"\\]', JESC) .. '"' end

  -- Number.prototype.toString: the fewest significant digits that read back as the same double
  -- (%.{p}e is correctly rounded, so the first p that round-trips is JavaScript's choice), laid
  -- out by the ECMAScript rules for where the point goes and when to use an exponent.
  function jsnum(x)
    if x ~= x or x == math.huge or x == -math.huge then return 'null' end
    if x == 0 then return '0' end
    if x < 0 then return '-' .. jsnum(-x) end
    local digits, e
    for p = 1, 17 do
      local s = sformat('%.' .. (p - 1) .. 'e', x)
      if p == 17 or tonumber(s) == x then
        local lead, rest, ex = smatch(s, '^(%d)%.?(%d*)e([-+]%d+)$')
        digits = sgsub(lead .. rest, '0+$', '')
        e = tonumber(ex)
        break
      end
    end
    local k, n = #digits, e + 1
    if k <= n and n <= 21 then return digits .. srep('0', n - k) end
    if 0 < n and n <= 21 then return ssub(digits, 1, n) .. '.' .. ssub(digits, n + 1) end
    if -6 < n and n <= 0 then return '0.' .. srep('0', -n) .. digits end
    local exp = n - 1
    local es = exp >= 0 and ('+' .. int(exp)) or int(exp)
    if k == 1 then return digits .. 'e' .. es end
    return ssub(digits, 1, 1) .. '.' .. ssub(digits, 2) .. 'e' .. es
  end

  -- Number.prototype.toFixed(2). C's %.2f rounds the exact binary value like JavaScript does,
  -- except on an exact tie (x.xx5 held exactly, so x is a multiple of 1/8), where C rounds half
  -- to even and JavaScript rounds half up; those are computed exactly instead.
  function fixed2(x)
    local sign = ''
    if x < 0 then sign = '-'; x = -x end
    local x8 = x * 8
    if x8 == x8 - x8 % 1 and x < 1e13 then
      local cents = x * 100 + 0.5
      cents = cents - cents % 1
      return sign .. sformat('%d.%02d', (cents - cents % 100) / 100, cents % 100)
    end
    return sign .. sformat('%.2f', x)
  end

  -- Date.prototype.toISOString of a time in ms from 1970 to 9999 (Redis's Lua has no os.date):
  -- the civil date from the days since 1970, by Howard Hinnant's civil_from_days.
  function iso(ms)
    local floor = math.floor
    ms = floor(ms)
    local days = floor(ms / 86400000)
    local rem = ms - days * 86400000
    local z = days + 719468
    local era = floor(z / 146097)
    local doe = z - era * 146097
    local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
    local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
    local mp = floor((5 * doy + 2) / 153)
    local day = doy - floor((153 * mp + 2) / 5) + 1
    local month = mp < 10 and mp + 3 or mp - 9
    local year = yoe + era * 400 + (month <= 2 and 1 or 0)
    return sformat('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', year, month, day, floor(rem / 3600000),
      floor(rem / 60000) % 60, floor(rem / 1000) % 60, rem % 1000)
  end
end

-- String(micros / 1e6) of a stored amount's text (num(), so plain digits for a whole amount
-- below 1e17). A whole number of at most 15 digits is its own decimal, cut at the point (15
-- significant digits always read back as the same double, and nothing shorter does), so the
-- common case needs neither formats()' closures nor jsnum's search.
local function usdText(s)
  local whole = #s <= 15 and smatch(s, '^%d+$') and tonumber(s)
  if not whole then
    formats()
    return jsnum(tonumber(s) / 1000000)
  end
  local frac = sgsub(sformat('%06d', whole % 1000000), '0+$', '')
  local dollars = int((whole - whole % 1000000) / 1000000)
  if frac == '' then return dollars end
  return dollars .. '.' .. frac
end
`;

/** AMOUNT_LUA: core's check of an amount. */
export const AMOUNT_LUA = `
-- core's isMicros on the text JavaScript sends (String(x)): a whole number from 0 to 2^53 - 1 is
-- plain digits. tonumber alone would also read 'NaN', 'inf', '-5', '1.5', '0x10' and '1e400'.
local function isMicros(s)
  return smatch(s, '^%d+$') ~= nil and #s <= 16 and tonumber(s) <= 9007199254740991
end
-- core's words for an amount that is not one (stores/state-tx.ts).
local NOT_MICROS = ' is not a finite, non-negative whole number of micro-dollars below 2^53'
`;

/** AUDIT_LUA: the audit append. */
export const AUDIT_LUA = `
-- The entry's audit arguments are the script's last AUDIT_ARGS (audit-fields.ts): the row text
-- before the fields a script may set, those fields' JSON text ('' when left out), the row text
-- after them.
local AU = #ARGV - ${AUDIT_ARGS - 1}

-- The last appended seq is read before a script writes anything, so a corrupt one fails the
-- script before it has changed state (Redis does not roll a script back). A store written before
-- rows were linked after the step has no audit:seq; its head is then the last row.
local auditSeq
local function auditHead()
  auditSeq = lastAppended()
end

-- The row as core's chainAudit serializes it before hashing: seq, then the fields in order, those
-- in set (field name → JSON text, when given) instead of the entry's. It is stored unlinked; the
-- store's sealer (redis-store.ts) adds prevHash and hash right after, in order, with node:crypto,
-- and moves audit:head. audit:seq moves here, in the same step as the append, so deleting the
-- newest rows is caught whether they were linked yet or not.
local function appendAudit(set)
  auditSeq = auditSeq + 1
  local seq = int(auditSeq)
${SCRIPT_FIELDS.map((f, i) => `  local f${i + 1} = set and set.${f} or ARGV[AU + ${i + 1}]`).join('\n')}
  local row = '{"seq":' .. seq .. ARGV[AU]
${SCRIPT_FIELDS.map((f, i) => `    .. (f${i + 1} ~= '' and ',"${f}":' .. f${i + 1} or '')`).join('\n')}
    .. ARGV[AU + ${SCRIPT_FIELDS.length + 1}] .. '}'
  redis.call('HSET', G .. 'audit', seq, row)
  redis.call('SET', G .. 'audit:seq', seq)
end
`;

/** COUNTER_LUA: counters with expiry. */
export const COUNTER_LUA = `
-- Counters and marks of a window that ends expire a grace period after its end (by the
-- caller's clock), so a process whose clock is a little behind still finds them.
local function ttlOf(exp, now, grace)
  if not exp then return nil end
  local ttl = exp - now + grace
  return ttl - ttl % 1
end

-- Each counter is read from Redis once per script (false: none) and kept current here as it is
-- written, so a cap check, the reservation and a second window on the same counter all see
-- what Redis holds. Time stands still in a script: a counter read cannot expire before its write.
local ctrs = {}
local function counterText(key)
  local v = ctrs[key]
  if v == nil then
    v = redis.call('GET', key)
    ctrs[key] = v
  end
  return v
end

local function addCounter(key, delta, exp, now, grace)
  local cur = counterText(key)
  local v
  if cur then
    v = num(tonumber(cur) + delta)
    redis.call('SET', key, v, 'KEEPTTL')
    ctrs[key] = v
    return
  end
  local ttl = ttlOf(exp, now, grace)
  if not ttl then
    v = num(delta)
    redis.call('SET', key, v)
  elseif ttl >= 1 then
    v = num(delta)
    redis.call('SET', key, v, 'PX', int(ttl))
  else
    -- The window ended longer than the grace ago; its counter is gone and stays gone.
    return
  end
  ctrs[key] = v
end
`;

export const PIPELINE_PRELUDE = COMMON_LUA + FORMAT_LUA + AMOUNT_LUA + AUDIT_LUA + COUNTER_LUA;

/**
 * Test harness: the pipeline primitives behind a tiny dispatcher, so tests can compare them with
 * JavaScript (`jstr`, `jsnum`, `fixed2`, `iso`, `isMicros`) on many inputs in one EVAL.
 */
export const PRIMITIVES_TEST_LUA = `#!lua flags=no-writes
${PIPELINE_PRELUDE}
formats()
local fn = ({ jstr = jstr, jsnum = function(s) return jsnum(tonumber(s)) end,
  usd = usdText,
  fixed2 = function(s) return fixed2(tonumber(s) / 1000000) end,
  iso = function(s) return iso(tonumber(s)) end,
  isMicros = function(s) return isMicros(s) and '1' or '0' end })[nx()]
local out = {}
while ai < #ARGV do out[#out + 1] = fn(nx()) end
return out
`;
