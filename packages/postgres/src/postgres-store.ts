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
  appendAuditTx,
  type BeginPlan,
  type BeginResult,
  beginTx,
  type CheckpointRecord,
  checkKeyQuery,
  decideApprovalTx,
  type FinishInput,
  type FinishResult,
  finishTx,
  type KeyQuery,
  type KeyRecord,
  PENDING_LIMIT,
  type PruneOptions,
  type PruneResult,
  type Store,
  type TokenRecord,
} from '@spendguard/core/store-kit';
import pg, { type Pool, type PoolClient, type PoolConfig, type QueryResult } from 'pg';
import { Admission, type Priority } from './admission.ts';
import { isConnectionError, isRetryable, Redactor, storeError } from './errors.ts';
import { type LoadedState, NeedsAuditHead, Overlay, type Statement } from './overlay.ts';
import {
  auditStatement,
  endedWindowsStatement,
  isBackwards,
  keysStatement,
  pruneStatement,
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

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:5432/database?sslmode=…`. Give this or `pool`. */
  url?: string;
  /**
   * An existing `pg.Pool` to use instead of `url`. The timeouts below are then the pool's own
   * business; create it with `pipeline: true` to send each step in two round trips.
   */
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
  /** Reruns of a transaction after a deadlock or serialization failure. Default: 5. */
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
  /** Statements sent, BEGIN and COMMIT included. */
  queries: number;
  /** Waits for the server: a pipelined batch of statements is one round trip. */
  roundTrips: number;
  /** Transactions committed (begin, finish, decideApproval, appendAudit). */
  transactions: number;
  /** Transactions rerun after a deadlock, a serialization failure or a dropped idle connection. */
  retries: number;
  /** New connections the pool opened. */
  connections: number;
}

export const DEFAULT_POSTGRES_SCHEMA = 'spendguard';

interface Lease {
  client: PoolClient;
  pipelined: boolean;
  /** The client served an earlier step: a connection error may mean it died while idle. */
  reused: boolean;
  broken: unknown;
  release(destroy?: unknown): void;
}

interface Read {
  statement: Statement;
  take(result: QueryResult, loaded: LoadedState): void;
}

interface Step<T> {
  label: string;
  priority: Priority;
  reads: Read[];
  run(tx: Overlay): T;
  /** Begin's checkpoint id: delete its lock-only row if no checkpoint was written. */
  placeholder?: string;
}

/** finish changed a counter it had not locked: rolled back, to rerun locking every counter. */
class MustLockCounters extends Error {}

const BEGIN: Statement = { text: 'BEGIN', values: [] };
const COMMIT: Statement = { text: 'COMMIT', values: [] };

/**
 * The Postgres store: one cap, one set of checkpoints, one revocation list and one audit chain
 * for a fleet of processes. Each step is one READ COMMITTED transaction in two round trips:
 * BEGIN and lock-and-load every row the step may touch (pipelined), then core's rules run in
 * memory, then one write statement and COMMIT (pipelined).
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
        pipeline: true,
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
      const [, , , , version] = await this.#send(lease, [
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
      await this.#send(lease, [...pending, COMMIT]);
      lease.release();
      return { from, to: SCHEMA_VERSION };
    } catch (error) {
      if (lease) await this.#abandon(lease, error);
      throw this.#error(error, 'migrate');
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
   * Locks, in this order: the checkpoint row (inserted first if missing, so there is a row to
   * lock), every counter row of the plan's windows and rates (inserted if missing, locked in id
   * order), the key chain FOR SHARE (a revocation waits for it, and later begins see it); then
   * reads the approval and alert marks (guarded by the checkpoint and counter locks). Only a begin
   * that decides without proceeding (deny, replay, approval) also locks the audit head, last.
   */
  async begin(plan: BeginPlan): Promise<BeginResult> {
    const q = this.#q;
    const counters = new Map<string, number | null>();
    for (const w of plan.windows) if (!counters.has(w.id)) counters.set(w.id, w.expiresAt);
    for (const r of plan.rates) if (!counters.has(r.id)) counters.set(r.id, r.expiresAt);
    const counterIds = [...counters.keys()];
    const markIds = plan.windows.flatMap((w) =>
      w.capMicros === null ? [] : w.alerts.map((threshold) => `alert:${w.id}:${threshold}`),
    );
    const reads: Read[] = [
      { statement: { ...q.insertPlaceholder, values: [plan.checkpointId] }, take: () => {} },
      {
        statement: { ...q.lockCheckpoint, values: [plan.checkpointId] },
        take: (result, loaded) => {
          loaded.checkpoints = new Map([[plan.checkpointId, rowToCheckpoint(result.rows[0])]]);
        },
      },
      // After the lock: a prune that deleted this checkpoint has committed its floor by then.
      {
        statement: { ...q.checkpointFloor, values: [] },
        take: (result, loaded) => {
          loaded.checkpointFloor = Number((result.rows[0] as { value: string | number }).value);
        },
      },
    ];
    if (counterIds.length > 0) {
      reads.push(
        { statement: { ...q.insertCounters, values: [counterIds, [...counters.values()]] }, take: () => {} },
        { statement: { ...q.lockCounters, values: [counterIds] }, take: takeCounters(counterIds) },
      );
    }
    reads.push({
      statement: { ...q.shareKeys, values: [plan.chain] },
      take: (result, loaded) => {
        const rows = new Map(result.rows.map((row) => [(row as KeyRow).id, rowToKey(row as KeyRow)]));
        loaded.keys = { ids: plan.chain, rows };
      },
    });
    const approvalId = plan.approval?.id;
    if (approvalId !== undefined || markIds.length > 0) {
      reads.push({
        statement: { ...q.readApprovalAndMarks, values: [approvalId ?? null, markIds] },
        take: (result, loaded) => {
          const present = new Set<string>();
          let approval: ApprovalRecord | undefined;
          for (const row of result.rows as { kind: string; id: string; data: string | null }[]) {
            if (row.kind === 'm') present.add(row.id);
            else approval = JSON.parse(row.data as string) as ApprovalRecord;
          }
          if (approvalId !== undefined) loaded.approvals = new Map([[approvalId, approval]]);
          loaded.marks = { ids: markIds, present };
        },
      });
    }
    return this.#transact({
      label: 'begin',
      priority: 'low',
      reads,
      run: (tx) => beginTx(tx, plan),
      placeholder: plan.checkpointId,
    });
  }

  /**
   * Locks the checkpoint, then the counters it reserved on (id order) if settling changes them
   * (decided in SQL from the locked checkpoint: a failure releases the reservation, a completion
   * at another cost than reserved adjusts it), then the audit head.
   */
  async finish(input: FinishInput): Promise<FinishResult> {
    // core's finishTx refuses this too, but only once rows are locked, and the counter-locking
    // SQL would fail first on NaN or a fraction as a store error; so refuse before the transaction.
    const actual = input.actualMicros;
    if (
      input.outcome === 'completed' &&
      actual !== undefined &&
      !(Number.isSafeInteger(actual) && actual >= 0)
    ) {
      throw new RangeError(
        `the settlement ${actual} is not a finite, non-negative whole number of micro-dollars below 2^53`,
      );
    }
    try {
      return await this.#transact(this.#finishStep(input, false));
    } catch (error) {
      // The rules changed a counter the SQL guess did not lock: rerun, locking them all.
      if (!(error instanceof MustLockCounters)) throw error;
      return this.#transact(this.#finishStep(input, true));
    }
  }

  #finishStep(input: FinishInput, lockAllCounters: boolean): Step<FinishResult> {
    const q = this.#q;
    const counters: Statement = lockAllCounters
      ? { ...q.lockCheckpointCounters, values: [input.checkpointId] }
      : {
          ...q.lockSettledCounters,
          values: [input.checkpointId, input.fencingToken, input.outcome, input.actualMicros ?? null],
        };
    return {
      label: 'finish',
      priority: 'high',
      reads: [
        {
          statement: { ...q.lockCheckpoint, values: [input.checkpointId] },
          take: (result, loaded) => {
            loaded.checkpoints = new Map([[input.checkpointId, rowToCheckpoint(result.rows[0])]]);
          },
        },
        { statement: counters, take: takeCounters([]) },
        { statement: { ...q.lockHead, values: [] }, take: takeHead },
      ],
      run: (tx) => {
        const result = finishTx(tx, input);
        if (!lockAllCounters && tx.changesUnlockedCounter) throw new MustLockCounters();
        return result;
      },
    };
  }

  async getCheckpoint(id: string): Promise<CheckpointRecord | undefined> {
    const [result] = await this.#single('getCheckpoint', { ...this.#q.getCheckpoint, values: [id] }, true);
    return rowToCheckpoint(result?.rows[0]);
  }

  async getApproval(id: string): Promise<ApprovalRecord | undefined> {
    const [result] = await this.#single('getApproval', { ...this.#q.getApproval, values: [id] }, true);
    const row = result?.rows[0] as { data: string } | undefined;
    return row && (JSON.parse(row.data) as ApprovalRecord);
  }

  /** Locks the approval, then the audit head. */
  async decideApproval(input: ApprovalVerdictInput): Promise<ApprovalRecord | undefined> {
    const q = this.#q;
    return this.#transact({
      label: 'decideApproval',
      priority: 'high',
      reads: [
        {
          statement: { ...q.lockApproval, values: [input.id] },
          take: (result, loaded) => {
            const row = result.rows[0] as { data: string } | undefined;
            loaded.approvals = new Map([[input.id, row && (JSON.parse(row.data) as ApprovalRecord)]]);
          },
        },
        { statement: { ...q.lockHead, values: [] }, take: takeHead },
      ],
      run: (tx) => decideApprovalTx(tx, input),
    });
  }

  async getCounter(id: string): Promise<number> {
    const [result] = await this.#single('getCounter', { ...this.#q.getCounter, values: [id] }, true);
    const row = result?.rows[0] as { value: string | number } | undefined;
    return row ? Number(row.value) : 0;
  }

  /** Locks the audit head. */
  async appendAudit(entry: AuditEntry): Promise<AuditRow> {
    return this.#transact({
      label: 'appendAudit',
      priority: 'low',
      reads: [{ statement: { ...this.#q.lockHead, values: [] }, take: takeHead }],
      run: (tx) => appendAuditTx(tx, entry),
    });
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
    return (result?.rows ?? []).map((row) => JSON.parse((row as { data: string }).data) as ApprovalRecord);
  }

  /** Stop taking steps; end the pool if the store made it (or `closePool`). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#closePool) await this.#pool.end();
  }

  /** One atomic step: BEGIN + lock-and-load, run core's rules in memory, write + COMMIT. */
  async #transact<T>(step: Step<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.#assertOpen();
      let lease: Lease | undefined;
      let stage: 'connect' | 'read' | 'write' = 'connect';
      try {
        lease = await this.#checkout(step.priority);
        stage = 'read';
        const results = await this.#send(lease, [BEGIN, ...step.reads.map((r) => r.statement)]);
        const loaded: LoadedState = {};
        step.reads.forEach((read, i) => {
          read.take(results[i + 1] as QueryResult, loaded);
        });
        let tx = new Overlay(loaded);
        let result: T;
        try {
          result = step.run(tx);
        } catch (error) {
          if (!(error instanceof NeedsAuditHead)) throw error;
          // Begin decided to write an audit row (deny, replay): lock the head now, last, and rerun
          // the rules on the same locked rows; they decide the same way.
          const [head] = await this.#send(lease, [{ ...this.#q.lockHead, values: [] }]);
          takeHead(head as QueryResult, loaded);
          tx = new Overlay(loaded);
          result = step.run(tx);
        }
        stage = 'write';
        // Begin inserted a lock-only checkpoint row if there was none: delete it unless filled.
        const placeholder = step.placeholder;
        const absent = placeholder !== undefined && loaded.checkpoints?.get(placeholder) === undefined;
        const write = tx.writeStatement(this.#t, absent ? placeholder : undefined);
        const done = await this.#send(lease, write ? [write, COMMIT] : [COMMIT]);
        if (done.at(-1)?.command !== 'COMMIT') throw new Error('the transaction was rolled back');
        this.stats.transactions++;
        lease.release();
        return result;
      } catch (error) {
        if (lease) await this.#abandon(lease, error);
        if (error instanceof MustLockCounters) throw error;
        const again =
          (isRetryable(error) && attempt <= this.#maxRetries) ||
          (stage === 'read' && attempt === 1 && lease?.reused === true && isConnectionError(error));
        if (again && !this.#closed) {
          this.stats.retries++;
          await sleep(Math.random() * 5 * attempt);
          continue;
        }
        throw this.#error(error, step.label);
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
        const results = await this.#send(lease, [statement]);
        lease.release();
        return results;
      } catch (error) {
        if (lease) await this.#abandon(lease, error);
        if (idempotent && attempt === 1 && lease?.reused && isConnectionError(error) && !this.#closed) {
          this.stats.retries++;
          continue;
        }
        throw this.#error(error, label);
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
      pipelined: (client as { pipeline?: boolean }).pipeline === true,
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

  /** Send statements and wait for all answers: one round trip when the client pipelines. */
  async #send(lease: Lease, batch: Statement[]): Promise<QueryResult[]> {
    const { client } = lease;
    this.stats.queries += batch.length;
    if (!lease.pipelined) {
      const results: QueryResult[] = [];
      for (const s of batch) {
        this.stats.roundTrips++;
        results.push(await client.query(config(s)));
      }
      return results;
    }
    this.stats.roundTrips++;
    // Corked, the batch leaves in one write instead of one per statement.
    const stream = (client as { connection?: { stream?: { cork?(): void; uncork?(): void } } }).connection
      ?.stream;
    stream?.cork?.();
    let pending: Promise<QueryResult>[];
    try {
      pending = batch.map((s) => client.query(config(s)));
    } finally {
      stream?.uncork?.();
    }
    const settled = await Promise.allSettled(pending);
    // The first failure is the cause; the statements after it only report the aborted transaction.
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<QueryResult>).value);
  }

  /** Give a client back after a failure: rolled back and reusable, or destroyed. */
  async #abandon(lease: Lease, error: unknown): Promise<void> {
    if (lease.broken !== undefined || isConnectionError(error)) {
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

  #error(error: unknown, label: string): StoreUnavailableError {
    if (this.#closed && !StoreUnavailableError.isInstance(error)) {
      return new StoreUnavailableError(`postgres store (${this.target}) is closed`);
    }
    return storeError(error, `${this.target} ${label}`, this.#redactor);
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

function takeCounters(ids: readonly string[]) {
  return (result: QueryResult, loaded: LoadedState) => {
    const counters = new Map<string, number>(ids.map((id) => [id, 0]));
    for (const row of result.rows as { id: string; value: string | number }[]) {
      counters.set(row.id, Number(row.value));
    }
    loaded.counters = counters;
  };
}

function takeHead(result: QueryResult, loaded: LoadedState): void {
  const row = result.rows[0] as { seq: string | number; hash: string } | undefined;
  if (!row) throw new Error('the audit head row is missing: run `await store.migrate()`');
  loaded.head = { seq: Number(row.seq), hash: row.hash };
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
    insertPlaceholder: s(
      'insert_placeholder',
      `INSERT INTO ${t.checkpoints} (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`,
    ),
    lockCheckpoint: s('lock_checkpoint', `SELECT data FROM ${t.checkpoints} WHERE id = $1 FOR UPDATE`),
    insertCounters: s(
      'insert_counters',
      `INSERT INTO ${t.counters} (id, value, expires_at) ` +
        'SELECT id, 0, expires_at FROM unnest($1::text[], $2::bigint[]) AS n(id, expires_at) ORDER BY id COLLATE "C" ' +
        'ON CONFLICT (id) DO NOTHING',
    ),
    lockCounters: s(
      'lock_counters',
      `SELECT id, value FROM ${t.counters} WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
    ),
    // These two run after lock_checkpoint in the same round trip, so they see the locked row.
    // Mirrors finishTx: counters change when a live attempt fails with money reserved, or
    // completes at a cost other than the reservation; otherwise nothing is locked.
    lockSettledCounters: s(
      'lock_settled_counters',
      `SELECT id, value FROM ${t.counters} WHERE id = ANY(ARRAY(SELECT unnest(windows) FROM ${t.checkpoints} ` +
        "WHERE id = $1 AND state = 'in_progress' AND fencing_token = $2 AND CASE $3::text " +
        "WHEN 'completed' THEN reserved_micros <> coalesce($4::bigint, reserved_micros) " +
        "WHEN 'failed' THEN reserved_micros <> 0 ELSE false END)) ORDER BY id FOR UPDATE",
    ),
    lockCheckpointCounters: s(
      'lock_checkpoint_counters',
      `SELECT id, value FROM ${t.counters} WHERE id = ANY(ARRAY(SELECT unnest(windows) FROM ${t.checkpoints} WHERE id = $1)) ` +
        'ORDER BY id FOR UPDATE',
    ),
    shareKeys: s(
      'share_keys',
      `SELECT id, data, revoked_at FROM ${t.keys} WHERE id = ANY($1::text[]) ORDER BY id FOR SHARE`,
    ),
    readApprovalAndMarks: s(
      'read_approval_marks',
      `SELECT 'a' AS kind, id, data FROM ${t.approvals} WHERE id = $1::text ` +
        `UNION ALL SELECT 'm', id, NULL FROM ${t.marks} WHERE id = ANY($2::text[])`,
    ),
    getApproval: s('get_approval', `SELECT data FROM ${t.approvals} WHERE id = $1`),
    listApprovals: s(
      'list_approvals',
      `SELECT data FROM ${t.approvals} WHERE $1::text IS NULL OR ${jsonString('state')} = $1 ` +
        `ORDER BY ${jsonNumber('createdAt')}, id LIMIT $2`,
    ),
    lockApproval: s('lock_approval', `SELECT data FROM ${t.approvals} WHERE id = $1 FOR UPDATE`),
    getCounter: s('get_counter', `SELECT value FROM ${t.counters} WHERE id = $1`),
    lockHead: s('lock_head', `SELECT seq, hash FROM ${t.auditHead} WHERE id FOR UPDATE`),
    checkpointFloor: s('checkpoint_floor', `SELECT value FROM ${t.checkpointFloor} WHERE id`),
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
    // The WHERE on state matches the partial index on (started_at, id).
    listPending: s(
      'list_pending',
      `SELECT data FROM ${t.checkpoints} WHERE state = 'in_progress' AND (outcome_unknown OR lease_until <= $1) ` +
        'ORDER BY started_at, id LIMIT $2',
    ),
  };
}

function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(36);
}
