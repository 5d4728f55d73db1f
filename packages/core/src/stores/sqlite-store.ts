import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { StoreUnavailableError } from '../errors.ts';
import type {
  ApprovalQuery,
  ApprovalRecord,
  AuditAnchor,
  AuditHead,
  AuditQuery,
  AuditRow,
  CheckpointRecord,
  KeyQuery,
  KeyRecord,
  PruneOptions,
  PruneResult,
  TokenRecord,
} from '../store.ts';
import { checkKeyQuery, decisionsOf } from './queries.ts';
import { type StateTx, storedApproval } from './state-tx.ts';
import { PENDING_LIMIT, TransactionalStore } from './transactional-store.ts';

export interface SqliteStoreOptions {
  /** Database file. Default: `.spendguard/spendguard.db` under the working directory. */
  file?: string;
  /** How long a writer waits for another process's transaction, in ms. Default: 5000. */
  busyTimeoutMs?: number;
}

export const DEFAULT_SQLITE_FILE = '.spendguard/spendguard.db';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sg_keys (id TEXT PRIMARY KEY, data TEXT NOT NULL, revoked_at INTEGER);
CREATE TABLE IF NOT EXISTS sg_tokens (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, hash TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sg_checkpoints (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sg_counters (id TEXT PRIMARY KEY, value INTEGER NOT NULL, expires_at INTEGER);
CREATE TABLE IF NOT EXISTS sg_approvals (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sg_marks (id TEXT PRIMARY KEY, expires_at INTEGER);
CREATE TABLE IF NOT EXISTS sg_audit (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sg_audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL,
  anchor_seq INTEGER,
  anchor_hash TEXT,
  anchor_hmac TEXT
);
-- listPending reads only in-progress checkpoints, oldest first.
CREATE INDEX IF NOT EXISTS sg_checkpoints_in_progress ON sg_checkpoints (json_extract(data, '$.startedAt'), id)
  WHERE json_extract(data, '$.state') = 'in_progress';
-- What a checkpoint created from nothing starts its generation and fence at (see prune).
CREATE TABLE IF NOT EXISTS sg_checkpoint_floor (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
-- readAudit's filters. seq is the rowid, which every index ends with: within one value, rows
-- come in seq order, so a page is an index range. code, vendor and traceId filter the rows found.
CREATE INDEX IF NOT EXISTS sg_audit_key ON sg_audit (json_extract(data, '$.keyId'));
CREATE INDEX IF NOT EXISTS sg_audit_root ON sg_audit (json_extract(data, '$.rootKeyId'));
CREATE INDEX IF NOT EXISTS sg_audit_run ON sg_audit (json_extract(data, '$.runId'));
CREATE INDEX IF NOT EXISTS sg_audit_decision ON sg_audit (json_extract(data, '$.decision'));
CREATE INDEX IF NOT EXISTS sg_audit_time ON sg_audit (json_extract(data, '$.time'));
-- listKeys's filters, each in id order; state filters the keys found.
CREATE INDEX IF NOT EXISTS sg_keys_root ON sg_keys (json_extract(data, '$.rootId'), id);
CREATE INDEX IF NOT EXISTS sg_keys_parent ON sg_keys (json_extract(data, '$.parentId'), id);
CREATE INDEX IF NOT EXISTS sg_keys_run ON sg_keys (json_extract(data, '$.runId'), id);
-- prune: settled checkpoints by when their dedup window ends, decided approvals by decision time.
CREATE INDEX IF NOT EXISTS sg_checkpoints_settled
  ON sg_checkpoints (json_extract(data, '$.completedAt') + json_extract(data, '$.dedupWindowMs'))
  WHERE json_extract(data, '$.state') <> 'in_progress';
CREATE INDEX IF NOT EXISTS sg_approvals_decided ON sg_approvals (json_extract(data, '$.decidedAt'))
  WHERE json_extract(data, '$.state') <> 'pending';
`;

/**
 * Once per file (user_version 0 to 1): a file from before the audit head gets its newest row as
 * its head. Only once, so a head deleted later stays missing and verify names it.
 */
const UPGRADE_1 = `
BEGIN IMMEDIATE;
INSERT OR IGNORE INTO sg_audit_head (id, seq, hash) SELECT 1, seq, hash FROM sg_audit ORDER BY seq DESC LIMIT 1;
PRAGMA user_version = 1;
COMMIT;
`;

/**
 * The embedded default: one SQLite file (WAL) through `node:sqlite`, shared safely by several
 * processes on one machine. Each pipeline step is one `BEGIN IMMEDIATE … COMMIT`.
 */
export class SqliteStore extends TransactionalStore {
  readonly kind = 'sqlite';
  readonly file: string;
  readonly #db: DatabaseSync;
  readonly #q: Statements;
  readonly #tx: StateTx;
  /** Statements of readAudit and listKeys, by their text (one per combination of filters used). */
  readonly #queries = new Map<string, StatementSync>();

  constructor(options: SqliteStoreOptions = {}) {
    super();
    this.file = resolve(options.file ?? DEFAULT_SQLITE_FILE);
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      this.#db = new DatabaseSync(this.file, { timeout: options.busyTimeoutMs ?? 5000 });
      this.#db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;');
      this.#db.exec(SCHEMA);
      const { user_version } = this.#db.prepare('PRAGMA user_version').get() as { user_version: number };
      if (user_version === 0) this.#db.exec(UPGRADE_1);
    } catch (error) {
      throw new StoreUnavailableError(
        `cannot open the SQLite store at ${this.file}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    this.#q = prepareStatements(this.#db);
    const q = this.#q;
    this.#tx = {
      getKey: (id) => rowToKey(q.getKey.get(id)),
      getCheckpoint: (id) => parse<CheckpointRecord>(q.getCheckpoint.get(id)),
      putCheckpoint: (c) => void q.putCheckpoint.run(c.id, JSON.stringify(c)),
      getCounter: (id) => Number((q.getCounter.get(id) as { value?: number } | undefined)?.value ?? 0),
      addCounter: (id, delta, expiresAt) => void q.addCounter.run(id, delta, expiresAt),
      getApproval: (id) => {
        const row = q.getApproval.get(id) as { data: string } | undefined;
        return row === undefined ? undefined : storedApproval(row.data);
      },
      putApproval: (a) => void q.putApproval.run(a.id, JSON.stringify(a)),
      hasMark: (id) => q.hasMark.get(id) !== undefined,
      putMark: (id, expiresAt) => void q.putMark.run(id, expiresAt),
      auditHead: () => {
        const head = q.auditHead.get() as HeadRow | undefined;
        return head && { seq: Number(head.seq), hash: head.hash };
      },
      insertAudit: (row) => {
        q.insertAudit.run(row.seq, row.hash, JSON.stringify(row));
        q.moveHead.run(row.seq, row.hash);
      },
      checkpointFloor: () => Number((q.checkpointFloor.get() as { value?: number } | undefined)?.value ?? 1),
    };
    this.#prune(Date.now());
  }

  protected transaction<T>(fn: (tx: StateTx) => T): T {
    const db = this.#db;
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      throw new StoreUnavailableError(`SQLite store ${this.file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    try {
      const result = fn(this.#tx);
      db.exec('COMMIT');
      return result;
    } catch (error) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw error;
    }
  }

  /** One statement reads a consistent snapshot on its own: no write lock for waiters that poll. */
  protected override read<T>(fn: (tx: StateTx) => T): T {
    try {
      return fn(this.#tx);
    } catch (error) {
      throw new StoreUnavailableError(`SQLite store ${this.file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** Drop counters and marks of windows that have ended (old hours, days, minutes). */
  #prune(now: number): void {
    this.#db.prepare('DELETE FROM sg_counters WHERE expires_at IS NOT NULL AND expires_at < ?').run(now);
    this.#db.prepare('DELETE FROM sg_marks WHERE expires_at IS NOT NULL AND expires_at < ?').run(now);
  }

  async insertKey(key: KeyRecord): Promise<void> {
    this.#q.insertKey.run(key.id, JSON.stringify(key), key.revokedAt);
  }

  async getKey(id: string): Promise<KeyRecord | undefined> {
    return rowToKey(this.#q.getKey.get(id));
  }

  async listKeys(query: KeyQuery = {}): Promise<KeyRecord[]> {
    checkKeyQuery(query);
    const where: string[] = [];
    const values: SQLInputValue[] = [];
    const filter = (sql: string, ...params: SQLInputValue[]) => {
      where.push(sql);
      values.push(...params);
    };
    if (query.afterId !== undefined) filter('id > ?', query.afterId);
    if (query.rootId !== undefined) filter(`${keyField('rootId')} = ?`, query.rootId);
    if (query.parentId === null) filter(`${keyField('parentId')} IS NULL`);
    else if (query.parentId !== undefined) filter(`${keyField('parentId')} = ?`, query.parentId);
    if (query.runId !== undefined) filter(`${keyField('runId')} = ?`, query.runId);
    const expiresAt = keyField('expiresAt');
    if (query.state === 'revoked') filter('revoked_at IS NOT NULL');
    else if (query.state === 'expired')
      filter(`revoked_at IS NULL AND ${expiresAt} <= ?`, query.now as number);
    else if (query.state === 'active') {
      filter(`revoked_at IS NULL AND (${expiresAt} IS NULL OR ${expiresAt} > ?)`, query.now as number);
    }
    let sql = `SELECT data, revoked_at FROM sg_keys${whereClause(where)} ORDER BY id`;
    if (query.limit !== undefined) {
      sql += ' LIMIT ?';
      values.push(query.limit);
    }
    return this.#query(sql)
      .all(...values)
      .map((row) => rowToKey(row) as KeyRecord);
  }

  async revokeKey(id: string, at: number): Promise<boolean> {
    const result = this.#q.revokeKey.run(at, id);
    return Number(result.changes) > 0;
  }

  async insertToken(token: TokenRecord): Promise<void> {
    this.#q.insertToken.run(token.id, token.keyId, token.hash, token.createdAt);
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const row = this.#q.getToken.get(id) as
      | { id: string; key_id: string; hash: string; created_at: number }
      | undefined;
    return row && { id: row.id, keyId: row.key_id, hash: row.hash, createdAt: Number(row.created_at) };
  }

  async readAudit(query: AuditQuery = {}): Promise<AuditRow[]> {
    const where: string[] = [];
    const values: SQLInputValue[] = [];
    const filter = (sql: string, value: SQLInputValue) => {
      where.push(sql);
      values.push(value);
    };
    if (query.afterSeq !== undefined) filter('seq > ?', query.afterSeq);
    if (query.beforeSeq !== undefined) filter('seq < ?', query.beforeSeq);
    for (const field of ['keyId', 'rootKeyId', 'runId', 'code', 'vendor'] as const) {
      const value = query[field];
      if (value !== undefined) filter(`${auditField(field)} = ?`, value);
    }
    if (query.traceId !== undefined) {
      // The trace id itself, or it and ';' then more (AuditQuery.traceId): text from `id;` up to
      // just before `id<` (';' + 1), compared as bytes (BINARY collation), so every string that
      // begins with `id;` and nothing else. Ranges, not LIKE: the id is never read as a pattern.
      where.push(
        `(${auditField('traceId')} = ? OR (${auditField('traceId')} >= ? AND ${auditField('traceId')} < ?))`,
      );
      values.push(query.traceId, `${query.traceId};`, `${query.traceId}<`);
    }
    const decisions = decisionsOf(query);
    if (decisions !== undefined) {
      filter(`${auditField('decision')} IN (SELECT value FROM json_each(?))`, JSON.stringify(decisions));
    }
    if (query.fromTime !== undefined) filter(`${auditField('time')} >= ?`, query.fromTime);
    if (query.toTime !== undefined) filter(`${auditField('time')} < ?`, query.toTime);
    // A backwards page is the newest rows below beforeSeq: read them newest first, then turn.
    const backwards = query.beforeSeq !== undefined && query.limit !== undefined;
    let sql = `SELECT data FROM sg_audit${whereClause(where)} ORDER BY seq${backwards ? ' DESC' : ''}`;
    if (query.limit !== undefined) {
      sql += ' LIMIT ?';
      values.push(query.limit);
    }
    const rows = this.#query(sql)
      .all(...values)
      .map((row) => JSON.parse((row as { data: string }).data) as AuditRow);
    return backwards ? rows.reverse() : rows;
  }

  async auditHead(): Promise<AuditHead | undefined> {
    const head = this.#q.auditHead.get() as HeadRow | undefined;
    if (!head) return undefined;
    const anchor =
      head.anchor_seq === null
        ? null
        : {
            seq: Number(head.anchor_seq),
            hash: head.anchor_hash as string,
            hmac: head.anchor_hmac as string,
          };
    return { seq: Number(head.seq), hash: head.hash, anchor };
  }

  async anchorAudit(anchor: AuditAnchor): Promise<void> {
    this.#q.anchorAudit.run(anchor.seq, anchor.hash, anchor.hmac, anchor.seq);
  }

  async listPending(options: { now: number; limit?: number }): Promise<CheckpointRecord[]> {
    const rows = this.#q.listPending.all(options.now, options.limit ?? PENDING_LIMIT);
    return rows.map((row) => JSON.parse((row as { data: string }).data) as CheckpointRecord);
  }

  async listApprovals(query: ApprovalQuery = {}): Promise<ApprovalRecord[]> {
    const rows = this.#q.listApprovals.all(query.state ?? null, query.limit ?? PENDING_LIMIT);
    return rows.map((row) => storedApproval((row as { data: string }).data));
  }

  /** Also drops counters and marks of windows that have ended, as opening the file does. */
  async prune(options: PruneOptions): Promise<PruneResult> {
    const { now, approvalsOlderThanMs } = options;
    const q = this.#q;
    return this.transaction(() => {
      const tokens = Number(q.pruneTokens.run(now).changes);
      const pruned = q.prunableFence.get(now) as { fence: number | null };
      const checkpoints = Number(q.pruneCheckpoints.run(now).changes);
      if (pruned.fence !== null) q.raiseCheckpointFloor.run(Number(pruned.fence) + 1);
      const approvals =
        approvalsOlderThanMs === undefined
          ? 0
          : Number(q.pruneApprovals.run(now - approvalsOlderThanMs, now).changes);
      this.#prune(now);
      return { tokens, checkpoints, approvals };
    });
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }

  #query(sql: string): StatementSync {
    let statement = this.#queries.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#queries.set(sql, statement);
    }
    return statement;
  }
}

/** The same expressions as the indexes in SCHEMA, so SQLite uses them. */
function auditField(
  name: 'keyId' | 'rootKeyId' | 'runId' | 'decision' | 'code' | 'vendor' | 'traceId' | 'time',
): string {
  return `json_extract(data, '$.${name}')`;
}

function keyField(name: 'rootId' | 'parentId' | 'runId' | 'expiresAt'): string {
  return `json_extract(data, '$.${name}')`;
}

function whereClause(conditions: readonly string[]): string {
  return conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
}

// What retention deletes (see retention.ts), in SQL. Checkpoints without a recorded window have
// a NULL end and never match.
const PRUNABLE_CHECKPOINT =
  "json_extract(data, '$.state') <> 'in_progress' AND " +
  "json_extract(data, '$.completedAt') + json_extract(data, '$.dedupWindowMs') <= ?";

type HeadRow = {
  seq: number;
  hash: string;
  anchor_seq: number | null;
  anchor_hash: string | null;
  anchor_hmac: string | null;
};

function parse<T>(row: unknown): T | undefined {
  return row === undefined ? undefined : (JSON.parse((row as { data: string }).data) as T);
}

function rowToKey(row: unknown): KeyRecord | undefined {
  if (row === undefined) return undefined;
  const { data, revoked_at } = row as { data: string; revoked_at: number | null };
  return { ...(JSON.parse(data) as KeyRecord), revokedAt: revoked_at === null ? null : Number(revoked_at) };
}

function prepareStatements(db: DatabaseSync) {
  return {
    insertKey: db.prepare('INSERT OR IGNORE INTO sg_keys (id, data, revoked_at) VALUES (?, ?, ?)'),
    getKey: db.prepare('SELECT data, revoked_at FROM sg_keys WHERE id = ?'),
    revokeKey: db.prepare('UPDATE sg_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?'),
    insertToken: db.prepare('INSERT INTO sg_tokens (id, key_id, hash, created_at) VALUES (?, ?, ?, ?)'),
    getToken: db.prepare('SELECT id, key_id, hash, created_at FROM sg_tokens WHERE id = ?'),
    getCheckpoint: db.prepare('SELECT data FROM sg_checkpoints WHERE id = ?'),
    // An upsert, not INSERT OR REPLACE: the row is changed where it is, rather than deleted and
    // inserted again under a new rowid with every index entry rewritten (~30 µs a call less).
    putCheckpoint: db.prepare(
      'INSERT INTO sg_checkpoints (id, data) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET data = excluded.data',
    ),
    getCounter: db.prepare('SELECT value FROM sg_counters WHERE id = ?'),
    addCounter: db.prepare(
      'INSERT INTO sg_counters (id, value, expires_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET value = value + excluded.value',
    ),
    getApproval: db.prepare('SELECT data FROM sg_approvals WHERE id = ?'),
    putApproval: db.prepare(
      'INSERT INTO sg_approvals (id, data) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET data = excluded.data',
    ),
    hasMark: db.prepare('SELECT 1 AS one FROM sg_marks WHERE id = ?'),
    putMark: db.prepare('INSERT OR IGNORE INTO sg_marks (id, expires_at) VALUES (?, ?)'),
    auditHead: db.prepare(
      'SELECT seq, hash, anchor_seq, anchor_hash, anchor_hmac FROM sg_audit_head WHERE id = 1',
    ),
    insertAudit: db.prepare('INSERT INTO sg_audit (seq, hash, data) VALUES (?, ?, ?)'),
    moveHead: db.prepare(
      'INSERT INTO sg_audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
    ),
    anchorAudit: db.prepare(
      'UPDATE sg_audit_head SET anchor_seq = ?, anchor_hash = ?, anchor_hmac = ? WHERE id = 1 AND coalesce(anchor_seq, 0) < ?',
    ),
    checkpointFloor: db.prepare('SELECT value FROM sg_checkpoint_floor WHERE id = 1'),
    raiseCheckpointFloor: db.prepare(
      'INSERT INTO sg_checkpoint_floor (id, value) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET value = max(value, excluded.value)',
    ),
    // A token's key is missing, revoked or expired.
    pruneTokens: db.prepare(
      'DELETE FROM sg_tokens WHERE NOT EXISTS (SELECT 1 FROM sg_keys k WHERE k.id = sg_tokens.key_id ' +
        "AND k.revoked_at IS NULL AND (json_extract(k.data, '$.expiresAt') IS NULL OR json_extract(k.data, '$.expiresAt') > ?))",
    ),
    prunableFence: db.prepare(
      `SELECT max(json_extract(data, '$.fencingToken')) AS fence FROM sg_checkpoints WHERE ${PRUNABLE_CHECKPOINT}`,
    ),
    pruneCheckpoints: db.prepare(`DELETE FROM sg_checkpoints WHERE ${PRUNABLE_CHECKPOINT}`),
    // Decided before the cutoff, unless approved, unused and unexpired.
    pruneApprovals: db.prepare(
      "DELETE FROM sg_approvals WHERE json_extract(data, '$.state') <> 'pending' AND json_extract(data, '$.decidedAt') <= ? " +
        "AND NOT (json_extract(data, '$.state') = 'approved' AND json_extract(data, '$.usedAt') IS NULL " +
        "AND json_extract(data, '$.decidedAt') + json_extract(data, '$.ttlMs') > ?)",
    ),
    // The WHERE repeats the index's, so SQLite reads the in-progress index, not every checkpoint.
    listPending: db.prepare(
      "SELECT data FROM sg_checkpoints WHERE json_extract(data, '$.state') = 'in_progress' " +
        "AND (json_extract(data, '$.outcomeUnknown') OR json_extract(data, '$.leaseUntil') <= ?) " +
        "ORDER BY json_extract(data, '$.startedAt'), id LIMIT ?",
    ),
    listApprovals: db.prepare(
      "SELECT data FROM sg_approvals WHERE ?1 IS NULL OR json_extract(data, '$.state') = ?1 " +
        "ORDER BY json_extract(data, '$.createdAt'), id LIMIT ?2",
    ),
  } satisfies Record<string, StatementSync>;
}

type Statements = ReturnType<typeof prepareStatements>;
