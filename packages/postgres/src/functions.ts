import { STALE_ATTEMPT } from '@spendguard/core/store-kit';
import { jsonNumber, jsonString } from './json-text.ts';
import type { Tables } from './schema.ts';

/**
 * The step functions (schema version 4, made cheaper by versions 5 and 6): each pipeline step as
 * one PL/pgSQL function, so a step is one statement in autocommit (one round trip) and no lock
 * is held while the client is away. `begin_step`, `finish_step` and `decide_step` are a
 * line-by-line port of core's rules (state-tx.ts: beginTx, finishTx, decideApprovalTx);
 * `audit_row` is core's chainAudit, with Postgres's own sha256.
 *
 * Records stay JSON in text columns, read and edited as text: Postgres's JSON functions refuse a
 * document holding \u0000 anywhere. Strings reach these functions as JSON text written by
 * JavaScript (JSON.stringify, or its inside without the quotes), so every string the engine
 * writes, lone surrogates included, lands in a message or an audit row exactly as core writes it.
 *
 * Checkpoints are written in this layout, so a step reads and edits one with a few `split_part`
 * cuts instead of a regular expression per field (see CHECKPOINT_HEAD):
 *
 *   {"fencingToken":…,"leaseUntil":…,"keyId":…,"fingerprint":…,"generation":…,"id":…,"key":…,
 *    "windows":…,"startedAt":…,"dedupWindowMs":…,"vendor":…,"operation":…,"state":…,
 *    "outcomeUnknown":…,"reservedMicros":…,"completedAt":…,"actualMicros":…,"result":…,"error":…}
 *
 * A key is found by its text with the comma and quotes around it (`,"state":`): inside a JSON
 * string every quote is escaped, so that text is only ever the key itself, and only "error", the
 * last field, may nest keys. split_part searches bytes; position and substr count characters
 * from the start of the text in a UTF-8 database, several times slower on these records. A
 * checkpoint written in another order (by an earlier version) is read and edited field by field
 * (`json_field`, `json_set`), which is slower and only ever needed for calls in flight across an
 * upgrade.
 *
 * What measured cheaper (one caller, the functions' own time): fewer statements and writes on the
 * hot path (the counters locked and reserved on by one upsert; a new checkpoint claimed by an
 * advisory lock and inserted once, whole; the audit head moved by one UPDATE; a root key's row
 * read by primary key), no regular expression per call (audit filter columns instead of
 * expression indexes, see schema.ts; the replay's cost printed by integer arithmetic). Each
 * statement and each PL/pgSQL expression also costs its set-up once per call (every call is its
 * own transaction), so a branch's rare case stays out of the common one's expressions. Not
 * cheaper: joining statements with data-modifying CTEs, or moving the before-values arithmetic
 * from PL/pgSQL into SQL.
 *
 * Lock order, in every function: checkpoint (its row, or the claim on a missing one's id), key
 * rows (FOR SHARE), approval, counters (by id), then the audit head, always last, so it is held
 * only while the step writes its row and commits.
 */

/** How a checkpoint in this version's layout starts; any other start is an earlier version's. */
export const CHECKPOINT_HEAD = '{"fencingToken":';

/** A JSON value with at most one level of nesting (a flat object or array), as a regular expression. */
const STRING = String.raw`"(?:[^"\\]|\\.)*"`;
const JSON_VALUE =
  `${STRING}|-?[0-9][0-9.eE+-]*|true|false|null|` +
  String.raw`\{(?:[^{}"]|${STRING})*\}|\[(?:[^]["]|${STRING})*\]`;

/** The variables appendSql uses: declared by every function that appends an audit row. */
const AUDIT_VARS =
  'v_a_x text; v_a_time numeric; v_a_key text; v_a_root text; v_a_run text; v_a_decision text;';

/**
 * Into `into`, a string field of the row as its JSON text, NULL for null: what `jsonString` reads
 * from the stored row (`body`), without a regular expression when `value` (an expression: the
 * field's JSON text as the row holds it, or more text after it) is a string or null. A field
 * left out, or a value that is not a string, is read by jsonString.
 */
function stringColumn(body: string, field: string, value: string, into: string): string {
  return `v_a_x := ${value};
  ${into} := CASE WHEN v_a_x = 'null' THEN NULL
    WHEN v_a_x LIKE '"%"' AND strpos(v_a_x, '","') = 0 THEN v_a_x ELSE ${jsonString(field, body)} END;`;
}

/**
 * The text between ',"field":' and ',"next":' in `fields` (canonical row text: chainAudit's field
 * order): the field's value when the next field follows it. split_part searches bytes. The first
 * ',"field":' is the field itself, as every quote inside a string is escaped; if `next` is not
 * right after it, the text holds more than one value, which stringColumn sees.
 */
function between(fields: string, field: string, next: string): string {
  return `split_part(split_part(${fields}, ',"${field}":', 2), ',"${next}":', 1)`;
}

/**
 * appendAuditTx, for a function whose OUT parameters are a_seq, a_prev, a_hash: the row's filter
 * columns (schema version 5), before the head is locked; then the head, locked last, moved by one
 * UPDATE that chains the row to it (prev_hash keeps the hash before it: schema version 6), and the
 * row stored. `body` is the row's canonical JSON after its seq (audit_body); `pre`, text the row
 * begins with (its fields up to agentId at least, as audit_body's `pre`), is shorter to search;
 * `decision`, the decision's JSON text, when the caller has it. (Before version 6: a SELECT … FOR
 * UPDATE of the head, then the UPDATE; one statement and one WAL record fewer now.)
 */
function appendSql(
  t: Tables,
  body: string,
  pre = body,
  decision = between(body, 'decision', 'code'),
): string {
  return String.raw`v_a_x := ${between(pre, 'time', 'keyId')};
  v_a_time := CASE WHEN v_a_x <> '' AND ltrim(v_a_x, '-0123456789.eE+') = '' THEN v_a_x::numeric
    ELSE ${jsonNumber('time', body)} END;
  ${stringColumn(body, 'keyId', between(pre, 'keyId', 'rootKeyId'), 'v_a_key')}
  ${stringColumn(body, 'rootKeyId', between(pre, 'rootKeyId', 'runId'), 'v_a_root')}
  ${stringColumn(body, 'runId', between(pre, 'runId', 'agentId'), 'v_a_run')}
  ${stringColumn(body, 'decision', `coalesce(${decision}, 'null')`, 'v_a_decision')}
  UPDATE ${t.auditHead} h SET seq = h.seq + 1, prev_hash = h.hash,
      hash = encode(sha256(convert_to(h.hash || E'\n{"seq":' || (h.seq + 1) || ${body}, 'UTF8')), 'hex')
    WHERE h.id RETURNING h.seq, h.prev_hash, h.hash INTO a_seq, a_prev, a_hash;
  IF NOT FOUND THEN RAISE EXCEPTION 'spendguard: the audit head row is missing: run migrate()'; END IF;
  INSERT INTO ${t.audit} (seq, hash, data, key_id, root_key_id, run_id, decision, time_ms)
    VALUES (a_seq, a_hash, '{"seq":' || a_seq || left(${body}, -1) || ',"prevHash":"' || a_prev || '","hash":"' || a_hash || '"}',
      v_a_key, v_a_root, v_a_run, v_a_decision, v_a_time);`;
}

/** The schema's name, unquoted (a plain identifier: see quoteSchema), to name its advisory locks. */
function schemaName(t: Tables): string {
  return t.schema.slice(1, -1);
}

export function functionsSql(t: Tables): string {
  const s = t.schema;
  return String.raw`
-- The raw JSON text of a top-level field of a record (NULL when absent). Slow (a regular
-- expression): only for records in another layout than this version writes, and approvals.
CREATE OR REPLACE FUNCTION ${s}.json_field(d text, field text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT substring(d FROM '[{,]"' || field || '":(${JSON_VALUE})')
$$;

-- The record with a top-level field set to the JSON text value. Refuses a record without the field,
-- or whose value is nested deeper than this can match, rather than leave it unchanged.
CREATE OR REPLACE FUNCTION ${s}.json_set(d text, field text, value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  v_out text := regexp_replace(d, '([{,]"' || field || '":)(?:${JSON_VALUE})', '\1' || replace(value, '\', '\\'));
BEGIN
  IF v_out = d AND ${s}.json_field(d, field) IS DISTINCT FROM value THEN
    RAISE EXCEPTION 'spendguard: cannot set % in a stored record', field;
  END IF;
  RETURN v_out;
END $$;

-- The literal after a key k (',"field":'; its value a number, true, false or null: up to the next
-- comma or brace), or NULL when the key is absent. split_part searches bytes, where position and
-- substr count characters from the start of the record in a UTF-8 database.
CREATE OR REPLACE FUNCTION ${s}.scalar_after(d text, k text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT nullif(split_part(split_part(split_part(d, k, 2), ',', 1), '}', 1), '')
$$;

-- Number.prototype.toString (and JSON.stringify) of a double: Postgres prints the shortest digits
-- that read back as the same double (extra_float_digits > 0), laid out here by JavaScript's rules.
CREATE OR REPLACE FUNCTION ${s}.js_number(x float8) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET extra_float_digits = 1 AS $$
DECLARE
  v_m text[]; v_digits text; v_n int; v_k int; v_e int; v_sign text := '';
BEGIN
  IF x = 'NaN'::float8 OR x = 'Infinity'::float8 OR x = '-Infinity'::float8 THEN RETURN 'null'; END IF;
  IF x = 0 THEN RETURN '0'; END IF;
  IF x < 0 THEN v_sign := '-'; x := -x; END IF;
  v_m := regexp_match(x::text, '^([0-9]+)(?:\.([0-9]+))?(?:e([-+][0-9]+))?$');
  v_digits := v_m[1] || coalesce(v_m[2], '');
  -- The value is 0.<digits> * 10^v_n.
  v_n := length(v_m[1]) + coalesce(v_m[3]::int, 0);
  v_n := v_n - (length(v_digits) - length(ltrim(v_digits, '0')));
  v_digits := rtrim(ltrim(v_digits, '0'), '0');
  v_k := length(v_digits);
  IF v_k <= v_n AND v_n <= 21 THEN RETURN v_sign || v_digits || repeat('0', v_n - v_k); END IF;
  IF 0 < v_n AND v_n <= 21 THEN RETURN v_sign || left(v_digits, v_n) || '.' || substr(v_digits, v_n + 1); END IF;
  IF -6 < v_n AND v_n <= 0 THEN RETURN v_sign || '0.' || repeat('0', -v_n) || v_digits; END IF;
  v_e := v_n - 1;
  RETURN v_sign || left(v_digits, 1) || CASE WHEN v_k > 1 THEN '.' || substr(v_digits, 2) ELSE '' END
    || 'e' || CASE WHEN v_e >= 0 THEN '+' ELSE '-' END || abs(v_e);
END $$;

-- Number.prototype.toFixed(2): the exact value of the double (from its bits) rounded half up,
-- as JavaScript rounds it (not the decimal the double was parsed from).
CREATE OR REPLACE FUNCTION ${s}.js_fixed2(x float8) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  v_bits bigint; v_exp int; v_mant bigint; v_exact numeric;
  v_sign text := CASE WHEN x < 0 THEN '-' ELSE '' END;
BEGIN
  IF x = 'NaN'::float8 THEN RETURN 'NaN'; END IF;
  IF abs(x) >= 1e21 THEN RETURN ${s}.js_number(x); END IF;
  IF abs(x) < 0.001 THEN RETURN v_sign || '0.00'; END IF;
  v_bits := ('x' || encode(float8send(abs(x)), 'hex'))::bit(64)::bigint;
  v_exp := ((v_bits >> 52) & 2047)::int;
  v_mant := v_bits & 4503599627370495;
  IF v_exp > 0 THEN v_mant := v_mant | 4503599627370496; ELSE v_exp := 1; END IF;
  v_exp := v_exp - 1075;
  IF v_exp >= 0 THEN
    v_exact := v_mant::numeric * power(2::numeric, v_exp);
  ELSE
    -- m * 2^-k = m * 5^k / 10^k, exactly.
    v_exact := ((v_mant::numeric * power(5::numeric, -v_exp))::text || 'e' || v_exp)::numeric;
  END IF;
  RETURN v_sign || round(v_exact, 2)::text;
END $$;

-- Date.prototype.toISOString of a time in ms.
CREATE OR REPLACE FUNCTION ${s}.js_iso(ms float8) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  v_t bigint; v_days bigint; v_ts timestamp; v_year int;
BEGIN
  IF ms IS NULL OR ms <> ms OR abs(ms) > 8.64e15 THEN
    RAISE EXCEPTION 'spendguard: % is not a time (Invalid Date)', ms;
  END IF;
  v_t := trunc(ms)::bigint;
  v_days := floor(v_t / 86400000.0)::bigint;
  v_ts := (date '1970-01-01' + v_days::int)::timestamp + (v_t - v_days * 86400000) * interval '1 millisecond';
  v_year := extract(year FROM v_ts)::int;
  IF v_year < 0 THEN v_year := v_year + 1; END IF; -- 1 BC is year 0
  RETURN CASE WHEN v_year BETWEEN 0 AND 9999 THEN lpad(v_year::text, 4, '0')
              WHEN v_year > 9999 THEN '+' || lpad(v_year::text, 6, '0')
              ELSE '-' || lpad((-v_year)::text, 6, '0') END
    || to_char(v_ts, '-MM-DD"T"HH24:MI:SS.MS"Z"');
END $$;

-- A row's canonical JSON after its seq (closing brace included), as chainAudit serializes it:
-- pre and post are the fields before and after these five, each ',"field":<json>'; a NULL one
-- of the five is left out (undefined in the entry).
CREATE OR REPLACE FUNCTION ${s}.audit_body(pre text, decision text, code text, message text, est text, act text, post text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT pre || coalesce(',"decision":' || decision, '') || coalesce(',"code":' || code, '')
    || coalesce(',"message":' || message, '') || coalesce(',"estimatedCostUsd":' || est, '')
    || coalesce(',"actualCostUsd":' || act, '') || post || '}'
$$;

-- appendAuditTx: chain the row to the head, store it, move the head (see appendSql).
CREATE OR REPLACE FUNCTION ${s}.audit_row(body text, OUT a_seq bigint, OUT a_prev text, OUT a_hash text)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  ${AUDIT_VARS}
BEGIN
  ${appendSql(t, 'body')}
END $$;

-- beginTx. Strings for messages come as the inside of their JSON text (p_chain_which, p_cp_key,
-- p_apr_inner, p_w_msg, p_cap_suffix); p_fp and p_key_id as JSON text; p_r_msg whole messages.
-- r_kind: proceed (r_generation, r_fence, r_alerts: pairs of alert index and counter value),
-- resumed | replay | wait (r_checkpoint), denied (r_code, r_message as JSON), needs_approval.
CREATE OR REPLACE FUNCTION ${s}.begin_step(
  p_now bigint, p_chain text[], p_chain_which text[],
  p_cp_id text, p_cp_key text, p_fp text, p_dedup bigint, p_vendor_idempotent boolean,
  p_lease_until bigint, p_key_id text, p_cp_rest text, p_cost bigint, p_cost_usd text, p_windows text[],
  p_counter_ids text[], p_counter_expires bigint[],
  p_w_ids text[], p_w_caps bigint[], p_w_expires bigint[], p_w_msg text[], p_cap_suffix text,
  p_a_window int[], p_a_threshold float8[], p_a_mark text[],
  p_r_ids text[], p_r_limits float8[], p_r_msg text[],
  p_apr_id text, p_apr_inner text, p_apr_pending text,
  p_pre text, p_decision text, p_code text, p_message text, p_est text, p_act text, p_post text,
  OUT r_kind text, OUT r_code text, OUT r_message text, OUT r_checkpoint text,
  OUT r_generation bigint, OUT r_fence bigint, OUT r_alerts float8[],
  OUT a_seq bigint, OUT a_prev text, OUT a_hash text)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_state text; v_fence bigint; v_lease bigint; v_data text;
  v_fresh boolean; v_row boolean;
  v_alive text[];
  v_fp text; v_completed float8; v_live boolean; v_gen bigint; v_next bigint; v_actual text;
  v_apr text; v_apr_state text; v_stale text; v_reason text; v_used_at text; v_expires float8; v_apr_cost float8;
  v_admitted boolean := false; v_ok boolean;
  v_nc int := coalesce(array_length(p_counter_ids, 1), 0);
  v_ids text[]; v_vals bigint[]; v_deltas bigint[]; v_before bigint[]; v_more_ids text[]; v_more_vals bigint[];
  v_marks text[]; v_fired text[] := '{}'; v_fired_exp bigint[] := '{}'; v_alerts float8[] := '{}';
  v_i int; v_j int := 1; v_n int; v_used bigint; v_was bigint; v_now_used bigint; v_line float8;
  v_msg text := p_message; v_est text := p_est; v_act text := p_act; v_decision text; v_code text; v_body text;
  ${AUDIT_VARS}
  v_again constant text := '; a new approval is needed';
BEGIN
  <<decide>>
  BEGIN
    -- The checkpoint row first, locked. A missing one is claimed by a transaction-level advisory
    -- lock on its id and inserted whole when the call proceeds (schema version 6: before, a
    -- lock-only row was inserted here and filled in or deleted later, two more writes). A
    -- duplicate begin waits here (on the row, or on the claim), then sees what this one wrote.
    PERFORM pg_advisory_xact_lock(hashtextextended('spendguard:checkpoint:${schemaName(t)}:' || p_cp_id, 0));
    SELECT c.state, c.fencing_token, c.lease_until, c.data INTO v_state, v_fence, v_lease, v_data
      FROM ${t.checkpoints} c WHERE c.id = p_cp_id FOR UPDATE;
    v_row := FOUND;
    -- A lock-only row an earlier version committed is no checkpoint either.
    v_fresh := v_data IS NULL;

    -- The key chain FOR SHARE: a revocation waits for this step, and later steps see it. A new
    -- checkpoint, perhaps pruned before, starts above the numbers the pruned one used: the floor
    -- is read in the same statement, after the checkpoint's lock.
    IF cardinality(p_chain) = 1 THEN
      -- A root key (most calls): its row by primary key, without the array's sort and aggregate.
      IF v_fresh THEN
        SELECT (SELECT k.revoked_at IS NULL FROM ${t.keys} k WHERE k.id = p_chain[1] FOR SHARE),
               (SELECT f.value FROM ${t.checkpointFloor} f WHERE f.id)
          INTO v_ok, v_gen;
        v_next := v_gen;
      ELSE
        SELECT k.revoked_at IS NULL INTO v_ok FROM ${t.keys} k WHERE k.id = p_chain[1] FOR SHARE;
      END IF;
      v_alive := CASE WHEN v_ok THEN p_chain ELSE '{}' END;
    ELSIF v_fresh THEN
      SELECT (SELECT coalesce(array_agg(k.id) FILTER (WHERE k.revoked_at IS NULL), '{}')
                FROM (SELECT id, revoked_at FROM ${t.keys} WHERE id = ANY(p_chain) ORDER BY id FOR SHARE) k),
             (SELECT f.value FROM ${t.checkpointFloor} f WHERE f.id)
        INTO v_alive, v_gen;
      v_next := v_gen;
    ELSE
      SELECT coalesce(array_agg(k.id) FILTER (WHERE k.revoked_at IS NULL), '{}') INTO v_alive
        FROM (SELECT id, revoked_at FROM ${t.keys} WHERE id = ANY(p_chain) ORDER BY id FOR SHARE) k;
    END IF;
    FOR v_i IN 1 .. coalesce(array_length(p_chain, 1), 0) LOOP
      IF NOT (p_chain[v_i] = ANY(v_alive)) THEN
        r_kind := 'denied'; r_code := 'key_revoked';
        v_msg := '"the vault key is revoked (' || p_chain_which[v_i] || ')"';
        EXIT decide;
      END IF;
    END LOOP;

    IF NOT v_fresh THEN
      IF starts_with(v_data, '${CHECKPOINT_HEAD}') THEN
        v_fp := split_part(split_part(v_data, ',"fingerprint":', 2), ',"generation":', 1);
        v_gen := ${s}.scalar_after(v_data, ',"generation":')::bigint;
        v_completed := nullif(${s}.scalar_after(v_data, ',"completedAt":'), 'null')::float8;
        v_actual := ${s}.scalar_after(v_data, ',"actualMicros":');
      ELSE
        v_fp := ${s}.json_field(v_data, 'fingerprint');
        v_gen := ${s}.json_field(v_data, 'generation')::bigint;
        v_completed := nullif(${s}.json_field(v_data, 'completedAt'), 'null')::float8;
        v_actual := ${s}.json_field(v_data, 'actualMicros');
      END IF;
      v_live := v_state IS DISTINCT FROM 'completed' OR coalesce(v_completed, 0) + p_dedup > p_now;
      IF v_live AND v_fp IS DISTINCT FROM p_fp THEN
        r_kind := 'denied'; r_code := 'idempotency_mismatch';
        v_msg := '"idempotency key ' || p_cp_key || ' was already used for a call with different parameters"';
        EXIT decide;
      END IF;
      v_next := v_fence + 1;
      IF v_state = 'completed' AND v_live THEN
        r_kind := 'replay'; r_checkpoint := v_data;
        -- microsToUsd, as JSON: whole micro-dollars of at most 15 digits print as their decimal
        -- (15 significant digits always read back as the same double, and nothing shorter does).
        v_act := CASE WHEN v_actual IS NULL OR v_actual = 'null' THEN 'null'
                      WHEN length(v_actual) BETWEEN 1 AND 15 AND ltrim(v_actual, '0123456789') = '' THEN
                        (v_actual::bigint / 1000000)::text
                          || coalesce('.' || nullif(rtrim(lpad((v_actual::bigint % 1000000)::text, 6, '0'), '0'), ''), '')
                      ELSE ${s}.js_number(v_actual::float8 / 1000000) END;
        v_est := '0';
        EXIT decide;
      END IF;
      IF v_state = 'in_progress' THEN
        IF v_lease > p_now THEN r_kind := 'wait'; r_checkpoint := v_data; EXIT decide; END IF;
        -- The lease ended without an answer (timeout or crash): the vendor may have acted.
        IF NOT p_vendor_idempotent THEN
          r_kind := 'denied'; r_code := 'outcome_unknown';
          v_msg := '"an earlier attempt may have reached the vendor and it has no idempotency key; reconcile before retrying"';
          EXIT decide;
        END IF;
        -- Re-send under the same vendor idempotency key; the reservation is still held.
        IF starts_with(v_data, '${CHECKPOINT_HEAD}') THEN
          v_data := '${CHECKPOINT_HEAD}' || v_next || ',"leaseUntil":' || p_lease_until || ',"keyId":' || p_key_id
            || substr(v_data, position(',"fingerprint":' IN v_data));
        ELSE
          v_data := ${s}.json_set(${s}.json_set(${s}.json_set(v_data, 'fencingToken', v_next::text),
            'leaseUntil', p_lease_until::text), 'keyId', p_key_id);
        END IF;
        UPDATE ${t.checkpoints} c SET fencing_token = v_next, lease_until = p_lease_until, data = v_data
          WHERE c.id = p_cp_id;
        r_kind := 'resumed'; r_checkpoint := v_data;
        EXIT decide;
      END IF;
      -- failed, or completed beyond the dedup window: a new attempt under a new vendor key.
      v_gen := v_gen + 1;
    END IF;

    -- An approved record this call may use; marked used only once the call really proceeds.
    IF p_apr_id IS NOT NULL THEN
      LOOP
        SELECT a.data INTO v_apr FROM ${t.approvals} a WHERE a.id = p_apr_id FOR UPDATE;
        EXIT WHEN FOUND;
        INSERT INTO ${t.approvals} (id, data) VALUES (p_apr_id, p_apr_pending) ON CONFLICT (id) DO NOTHING;
        IF FOUND THEN
          r_kind := 'needs_approval';
          v_msg := '"approval ' || p_apr_inner || ' is needed before this call"';
          EXIT decide;
        END IF;
      END LOOP;
      v_apr_state := ${s}.json_field(v_apr, 'state');
      IF v_apr_state = '"denied"' THEN
        v_reason := ${s}.json_field(v_apr, 'reason');
        r_kind := 'denied'; r_code := 'approval_denied';
        v_msg := '"approval ' || p_apr_inner || ' was denied'
          || CASE WHEN left(v_reason, 1) = '"' AND length(v_reason) > 2 THEN ': ' || substr(v_reason, 2, length(v_reason) - 2) ELSE '' END
          || '"';
        EXIT decide;
      END IF;
      -- staleApproval: why an approved record cannot admit this call, the fingerprint first.
      IF v_apr_state = '"approved"' THEN
        IF ${s}.json_field(v_apr, 'fingerprint') IS DISTINCT FROM p_fp THEN
          v_stale := 'approval ' || p_apr_inner || ' was given for a different call' || v_again;
        ELSE
          v_used_at := ${s}.json_field(v_apr, 'usedAt');
          IF v_used_at IS DISTINCT FROM 'null' THEN
            v_stale := 'approval ' || p_apr_inner || ' was already used at ' || ${s}.js_iso(v_used_at::float8) || v_again;
          ELSE
            v_expires := coalesce(nullif(${s}.json_field(v_apr, 'decidedAt'), 'null')::float8, 0)
              + nullif(${s}.json_field(v_apr, 'ttlMs'), 'null')::float8;
            v_apr_cost := nullif(${s}.json_field(v_apr, 'costMicros'), 'null')::float8;
            IF v_expires <= p_now THEN
              v_stale := 'approval ' || p_apr_inner || ' expired at ' || ${s}.js_iso(v_expires) || v_again;
            ELSIF p_cost > v_apr_cost THEN
              v_stale := 'approval ' || p_apr_inner || ' covers up to $' || ${s}.js_fixed2(v_apr_cost / 1000000)
                || '; this call is $' || p_cost_usd || v_again;
            END IF;
          END IF;
        END IF;
      END IF;
      IF v_stale IS NOT NULL THEN
        UPDATE ${t.approvals} a SET data = p_apr_pending WHERE a.id = p_apr_id;
      END IF;
      IF v_apr_state = '"pending"' OR v_stale IS NOT NULL THEN
        r_kind := 'needs_approval';
        v_msg := '"' || coalesce(v_stale, 'approval ' || p_apr_inner || ' is needed before this call') || '"';
        EXIT decide;
      END IF;
      v_admitted := true;
    END IF;

    -- The attempt's checkpoint. A new one is inserted whole here, before the counters are locked,
    -- so that they (shared by every call of the key) are held a statement shorter, to the commit.
    v_data := '${CHECKPOINT_HEAD}' || v_next || ',"leaseUntil":' || p_lease_until || ',"keyId":' || p_key_id
      || ',"fingerprint":' || p_fp || ',"generation":' || v_gen || p_cp_rest;
    IF NOT v_row THEN
      INSERT INTO ${t.checkpoints} (id, state, fencing_token, reserved_micros, windows, outcome_unknown,
          lease_until, started_at, data)
        VALUES (p_cp_id, 'in_progress', v_next, p_cost, p_windows, false, p_lease_until, p_now, v_data)
        ON CONFLICT (id) DO NOTHING;
      -- Only a begin of an earlier version, in flight across the upgrade, inserts without the
      -- claim: this statement is rolled back and run again (the store retries it).
      IF NOT FOUND THEN
        RAISE EXCEPTION 'spendguard: checkpoint % was created meanwhile', p_cp_id USING ERRCODE = 'serialization_failure';
      END IF;
    END IF;

    -- Every counter of the plan's windows and rates, locked in id order (inserted if missing) and
    -- reserved on at once: the reservation (each window's cost, one call per rate) is added in the
    -- same statement, and taken back below if a check refuses the call. The checks read the
    -- values from before it. A counter the reservation leaves unchanged is locked, not rewritten.
    IF v_nc > 0 THEN
      v_deltas := array_fill(0::bigint, ARRAY[v_nc]);
      IF p_cost <> 0 THEN
        FOR v_i IN 1 .. coalesce(array_length(p_w_ids, 1), 0) LOOP
          v_n := array_position(p_counter_ids, p_w_ids[v_i]);
          v_deltas[v_n] := v_deltas[v_n] + p_cost;
        END LOOP;
      END IF;
      FOR v_i IN 1 .. coalesce(array_length(p_r_ids, 1), 0) LOOP
        v_n := array_position(p_counter_ids, p_r_ids[v_i]);
        v_deltas[v_n] := v_deltas[v_n] + 1;
      END LOOP;
      WITH u AS (
        INSERT INTO ${t.counters} AS c (id, value, expires_at)
          SELECT d.id, d.delta, d.e FROM unnest(p_counter_ids, v_deltas, p_counter_expires) AS d(id, delta, e)
          ORDER BY d.id COLLATE "C"
        ON CONFLICT (id) DO UPDATE SET value = c.value + excluded.value WHERE excluded.value <> 0
        RETURNING c.id, c.value)
      SELECT array_agg(u.id), array_agg(u.value) INTO v_ids, v_vals FROM u;
      v_ids := coalesce(v_ids, '{}'); v_vals := coalesce(v_vals, '{}');
      -- Rows changed or inserted come back with their new value; the others were only locked.
      IF array_length(v_ids, 1) IS DISTINCT FROM v_nc THEN
        SELECT array_agg(c.id), array_agg(c.value) INTO v_more_ids, v_more_vals
          FROM ${t.counters} c WHERE c.id = ANY(p_counter_ids) AND c.id <> ALL(v_ids);
        v_ids := v_ids || coalesce(v_more_ids, '{}'); v_vals := v_vals || coalesce(v_more_vals, '{}');
      END IF;
      -- Each counter's value before this reservation, in p_counter_ids order.
      v_before := array_fill(0::bigint, ARRAY[v_nc]);
      FOR v_i IN 1 .. v_nc LOOP
        v_n := array_position(v_ids, p_counter_ids[v_i]);
        v_before[v_i] := CASE WHEN v_n IS NULL THEN 0 ELSE v_vals[v_n] - v_deltas[v_i] END;
      END LOOP;

      FOR v_i IN 1 .. coalesce(array_length(p_r_ids, 1), 0) LOOP
        IF v_before[array_position(p_counter_ids, p_r_ids[v_i])] >= p_r_limits[v_i] THEN
          r_kind := 'denied'; r_code := 'rate_limited'; v_msg := p_r_msg[v_i];
          EXIT decide;
        END IF;
      END LOOP;

      FOR v_i IN 1 .. coalesce(array_length(p_w_ids, 1), 0) LOOP
        CONTINUE WHEN p_w_caps[v_i] IS NULL;
        v_used := v_before[array_position(p_counter_ids, p_w_ids[v_i])];
        IF v_used::float8 + p_cost > p_w_caps[v_i] THEN
          r_kind := 'denied'; r_code := 'cap_exceeded';
          v_msg := '"' || p_w_msg[v_i] || ${s}.js_fixed2(v_used::float8 / 1000000) || p_cap_suffix || '"';
          EXIT decide;
        END IF;
      END LOOP;

      -- Fire each alert threshold the reservation crosses, once per window: windows sharing a
      -- counter see the reservations of the ones before them.
      IF p_cost <> 0 AND coalesce(array_length(p_a_mark, 1), 0) > 0 THEN
        FOR v_i IN 1 .. coalesce(array_length(p_w_ids, 1), 0) LOOP
          v_n := array_position(p_counter_ids, p_w_ids[v_i]);
          v_was := v_before[v_n];
          v_now_used := v_was + p_cost;
          v_before[v_n] := v_now_used;
          CONTINUE WHEN p_w_caps[v_i] IS NULL;
          WHILE v_j <= array_length(p_a_window, 1) AND p_a_window[v_j] = v_i LOOP
            v_line := (p_w_caps[v_i]::float8 * p_a_threshold[v_j]) / 100;
            IF v_was < v_line AND v_now_used >= v_line AND NOT (p_a_mark[v_j] = ANY(v_fired)) THEN
              IF v_marks IS NULL THEN
                SELECT coalesce(array_agg(m.id), '{}') INTO v_marks FROM ${t.marks} m WHERE m.id = ANY(p_a_mark);
              END IF;
              IF NOT (p_a_mark[v_j] = ANY(v_marks)) THEN
                v_fired := v_fired || p_a_mark[v_j];
                v_fired_exp := v_fired_exp || p_w_expires[v_i];
                v_alerts := v_alerts || ARRAY[(v_j - 1)::float8, v_now_used::float8];
              END IF;
            END IF;
            v_j := v_j + 1;
          END LOOP;
        END LOOP;
      END IF;
    END IF;

    IF v_admitted THEN
      UPDATE ${t.approvals} a SET data = CASE WHEN right(v_apr, 15) = ',"usedAt":null}'
          THEN left(v_apr, -15) || ',"usedAt":' || p_now || '}'
          ELSE ${s}.json_set(v_apr, 'usedAt', p_now::text) END
        WHERE a.id = p_apr_id;
    END IF;
    IF coalesce(array_length(v_fired, 1), 0) > 0 THEN
      INSERT INTO ${t.marks} (id, expires_at) SELECT * FROM unnest(v_fired, v_fired_exp) ON CONFLICT (id) DO NOTHING;
    END IF;
    IF v_row THEN
      UPDATE ${t.checkpoints} c SET state = 'in_progress', fencing_token = v_next, reserved_micros = p_cost,
          windows = p_windows, outcome_unknown = false, lease_until = p_lease_until, started_at = p_now,
          prunable_at = NULL, data = v_data
        WHERE c.id = p_cp_id;
    END IF;
    r_kind := 'proceed'; r_generation := v_gen; r_fence := v_next; r_alerts := v_alerts;
    RETURN;
  END decide;

  -- Decided without proceeding. A refused reservation is taken back with the checkpoint inserted
  -- for it, and a lock-only row (an earlier version's) goes; then the audit row, the head last.
  IF r_code IN ('rate_limited', 'cap_exceeded') THEN
    UPDATE ${t.counters} c SET value = c.value - d.delta
      FROM unnest(p_counter_ids, v_deltas) AS d(id, delta) WHERE c.id = d.id AND d.delta <> 0;
    IF NOT v_row THEN DELETE FROM ${t.checkpoints} c WHERE c.id = p_cp_id; END IF;
  END IF;
  IF v_fresh AND v_row THEN DELETE FROM ${t.checkpoints} c WHERE c.id = p_cp_id AND c.data IS NULL; END IF;
  IF r_kind IN ('wait', 'resumed') THEN RETURN; END IF;
  IF r_kind = 'denied' THEN
    v_decision := '"denied"'; v_code := '"' || r_code || '"'; r_message := v_msg;
  ELSIF r_kind = 'replay' THEN
    v_decision := '"replayed"'; v_code := '"replayed"';
  ELSE
    v_decision := '"needs_approval"'; v_code := '"approval_required"';
  END IF;
  v_body := ${s}.audit_body(p_pre, v_decision, v_code, v_msg, v_est, v_act, p_post);
  ${appendSql(t, 'v_body', 'p_pre', 'v_decision')}
END $$;

-- finishTx (the settlement's amount is checked by the caller). p_result and p_error are JSON text.
CREATE OR REPLACE FUNCTION ${s}.finish_step(
  p_cp_id text, p_fence bigint, p_outcome text, p_actual bigint, p_now bigint, p_result text, p_error text,
  p_pre text, p_decision text, p_code text, p_message text, p_est text, p_act text, p_post text,
  OUT r_ok boolean, OUT r_reason text, OUT a_seq bigint, OUT a_prev text, OUT a_hash text)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_state text; v_fence bigint; v_reserved bigint; v_windows text[]; v_data text;
  v_actual bigint; v_delta bigint := 0; v_msg text := p_message; v_dedup text; v_body text;
  ${AUDIT_VARS}
BEGIN
  SELECT c.state, c.fencing_token, c.reserved_micros, c.windows, c.data
    INTO v_state, v_fence, v_reserved, v_windows, v_data
    FROM ${t.checkpoints} c WHERE c.id = p_cp_id FOR UPDATE;
  IF v_data IS NULL OR v_state IS DISTINCT FROM 'in_progress' OR v_fence IS DISTINCT FROM p_fence THEN
    -- A newer attempt owns the checkpoint (our lease ran out); its settlement wins. The vendor
    -- saw the same idempotency key, so this answer is the same call: record it, change nothing.
    r_ok := false;
    r_reason := CASE WHEN v_data IS NULL THEN 'missing' ELSE 'fenced' END;
    v_msg := '${JSON.stringify(STALE_ATTEMPT).replaceAll("'", "''")}';
  ELSE
    r_ok := true;
    IF p_outcome = 'completed' THEN
      v_actual := coalesce(p_actual, v_reserved);
      v_delta := v_actual - v_reserved;
    ELSIF p_outcome = 'failed' THEN
      v_delta := -v_reserved;
    END IF;
    IF v_delta <> 0 THEN
      INSERT INTO ${t.counters} AS c (id, value, expires_at)
        SELECT w.id, v_delta * count(*), NULL FROM unnest(v_windows) AS w(id) GROUP BY w.id ORDER BY w.id COLLATE "C"
        ON CONFLICT (id) DO UPDATE SET value = c.value + excluded.value;
    END IF;
    IF starts_with(v_data, '${CHECKPOINT_HEAD}') THEN
      -- Cut with split_part (bytes): the first ',"field":' is the field itself, and "error", the
      -- only value that may nest keys, comes last.
      v_dedup := ${s}.scalar_after(v_data, ',"dedupWindowMs":');
      IF p_outcome = 'completed' THEN
        v_data := split_part(v_data, ',"state":', 1)
          || ',"state":"completed","outcomeUnknown":false,"reservedMicros":' || v_actual
          || ',"completedAt":' || p_now || ',"actualMicros":' || v_actual || ',"result":' || p_result || ',"error":null}';
      ELSIF p_outcome = 'failed' THEN
        v_data := split_part(v_data, ',"state":', 1)
          || ',"state":"failed","outcomeUnknown":false,"reservedMicros":0,"completedAt":' || p_now
          || ',"actualMicros":' || split_part(split_part(v_data, ',"actualMicros":', 2), ',"error":', 1)
          || ',"error":' || p_error || '}';
      ELSE
        -- Unknown: keep the reservation and the in-progress checkpoint until its lease ends.
        v_data := split_part(v_data, ',"outcomeUnknown":', 1) || ',"outcomeUnknown":true'
          || ',"reservedMicros":' || split_part(split_part(v_data, ',"reservedMicros":', 2), ',"error":', 1)
          || ',"error":' || p_error || '}';
      END IF;
    ELSE
      v_dedup := ${s}.json_field(v_data, 'dedupWindowMs');
      IF p_outcome = 'completed' THEN
        v_data := ${s}.json_set(${s}.json_set(${s}.json_set(${s}.json_set(${s}.json_set(${s}.json_set(${s}.json_set(
          v_data, 'state', '"completed"'), 'outcomeUnknown', 'false'), 'completedAt', p_now::text),
          'result', p_result), 'actualMicros', v_actual::text), 'reservedMicros', v_actual::text), 'error', 'null');
      ELSIF p_outcome = 'failed' THEN
        v_data := ${s}.json_set(${s}.json_set(${s}.json_set(${s}.json_set(${s}.json_set(
          v_data, 'state', '"failed"'), 'outcomeUnknown', 'false'), 'completedAt', p_now::text),
          'reservedMicros', '0'), 'error', p_error);
      ELSE
        v_data := ${s}.json_set(${s}.json_set(v_data, 'outcomeUnknown', 'true'), 'error', p_error);
      END IF;
    END IF;
    UPDATE ${t.checkpoints} c SET
        state = CASE WHEN p_outcome IN ('completed', 'failed') THEN p_outcome ELSE c.state END,
        outcome_unknown = p_outcome NOT IN ('completed', 'failed'),
        reserved_micros = CASE p_outcome WHEN 'completed' THEN v_actual WHEN 'failed' THEN 0 ELSE c.reserved_micros END,
        -- checkpointPrunableAt: once settled, at the end of its dedup window (none recorded: never).
        -- A JSON number starts with a digit or a minus and a digit (no regular expression).
        prunable_at = CASE WHEN p_outcome IN ('completed', 'failed')
            AND (ascii(v_dedup) BETWEEN 48 AND 57 OR (ascii(v_dedup) = 45 AND ascii(substr(v_dedup, 2)) BETWEEN 48 AND 57))
          THEN (p_now + v_dedup::float8)::bigint END,
        data = v_data
      WHERE c.id = p_cp_id;
  END IF;
  v_body := ${s}.audit_body(p_pre, p_decision, p_code, v_msg, p_est, p_act, p_post);
  ${appendSql(t, 'v_body', 'p_pre', 'p_decision')}
END $$;

-- decideApprovalTx, second half: the caller read the approval (p_expected, its stored text) and
-- built the decided record (p_data) and its audit row from it; they land only if the record is
-- still that text. Otherwise r_status says what is there now: missing, or changed (r_data).
CREATE OR REPLACE FUNCTION ${s}.decide_step(
  p_id text, p_expected text, p_data text,
  p_pre text, p_decision text, p_code text, p_message text, p_est text, p_act text, p_post text,
  OUT r_status text, OUT r_data text, OUT a_seq bigint, OUT a_prev text, OUT a_hash text)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_body text;
  ${AUDIT_VARS}
BEGIN
  SELECT a.data INTO r_data FROM ${t.approvals} a WHERE a.id = p_id FOR UPDATE;
  IF NOT FOUND THEN r_status := 'missing'; RETURN; END IF;
  IF r_data IS DISTINCT FROM p_expected THEN r_status := 'changed'; RETURN; END IF;
  UPDATE ${t.approvals} a SET data = p_data WHERE a.id = p_id;
  r_status := 'decided'; r_data := NULL;
  v_body := ${s}.audit_body(p_pre, p_decision, p_code, p_message, p_est, p_act, p_post);
  ${appendSql(t, 'v_body', 'p_pre', 'p_decision')}
END $$;
`;
}
