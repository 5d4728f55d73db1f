import { GENESIS_HASH } from '@spendguard/core/store-kit';
import { functionsSql } from './functions.ts';
import { jsonNumber, jsonString } from './json-text.ts';

export { jsonNumber, jsonString };

/** The newest schema version `migrate()` brings a schema to. */
export const SCHEMA_VERSION = 6;

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Check a schema name and quote it as an SQL identifier. */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new TypeError(
      `the Postgres schema name ${JSON.stringify(schema)} must be a plain identifier (letters, digits, _; at most 63)`,
    );
  }
  return `"${schema}"`;
}

/** Fully qualified table names of one schema, and the quoted schema (for its functions). */
export interface Tables {
  schema: string;
  migrations: string;
  keys: string;
  tokens: string;
  checkpoints: string;
  counters: string;
  approvals: string;
  marks: string;
  audit: string;
  auditHead: string;
  checkpointFloor: string;
}

export function tables(schema: string): Tables {
  const s = quoteSchema(schema);
  return {
    schema: s,
    migrations: `${s}.migrations`,
    keys: `${s}.keys`,
    tokens: `${s}.tokens`,
    checkpoints: `${s}.checkpoints`,
    counters: `${s}.counters`,
    approvals: `${s}.approvals`,
    marks: `${s}.marks`,
    audit: `${s}.audit`,
    auditHead: `${s}.audit_head`,
    checkpointFloor: `${s}.checkpoint_floor`,
  };
}

/**
 * The audit row's filter columns (schema version 5), each with the expression over the row's JSON
 * of the version 3 index it replaces: strings as their JSON text (see jsonString), the time as
 * numeric. The step functions fill them without the expressions (functions.ts).
 */
export function auditColumns(data: string): [column: string, expression: string][] {
  return [
    ['key_id', jsonString('keyId', data)],
    ['root_key_id', jsonString('rootKeyId', data)],
    ['run_id', jsonString('runId', data)],
    ['decision', jsonString('decision', data)],
    ['time_ms', jsonNumber('time', data)],
  ];
}

/**
 * Each migration, in order; version n is `MIGRATIONS[n - 1]`. Ids use the "C" collation: lock
 * order (ORDER BY id) is then the same bytewise order in every database, and comparisons are cheap.
 * Records are JSON in TEXT columns (as in SQLite): the audit hash is computed over the exact
 * values, and TEXT keeps every string the engine writes (JSONB refuses `\u0000`).
 */
export const MIGRATIONS: readonly ((t: Tables) => string)[] = [
  (t) => `
CREATE TABLE ${t.keys} (
  id text COLLATE "C" PRIMARY KEY,
  ord bigint GENERATED ALWAYS AS IDENTITY,
  root_id text COLLATE "C" NOT NULL,
  data text NOT NULL,
  revoked_at bigint
);
CREATE INDEX ON ${t.keys} (ord);
CREATE TABLE ${t.tokens} (
  id text COLLATE "C" PRIMARY KEY,
  key_id text COLLATE "C" NOT NULL,
  hash text NOT NULL,
  created_at bigint NOT NULL
);
-- data IS NULL: a row begin inserted only to have something to lock; never a checkpoint.
-- state, fencing_token, reserved_micros and windows repeat fields of data, so that finish can
-- tell in SQL whether it will change the counters, and lock them only then.
CREATE TABLE ${t.checkpoints} (
  id text COLLATE "C" PRIMARY KEY,
  state text,
  fencing_token bigint,
  reserved_micros bigint,
  windows text[] COLLATE "C",
  data text
) WITH (fillfactor = 80);
CREATE TABLE ${t.counters} (
  id text COLLATE "C" PRIMARY KEY,
  value bigint NOT NULL,
  expires_at bigint
) WITH (fillfactor = 70);
CREATE INDEX ON ${t.counters} (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE ${t.approvals} (
  id text COLLATE "C" PRIMARY KEY,
  data text NOT NULL
) WITH (fillfactor = 80);
CREATE TABLE ${t.marks} (
  id text COLLATE "C" PRIMARY KEY,
  expires_at bigint
);
CREATE INDEX ON ${t.marks} (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE ${t.audit} (
  seq bigint PRIMARY KEY,
  hash text NOT NULL,
  data text NOT NULL
);
-- The chain's head: one row, locked FOR UPDATE by every step that appends, so appends are serial.
CREATE TABLE ${t.auditHead} (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  seq bigint NOT NULL,
  hash text NOT NULL
) WITH (fillfactor = 50);
INSERT INTO ${t.auditHead} (id, seq, hash) VALUES (true, 0, '${GENESIS_HASH}');
`,
  // 2: the head's anchor (an HMAC of a head, made with a key the store never holds), and the
  // checkpoint fields listPending filters and sorts on, repeated from data like state is.
  (t) => `
ALTER TABLE ${t.auditHead} ADD COLUMN anchor_seq bigint, ADD COLUMN anchor_hash text, ADD COLUMN anchor_hmac text;
ALTER TABLE ${t.checkpoints} ADD COLUMN outcome_unknown boolean, ADD COLUMN lease_until bigint,
  ADD COLUMN started_at bigint;
-- Only in-progress rows are listed; the others get the columns on their next write. Read with
-- patterns, not ::json: a checkpoint's strings may hold \\u0000, which Postgres's JSON functions
-- refuse. "leaseUntil": can only be the key itself, as inside a JSON string every quote is escaped.
UPDATE ${t.checkpoints} SET outcome_unknown = data LIKE '%"outcomeUnknown":true%',
  lease_until = substring(data from '"leaseUntil":(-?[0-9.eE+-]+)')::numeric,
  started_at = substring(data from '"startedAt":(-?[0-9.eE+-]+)')::numeric
  WHERE state = 'in_progress' AND data IS NOT NULL;
CREATE INDEX ON ${t.checkpoints} (started_at, id) WHERE state = 'in_progress';
`,
  // 3: what the admin reads filter on, and what prune deletes. Indexes on expressions over data
  // (see jsonString), so rows written before are indexed as they are.
  (t) => `
-- readAudit: each filter's rows in seq order; code and vendor filter the rows found.
CREATE INDEX ON ${t.audit} ((${jsonString('keyId')}), seq);
CREATE INDEX ON ${t.audit} ((${jsonString('rootKeyId')}), seq);
CREATE INDEX ON ${t.audit} ((${jsonString('runId')}), seq);
CREATE INDEX ON ${t.audit} ((${jsonString('decision')}), seq);
CREATE INDEX ON ${t.audit} ((${jsonNumber('time')}));
-- listKeys: each filter's keys in id order; state filters the keys found.
CREATE INDEX ON ${t.keys} (root_id, id);
CREATE INDEX ON ${t.keys} ((${jsonString('parentId')}), id);
CREATE INDEX ON ${t.keys} ((${jsonString('runId')}), id);
-- prune: when a settled checkpoint's dedup window ends (written with the checkpoint; NULL while
-- in progress, and for checkpoints written before, which carry no window and are kept).
ALTER TABLE ${t.checkpoints} ADD COLUMN prunable_at bigint;
CREATE INDEX ON ${t.checkpoints} (prunable_at) WHERE prunable_at IS NOT NULL;
CREATE INDEX ON ${t.approvals} ((${jsonNumber('decidedAt')})) WHERE ${jsonString('state')} <> '"pending"';
-- What a checkpoint created from nothing starts its generation and fence at: above every one
-- a pruned checkpoint used, so a re-created checkpoint never repeats a vendor idempotency key.
CREATE TABLE ${t.checkpointFloor} (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  value bigint NOT NULL
);
INSERT INTO ${t.checkpointFloor} (id, value) VALUES (true, 1);
`,
  // 4: each pipeline step as one function (begin_step, finish_step, decide_step, audit_row), so a
  // step is one statement in autocommit. Tables and rows are unchanged: see functions.ts. (The
  // functions of the newest version: a later migration that changes them creates them again.)
  functionsSql,
  // 5: cheaper step functions (same names, arguments and answers, so processes of version 4 keep
  // working against it). The audit filters become plain columns, filled by the append from the
  // row it builds (no regular expression per index on every insert), for the rows before from
  // the same expressions as the indexes they replace; a row inserted without them (a process of
  // version 3, a restore) gets them from a trigger, as does a row whose data is edited.
  (t) => `
ALTER TABLE ${t.audit} ADD COLUMN key_id text COLLATE "C", ADD COLUMN root_key_id text COLLATE "C",
  ADD COLUMN run_id text COLLATE "C", ADD COLUMN decision text COLLATE "C", ADD COLUMN time_ms numeric;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT i.indexrelid::regclass AS name FROM pg_index i
      WHERE i.indrelid = '${t.audit}'::regclass AND i.indexprs IS NOT NULL
        AND pg_get_indexdef(i.indexrelid) LIKE '%"substring"(data, %' LOOP
    EXECUTE 'DROP INDEX ' || r.name;
  END LOOP;
END $$;
-- Filled for the rows before by one rewrite of the table (no dead copy of every row, as an UPDATE
-- would leave), with the expressions of the indexes just dropped.
ALTER TABLE ${t.audit}
  ${auditColumns('data')
    .map(([c, e]) => `ALTER COLUMN ${c} TYPE ${c === 'time_ms' ? 'numeric' : 'text COLLATE "C"'} USING ${e}`)
    .join(',\n  ')};
CREATE INDEX ON ${t.audit} (key_id, seq) WHERE key_id IS NOT NULL;
CREATE INDEX ON ${t.audit} (root_key_id, seq) WHERE root_key_id IS NOT NULL;
CREATE INDEX ON ${t.audit} (run_id, seq) WHERE run_id IS NOT NULL;
CREATE INDEX ON ${t.audit} (decision, seq);
CREATE INDEX ON ${t.audit} (time_ms);
CREATE FUNCTION ${t.schema}.audit_columns() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  ${auditColumns('NEW.data')
    .map(([c, e]) => `NEW.${c} := ${e};`)
    .join('\n  ')}
  RETURN NEW;
END $$;
-- Every row has a decision: without one, the writer did not fill the columns in.
CREATE TRIGGER audit_columns BEFORE INSERT ON ${t.audit} FOR EACH ROW WHEN (NEW.decision IS NULL)
  EXECUTE FUNCTION ${t.schema}.audit_columns();
CREATE TRIGGER audit_columns_edited BEFORE UPDATE OF data ON ${t.audit} FOR EACH ROW
  WHEN (NEW.data IS DISTINCT FROM OLD.data) EXECUTE FUNCTION ${t.schema}.audit_columns();
${functionsSql(t)}`,
  // 6: cheaper step functions again (same names, arguments and answers). The head keeps the hash
  // before its last move, so an append moves it with one UPDATE … RETURNING (see appendSql).
  (t) => `
ALTER TABLE ${t.auditHead} ADD COLUMN prev_hash text;
${functionsSql(t)}`,
];
