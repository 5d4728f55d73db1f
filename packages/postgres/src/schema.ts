import { GENESIS_HASH } from '@spendguard/core/store-kit';
import { functionsSql } from './functions.ts';

/** The newest schema version `migrate()` brings a schema to. */
export const SCHEMA_VERSION = 4;

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
 * A string field of a record's JSON (`data`) as its JSON text (`"run-7"`, escapes kept), or NULL
 * when the field is null. JSON text, because it never holds a NUL byte, which Postgres text
 * cannot; compare it with `JSON.stringify(value)`. Read with a pattern, not `::json`: Postgres's
 * JSON functions refuse a document holding \u0000 anywhere. The first `"field":` is the record's
 * own: every quote inside a string is escaped, and these records nest no object with such keys.
 * Queries must use the same expression as the index, so both are built here.
 */
export function jsonString(field: string, column = 'data'): string {
  return String.raw`substring(${column} from '"${field}":("(?:[^"\\]|\\.)*")')`;
}

/** A number field of a record's JSON, as numeric; NULL when the field is null. See jsonString. */
export function jsonNumber(field: string, column = 'data'): string {
  return `substring(${column} from '"${field}":(-?[0-9.eE+-]+)')::numeric`;
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
  // step is one statement in autocommit. Tables and rows are unchanged: see functions.ts.
  functionsSql,
];
