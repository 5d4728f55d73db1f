import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { StoreUnavailableError } from '../errors.ts';
import type {
  ApprovalRecord,
  AuditAnchor,
  AuditHead,
  AuditRow,
  CheckpointRecord,
  KeyRecord,
  TokenRecord,
} from '../store.ts';
import type { StateTx } from './state-tx.ts';
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
      getApproval: (id) => parse<ApprovalRecord>(q.getApproval.get(id)),
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

  async listKeys(): Promise<KeyRecord[]> {
    return this.#q.listKeys.all().map((row) => rowToKey(row) as KeyRecord);
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

  async readAudit(options: { afterSeq?: number; limit?: number } = {}): Promise<AuditRow[]> {
    const rows = this.#q.readAudit.all(options.afterSeq ?? 0, options.limit ?? -1);
    return rows.map((row) => JSON.parse((row as { data: string }).data) as AuditRow);
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

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}

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
    listKeys: db.prepare('SELECT data, revoked_at FROM sg_keys ORDER BY rowid'),
    revokeKey: db.prepare('UPDATE sg_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?'),
    insertToken: db.prepare('INSERT INTO sg_tokens (id, key_id, hash, created_at) VALUES (?, ?, ?, ?)'),
    getToken: db.prepare('SELECT id, key_id, hash, created_at FROM sg_tokens WHERE id = ?'),
    getCheckpoint: db.prepare('SELECT data FROM sg_checkpoints WHERE id = ?'),
    putCheckpoint: db.prepare('INSERT OR REPLACE INTO sg_checkpoints (id, data) VALUES (?, ?)'),
    getCounter: db.prepare('SELECT value FROM sg_counters WHERE id = ?'),
    addCounter: db.prepare(
      'INSERT INTO sg_counters (id, value, expires_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET value = value + excluded.value',
    ),
    getApproval: db.prepare('SELECT data FROM sg_approvals WHERE id = ?'),
    putApproval: db.prepare('INSERT OR REPLACE INTO sg_approvals (id, data) VALUES (?, ?)'),
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
    readAudit: db.prepare('SELECT data FROM sg_audit WHERE seq > ? ORDER BY seq LIMIT ?'),
    // The WHERE repeats the index's, so SQLite reads the in-progress index, not every checkpoint.
    listPending: db.prepare(
      "SELECT data FROM sg_checkpoints WHERE json_extract(data, '$.state') = 'in_progress' " +
        "AND (json_extract(data, '$.outcomeUnknown') OR json_extract(data, '$.leaseUntil') <= ?) " +
        "ORDER BY json_extract(data, '$.startedAt'), id LIMIT ?",
    ),
  } satisfies Record<string, StatementSync>;
}

type Statements = ReturnType<typeof prepareStatements>;
