import { setTimeout as sleep } from 'node:timers/promises';
import { StoreUnavailableError } from '@spendguard/core';
import {
  type ApprovalQuery,
  type ApprovalRecord,
  type ApprovalVerdictInput,
  type AuditAnchor,
  type AuditEntry,
  type AuditHead,
  type AuditQuery,
  type AuditRow,
  type BeginPlan,
  type BeginResult,
  type CheckpointRecord,
  checkKeyQuery,
  decidedApproval,
  type FinishInput,
  type FinishResult,
  type KeyQuery,
  type KeyRecord,
  PENDING_LIMIT,
  type PruneOptions,
  type PruneResult,
  STALE_ATTEMPT,
  type Store,
  storedApproval,
  type TokenRecord,
} from '@spendguard/core/store-kit';
import pg, { type Pool, type PoolClient, type PoolConfig, type QueryResult } from 'pg';
import { Admission, type Priority } from './admission.ts';
import { isConnectionError, isRetryable, Redactor, storeError } from './errors.ts';
import {
  auditStatement,
  endedWindowsStatement,
  isBackwards,
  keysStatement,
  pruneStatement,
  type Statement,
} from './queries.ts';
import {
  jsonNumber,
  jsonString,
  MIGRATIONS,
  quoteSchema,
  SCHEMA_VERSION,
  type Tables,
  tables,
} from './schema.ts';
import {
  type AuditAnswer,
  auditArgs,
  auditBody,
  auditRow,
  type BeginAnswer,
  beginCall,
  beginResult,
  finishValues,
  invalidAmount,
  invalidSettlement,
} from './steps.ts';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:5432/database?sslmode=…`. Give this or `pool`. */
  url?: string;
  /** An existing `pg.Pool` to use instead of `url`. The timeouts below are then the pool's own business. */
  pool?: Pool;
  /** The Postgres schema holding spendguard's tables. Default: `spendguard`. */
  schema?: string;
  /** Pool size (with `url`). Default: 10. */
  max?: number;
  /**
   * How long a new call waits for a connection (to open one, or for a busy pool to free one)
   * before failing closed, in ms. Settling a call waits its turn ahead of new calls. Default: 5000.
   */
  connectionTimeoutMs?: number;
  /** Server-side limit per statement, lock waits included, in ms. Default: 5000. */
  statementTimeoutMs?: number;
  /** Client-side limit per statement (a dead TCP peer), in ms. Default: statementTimeoutMs + 2000. */
  queryTimeoutMs?: number;
  /** The server ends a session idle inside a transaction this long (a stalled process holding locks), in ms. Default: 10 000. */
  idleInTransactionTimeoutMs?: number;
  /** Idle pooled connections close after this long, in ms. Default: 30 000. */
  idleTimeoutMs?: number;
  /** Reruns of a step after a deadlock or serialization failure. Default: 5. */
  maxRetries?: number;
  /** `application_name` of the store's sessions. Default: `spendguard`. */
  applicationName?: string;
  /** TLS options passed to `pg` (with `url`). */
  ssl?: PoolConfig['ssl'];
  /** End the pool in `close()`. Default: true with `url`, false with `pool`. */
  closePool?: boolean;
  /**
   * Errors of idle pooled connections (the server restarted, the network dropped). They never
   * throw: the next step fails with `store_unavailable` or reconnects. Default: ignored.
   */
  onError?: (error: StoreUnavailableError) => void;
}

/** Counters of what the store sent, for benchmarks: diff two snapshots around a call. */
export interface PostgresStoreStats {
  /** Statements sent. */
  queries: number;
  /** Waits for the server: one per statement. */
  roundTrips: number;
  /** Pipeline steps committed (begin, finish, decideApproval, appendAudit): one statement each. */
  transactions: number;
  /** Statements rerun after a deadlock, a serialization failure or a dropped idle connection. */
  retries: number;
  /** New connections the pool opened. */
  connections: number;
}

export const DEFAULT_POSTGRES_SCHEMA = 'spendguard';

interface Lease {
  client: PoolClient;
  /** The client served an earlier step: a connection error may mean it died while idle. */
  reused: boolean;
  broken: unknown;
  release(destroy?: unknown): void;
}

/** The statement was never sent: the connection had already failed. Safe to rerun elsewhere. */
class NotSent extends Error {}

const BEGIN: Statement = { text: 'BEGIN', values: [] };
const COMMIT: Statement = { text: 'COMMIT', values: [] };

/** What a migration that ran out of time should say: nothing was changed, and how to go on. */
const MIGRATE_TIMEOUT_HINT =
  ' (nothing was changed: migrating to schema version 5 rewrites the audit table once, some 30 s per million rows; run migrate() from a store with a larger statementTimeoutMs)';

/** How often decideApproval rereads an approval that changed between its read and its write. */
const DECIDE_ATTEMPTS = 10;

/**
 * The Postgres store: one cap, one set of checkpoints, one revocation list and one audit chain
 * for a fleet of processes. Each pipeline step is one statement in autocommit: a PL/pgSQL function
 * (functions.ts, created by migrate()) that locks, decides by core's rules, writes and appends
 * its audit row, in one round trip. No lock is held while the client is away.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres';
  /** The Postgres schema of the tables. */
  readonly schema: string;
  /** Where the store connects, without credentials (`host:port/database`). */
  readonly target: string;
  readonly stats: PostgresStoreStats = {
    queries: 0,
    roundTrips: 0,
    transactions: 0,
    retries: 0,
    connections: 0,
  };

  readonly #pool: Pool;
  readonly #closePool: boolean;
  readonly #t: Tables;
  readonly #q: ReturnType<typeof statements>;
  readonly #redactor: Redactor;
  readonly #maxRetries: number;
  readonly #seen = new WeakSet<PoolClient>();
  readonly #admission: Admission;
  readonly #queueTimeoutMs: number;
  #closed = false;

  constructor(options: PostgresStoreOptions) {
    this.schema = options.schema ?? DEFAULT_POSTGRES_SCHEMA;
    quoteSchema(this.schema);
    this.#t = tables(this.schema);
    this.#q = statements(this.#t, this.schema);
    this.#maxRetries = options.maxRetries ?? 5;
    this.#queueTimeoutMs = options.connectionTimeoutMs ?? 5000;
    if (options.pool && options.url)
      throw new TypeError('PostgresStore: give either `url` or `pool`, not both');
    if (options.pool) {
      this.#pool = options.pool;
      this.#closePool = options.closePool ?? false;
      const o = (options.pool as { options?: { host?: string; port?: number; database?: string } }).options;
      this.target = `${o?.host ?? 'postgres'}${o?.port ? `:${o.port}` : ''}${o?.database ? `/${o.database}` : ''}`;
      this.#redactor = new Redactor([]);
    } else if (options.url) {
      const url = parseUrl(options.url);
      this.target = `${url.hostname || 'localhost'}:${url.port || 5432}${url.pathname}`;
      this.#redactor = new Redactor([
        options.url,
        url.password,
        url.password && decodeURIComponent(url.password),
      ]);
      const statementTimeoutMs = options.statementTimeoutMs ?? 5000;
      const config: PoolConfig = {
        connectionString: options.url,
        max: options.max ?? 10,
        connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
        idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
        statement_timeout: statementTimeoutMs,
        query_timeout: options.queryTimeoutMs ?? statementTimeoutMs + 2000,
        idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 10_000,
        application_name: options.applicationName ?? 'spendguard',
        keepAlive: true,
        allowExitOnIdle: true,
        ...(options.ssl !== undefined && { ssl: options.ssl }),
      };
      this.#pool = new pg.Pool(config);
      this.#closePool = options.closePool ?? true;
    } else {
      throw new TypeError('PostgresStore: give `url` (postgres://…) or an existing `pool`');
    }
    const max = (this.#pool as { options?: { max?: number } }).options?.max;
    this.#admission = new Admission(typeof max === 'number' && max > 0 ? max : 10);
    const onError = options.onError;
    // An idle client whose server went away emits 'error' on the pool: never let it crash the process.
    this.#pool.on('error', (error) => {
      try {
        onError?.(storeError(error, 'idle connection', this.#redactor));
      } catch {
        // a throwing hook must not turn into an unhandled exception either
      }
    });
    this.#pool.on('connect', () => {
      this.stats.connections++;
    });
  }

  /**
   * Create or upgrade the schema and its tables. Idempotent, and safe to run from several
   * processes at once (they take turns on an advisory lock). Run it once before first use.
   */
  async migrate(): Promise<{ from: number; to: number }> {
    this.#assertOpen();
    const t = this.#t;
    let lease: Lease | undefined;
    try {
      lease = await this.#checkout('high');
      const [, , , , version] = await this.#sendAll(lease, [
        BEGIN,
        {
          text: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))',
          values: [`spendguard:migrate:${this.schema}`],
        },
        { text: `CREATE SCHEMA IF NOT EXISTS ${quoteSchema(this.schema)}`, values: [] },
        {
          text: `CREATE TABLE IF NOT EXISTS ${t.migrations} (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
          values: [],
        },
        { text: `SELECT coalesce(max(version), 0)::int AS version FROM ${t.migrations}`, values: [] },
      ]);
      const from = Number((version?.rows[0] as { version: number } | undefined)?.version ?? 0);
      if (from > SCHEMA_VERSION) {
        throw new StoreUnavailableError(
          `postgres store (${this.target}): schema "${this.schema}" is at version ${from}, newer than this @spendguard/postgres knows (${SCHEMA_VERSION}); upgrade the package`,
        );
      }
      const pending: Statement[] = [];
      for (let v = from + 1; v <= SCHEMA_VERSION; v++) {
        const sql = MIGRATIONS[v - 1] as (t: Tables) => string;
        pending.push({ text: sql(t), values: [] });
        pending.push({ text: `INSERT INTO ${t.migrations} (version) VALUES (${v})`, values: [] });
      }
      await this.#sendAll(lease, [...pending, COMMIT]);
      lease.release();
      return { from, to: SCHEMA_VERSION };
    } catch (error) {
      if (lease) await this.#abandon(lease, error);
      // 57014: the statement timeout. Version 5 rewrites the audit table once.
      const slow = (error as { code?: unknown } | null)?.code === '57014';
      throw this.#error(error, 'migrate', slow ? MIGRATE_TIMEOUT_HINT : '');
    }
  }

  /**
   * The Store's retention (tokens, checkpoints, approvals: see `Store.prune`), and also counters
   * and alert marks of windows that ended before `now`. One statement, so one transaction: a
   * begin holding a checkpoint's lock makes its delete wait, then skip the row it re-checks.
   */
  prune(options: PruneOptions): Promise<PruneResult & { counters: number; marks: number }>;
  /** Only counters and alert marks of windows that ended before `now` (old minutes, hours, days). */
  prune(now?: number): Promise<{ counters: number; marks: number }>;
  async prune(
    options: PruneOptions | number = Date.now(),
  ): Promise<{ counters: number; marks: number } | (PruneResult & { counters: number; marks: number })> {
    if (typeof options === 'number') {
      const [result] = await this.#single('prune', endedWindowsStatement(this.#t, options));
      const row = result?.rows[0] as { counters: number; marks: number };
      return { counters: row.counters, marks: row.marks };
    }
    const [result] = await this.#single('prune', pruneStatement(this.#t, options));
    const row = result?.rows[0] as PruneResult & { counters: number; marks: number };
    return {
      tokens: row.tokens,
      checkpoints: row.checkpoints,
      approvals: row.approvals,
      counters: row.counters,
      marks: row.marks,
    };
  }

  async insertKey(key: KeyRecord): Promise<void> {
    await this.#single(
      'insertKey',
      { ...this.#q.insertKey, values: [key.id, key.rootId, JSON.stringify(key), key.revokedAt] },
      true,
    );
  }

  async getKey(id: string): Promise<KeyRecord | undefined> {
    const [result] = await this.#single('getKey', { ...this.#q.getKey, values: [id] }, true);
    const row = result?.rows[0] as KeyRow | undefined;
    return row && rowToKey(row);
  }

  async listKeys(query: KeyQuery = {}): Promise<KeyRecord[]> {
    checkKeyQuery(query);
    const [result] = await this.#single('listKeys', keysStatement(this.#t, query), true);
    return (result?.rows ?? []).map((row) => rowToKey(row as KeyRow));
  }

  async revokeKey(id: string, at: number): Promise<boolean> {
    const [result] = await this.#single('revokeKey', { ...this.#q.revokeKey, values: [at, id] }, true);
    return (result?.rowCount ?? 0) > 0;
  }

  async insertToken(token: TokenRecord): Promise<void> {
    await this.#single('insertToken', {
      ...this.#q.insertToken,
      values: [token.id, token.keyId, token.hash, token.createdAt],
    });
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const [result] = await this.#single('getToken', { ...this.#q.getToken, values: [id] }, true);
    const row = result?.rows[0] as
      | { id: string; key_id: string; hash: string; created_at: string | number }
      | undefined;
    return row && { id: row.id, keyId: row.key_id, hash: row.hash, createdAt: Number(row.created_at) };
  }

  /**
   * One statement (begin_step): locks, in this order, the checkpoint row (a missing one's id is
   * claimed by an advisory lock instead), the key chain FOR SHARE (a revocation waits for it, and
   * later begins see it), the approval row, and, only when the call may proceed past the checks
   * before them, every counter of the plan's windows and rates (inserted if missing, in id order).
   * A begin that decides without proceeding (deny, replay, approval) locks the audit head last.
   */
  async begin(plan: BeginPlan): Promise<BeginResult> {
    const invalid = invalidAmount(plan);
    if (invalid !== undefined) {
      // Refused before anything is read (core's rules): only the audit row is written.
      await this.#append('begin', {
        ...plan.audit,
        decision: 'denied',
        code: 'amount_invalid',
        message: invalid,
      });
      return { kind: 'denied', code: 'amount_invalid', message: invalid };
    }
    const call = beginCall(plan);
    const result = await this.#step('begin', 'low', { ...this.#q.begin, values: call.values });
    return beginResult(plan, call, result.rows[0] as BeginAnswer);
  }

  /**
   * One statement (finish_step): locks the checkpoint, then the counters it reserved on (id
   * order) only if settling changes them (a failure releases the reservation, a completion at
   * another cost adjusts it), then the audit head.
   */
  async finish(input: FinishInput): Promise<FinishResult> {
    // Before the statement, as core checks before reading anything: nothing changes.
    const invalid = invalidSettlement(input);
    if (invalid !== undefined) throw new RangeError(invalid);
    const result = await this.#step('finish', 'high', { ...this.#q.finish, values: finishValues(input) });
    const row = result.rows[0] as AuditAnswer & { r_ok: boolean; r_reason: 'fenced' | 'missing' | null };
    if (row.r_ok) return { ok: true, audit: auditRow(input.audit, row) };
    return {
      ok: false,
      reason: row.r_reason as 'fenced' | 'missing',
      audit: auditRow({ ...input.audit, message: STALE_ATTEMPT }, row),
    };
  }

  async getCheckpoint(id: string): Promise<CheckpointRecord | undefined> {
    const [result] = await this.#single('getCheckpoint', { ...this.#q.getCheckpoint, values: [id] }, true);
    return rowToCheckpoint(result?.rows[0]);
  }

  async getApproval(id: string): Promise<ApprovalRecord | undefined> {
    const data = await this.#approvalData(id);
    return data === undefined ? undefined : storedApproval(data);
  }

  async #approvalData(id: string): Promise<string | undefined> {
    const [result] = await this.#single('getApproval', { ...this.#q.getApproval, values: [id] }, true);
    return (result?.rows[0] as { data: string } | undefined)?.data;
  }

  /**
   * Two statements, no lock between them: read the approval, then (decide_step) lock it, check it
   * is still what was read, write the verdict and the audit row built from it, and lock the
   * audit head last. The audit row is built by the caller from the record (`input.audit`), so it
   * cannot be one statement; if the record changed in between, it is read again.
   */
  async decideApproval(input: ApprovalVerdictInput): Promise<ApprovalRecord | undefined> {
    let data = await this.#approvalData(input.id);
    for (let attempt = 1; ; attempt++) {
      if (data === undefined) return undefined;
      const approval = storedApproval(data);
      if (approval.state !== 'pending') return approval;
      if (attempt > DECIDE_ATTEMPTS) {
        throw new StoreUnavailableError(
          `postgres store (${this.target} decideApproval): approval ${input.id} kept changing; try again`,
        );
      }
      const decided = decidedApproval(approval, input);
      const result = await this.#step('decideApproval', 'high', {
        ...this.#q.decide,
        values: [input.id, data, JSON.stringify(decided), ...auditArgs(input.audit(decided))],
      });
      const row = result.rows[0] as { r_status: 'decided' | 'changed' | 'missing'; r_data: string | null };
      if (row.r_status === 'decided') return decided;
      data = row.r_status === 'missing' ? undefined : (row.r_data as string);
    }
  }

  async getCounter(id: string): Promise<number> {
    const [result] = await this.#single('getCounter', { ...this.#q.getCounter, values: [id] }, true);
    const row = result?.rows[0] as { value: string | number } | undefined;
    return row ? Number(row.value) : 0;
  }

  /** One statement (audit_row): locks the audit head, writes the row, moves the head. */
  async appendAudit(entry: AuditEntry): Promise<AuditRow> {
    return this.#append('appendAudit', entry);
  }

  async #append(label: string, entry: AuditEntry): Promise<AuditRow> {
    const result = await this.#step(label, 'low', { ...this.#q.appendAudit, values: [auditBody(entry)] });
    return auditRow(entry, result.rows[0] as AuditAnswer);
  }

  /** One statement; each filter but code and vendor has an index ordered by seq (schema v3). */
  async readAudit(query: AuditQuery = {}): Promise<AuditRow[]> {
    const [result] = await this.#single('readAudit', auditStatement(this.#t, query), true);
    const rows = (result?.rows ?? []).map((row) => JSON.parse((row as { data: string }).data) as AuditRow);
    // A backwards page was read newest first.
    return isBackwards(query) ? rows.reverse() : rows;
  }

  async auditHead(): Promise<AuditHead | undefined> {
    const [result] = await this.#single('auditHead', { ...this.#q.readHead, values: [] }, true);
    const row = result?.rows[0] as HeadRow | undefined;
    // seq 0 is the row migrate() put there: no audit row was ever appended.
    if (!row || Number(row.seq) === 0) return undefined;
    const anchor =
      row.anchor_seq === null
        ? null
        : { seq: Number(row.anchor_seq), hash: row.anchor_hash as string, hmac: row.anchor_hmac as string };
    return { seq: Number(row.seq), hash: row.hash, anchor };
  }

  /** One UPDATE (rerun safely): it takes the head's row lock, so it waits for an append in progress. */
  async anchorAudit(anchor: AuditAnchor): Promise<void> {
    await this.#single(
      'anchorAudit',
      { ...this.#q.anchorAudit, values: [anchor.seq, anchor.hash, anchor.hmac] },
      true,
    );
  }

  async listPending(options: { now: number; limit?: number }): Promise<CheckpointRecord[]> {
    const [result] = await this.#single(
      'listPending',
      { ...this.#q.listPending, values: [options.now, options.limit ?? PENDING_LIMIT] },
      true,
    );
    return (result?.rows ?? []).map((row) => rowToCheckpoint(row) as CheckpointRecord);
  }

  async listApprovals(query: ApprovalQuery = {}): Promise<ApprovalRecord[]> {
    const [result] = await this.#single(
      'listApprovals',
      {
        ...this.#q.listApprovals,
        values: [
          query.state === undefined ? null : JSON.stringify(query.state),
          query.limit ?? PENDING_LIMIT,
        ],
      },
      true,
    );
    return (result?.rows ?? []).map((row) => storedApproval((row as { data: string }).data));
  }

  /** Stop taking steps; end the pool if the store made it (or `closePool`). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#closePool) await this.#pool.end();
  }

  /**
   * One pipeline step: one statement in autocommit, so its locks last only while the server runs
   * it and commits. Rerun after a deadlock or serialization failure (the statement was rolled
   * back), and once when the connection had failed before it was sent. Never after it may have
   * reached the server: it may have committed.
   */
  async #step(label: string, priority: Priority, statement: Statement): Promise<QueryResult> {
    for (let attempt = 1; ; attempt++) {
      this.#assertOpen();
      let lease: Lease | undefined;
      try {
        lease = await this.#checkout(priority);
        const result = await this.#send(lease, statement);
        this.stats.transactions++;
        lease.release();
        return result;
      } catch (error) {
        if (lease) await this.#abandon(lease, error);
        const again =
          (isRetryable(error) && attempt <= this.#maxRetries) ||
          (attempt === 1 && lease?.reused === true && error instanceof NotSent);
        if (again && !this.#closed) {
          this.stats.retries++;
          await sleep(Math.random() * 5 * attempt);
          continue;
        }
        throw this.#error(error instanceof NotSent ? error.cause : error, label);
      }
    }
  }

  /** One statement outside a transaction. `idempotent`: rerun once if a reused connection had died. */
  async #single(label: string, statement: Statement, idempotent = false): Promise<QueryResult[]> {
    for (let attempt = 1; ; attempt++) {
      this.#assertOpen();
      let lease: Lease | undefined;
      try {
        lease = await this.#checkout('low');
        const result = await this.#send(lease, statement);
        lease.release();
        return [result];
      } catch (error) {
        if (lease) await this.#abandon(lease, error);
        // Never sent: safe to send again. Sent on a connection that then failed: only a read.
        const again = error instanceof NotSent || (idempotent && isConnectionError(error));
        if (again && attempt === 1 && lease?.reused && !this.#closed) {
          this.stats.retries++;
          continue;
        }
        throw this.#error(error instanceof NotSent ? error.cause : error, label);
      }
    }
  }

  async #checkout(priority: Priority): Promise<Lease> {
    const permit = await this.#admission.acquire(priority, this.#queueTimeoutMs);
    let client: PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      permit();
      throw error;
    }
    const reused = this.#seen.has(client);
    this.#seen.add(client);
    const lease: Lease = {
      client,
      reused,
      broken: undefined,
      release: (destroy?: unknown) => {
        client.off('error', onError);
        const reason = destroy ?? lease.broken;
        client.release(reason === undefined ? undefined : reason instanceof Error ? reason : true);
        permit();
      },
    };
    // A checked-out client has no pool listener: without ours, a dropped socket would crash the process.
    const onError = (error: unknown) => {
      lease.broken = error ?? new Error('connection error');
    };
    client.on('error', onError);
    return lease;
  }

  /**
   * Send one statement and wait for its answer. A client that already failed (its connection
   * dropped while it sat in the pool) throws NotSent: the statement never left.
   */
  async #send(lease: Lease, statement: Statement): Promise<QueryResult> {
    const { client } = lease;
    if (lease.broken !== undefined || (client as { _queryable?: boolean })._queryable === false) {
      throw new NotSent('the connection had failed', { cause: lease.broken ?? new Error('not queryable') });
    }
    this.stats.queries++;
    this.stats.roundTrips++;
    return client.query(config(statement));
  }

  /** Statements one after another, each waited for (migrate). */
  async #sendAll(lease: Lease, batch: Statement[]): Promise<QueryResult[]> {
    const results: QueryResult[] = [];
    for (const statement of batch) results.push(await this.#send(lease, statement));
    return results;
  }

  /** Give a client back after a failure: rolled back and reusable, or destroyed. */
  async #abandon(lease: Lease, error: unknown): Promise<void> {
    if (lease.broken !== undefined || error instanceof NotSent || isConnectionError(error)) {
      lease.release(lease.broken ?? error);
      return;
    }
    const status = (lease.client as { getTransactionStatus?: () => string | null }).getTransactionStatus?.();
    if (status === 'I') {
      lease.release();
      return;
    }
    try {
      this.stats.queries++;
      this.stats.roundTrips++;
      await lease.client.query('ROLLBACK');
      lease.release();
    } catch (rollbackError) {
      lease.release(rollbackError);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreUnavailableError(`postgres store (${this.target}) is closed`);
  }

  #error(error: unknown, label: string, hint = ''): StoreUnavailableError {
    if (this.#closed && !StoreUnavailableError.isInstance(error)) {
      return new StoreUnavailableError(`postgres store (${this.target}) is closed`);
    }
    return storeError(error, `${this.target} ${label}`, this.#redactor, hint);
  }
}

type KeyRow = { id: string; data: string; revoked_at: string | number | null };

type HeadRow = {
  seq: string | number;
  hash: string;
  anchor_seq: string | number | null;
  anchor_hash: string | null;
  anchor_hmac: string | null;
};

function rowToKey(row: KeyRow): KeyRecord {
  return {
    ...(JSON.parse(row.data) as KeyRecord),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}

function rowToCheckpoint(row: unknown): CheckpointRecord | undefined {
  const data = (row as { data: string | null } | undefined)?.data;
  return data == null ? undefined : (JSON.parse(data) as CheckpointRecord);
}

function config(s: Statement) {
  return s.name === undefined ? { text: s.text, values: s.values } : s;
}

function parseUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not the URL itself in the message: it may hold a password.
    throw new TypeError('PostgresStore: `url` is not a valid postgres:// URL');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new TypeError(`PostgresStore: \`url\` must start with postgres:// (got ${parsed.protocol}//)`);
  }
  return parsed;
}

/** The fixed statements of one schema, named so each connection parses and plans them once. */
function statements(t: Tables, schema: string) {
  // Names are per connection; the schema is in them because a shared pool may serve two schemas.
  const tag = `sg_${fnv1a(schema)}`;
  const s = (name: string, text: string): Statement => ({ name: `${tag}_${name}`, text, values: [] });
  return {
    insertKey: s(
      'insert_key',
      `INSERT INTO ${t.keys} (id, root_id, data, revoked_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
    ),
    getKey: s('get_key', `SELECT id, data, revoked_at FROM ${t.keys} WHERE id = $1`),
    revokeKey: s(
      'revoke_key',
      `UPDATE ${t.keys} SET revoked_at = coalesce(revoked_at, $1::bigint) WHERE id = $2`,
    ),
    insertToken: s(
      'insert_token',
      `INSERT INTO ${t.tokens} (id, key_id, hash, created_at) VALUES ($1, $2, $3, $4)`,
    ),
    getToken: s('get_token', `SELECT id, key_id, hash, created_at FROM ${t.tokens} WHERE id = $1`),
    getCheckpoint: s(
      'get_checkpoint',
      `SELECT data FROM ${t.checkpoints} WHERE id = $1 AND data IS NOT NULL`,
    ),
    getApproval: s('get_approval', `SELECT data FROM ${t.approvals} WHERE id = $1`),
    listApprovals: s(
      'list_approvals',
      `SELECT data FROM ${t.approvals} WHERE $1::text IS NULL OR ${jsonString('state')} = $1 ` +
        `ORDER BY ${jsonNumber('createdAt')}, id LIMIT $2`,
    ),
    getCounter: s('get_counter', `SELECT value FROM ${t.counters} WHERE id = $1`),
    readHead: s(
      'read_head',
      `SELECT seq, hash, anchor_seq, anchor_hash, anchor_hmac FROM ${t.auditHead} WHERE id`,
    ),
    // Anchors only move forward, and only once there is a row to anchor.
    anchorAudit: s(
      'anchor_audit',
      `UPDATE ${t.auditHead} SET anchor_seq = $1, anchor_hash = $2, anchor_hmac = $3 ` +
        'WHERE id AND seq > 0 AND coalesce(anchor_seq, 0) < $1',
    ),
    // The pipeline steps (functions.ts): one statement each.
    begin: s('begin', `SELECT * FROM ${t.schema}.begin_step(${params(37)})`),
    finish: s('finish', `SELECT * FROM ${t.schema}.finish_step(${params(14)})`),
    decide: s('decide', `SELECT * FROM ${t.schema}.decide_step(${params(10)})`),
    appendAudit: s('append_audit', `SELECT * FROM ${t.schema}.audit_row($1)`),
    // The WHERE on state matches the partial index on (started_at, id).
    listPending: s(
      'list_pending',
      `SELECT data FROM ${t.checkpoints} WHERE state = 'in_progress' AND (outcome_unknown OR lease_until <= $1) ` +
        'ORDER BY started_at, id LIMIT $2',
    ),
  };
}

/** `$1, $2, …, $n`. */
function params(n: number): string {
  return Array.from({ length: n }, (_, i) => `$${i + 1}`).join(', ');
}

function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(36);
}
