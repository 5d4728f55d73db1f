import {
  type ApprovalRecord,
  type AuditRow,
  type CheckpointRecord,
  checkpointPrunableAt,
  type KeyRecord,
  type StateTx,
} from '@spendguard/core/store-kit';
import type { Tables } from './schema.ts';

/** Thrown by `auditHead()` when the step did not lock the audit head up front; the store locks it and reruns. */
export class NeedsAuditHead extends Error {
  constructor() {
    super('the audit head is not loaded');
    this.name = 'NeedsAuditHead';
  }
}

/** What a step read (and locked) in its first round trip. Reads outside of it are a bug. */
export interface LoadedState {
  keys?: { ids: readonly string[]; rows: Map<string, KeyRecord> };
  checkpoints?: Map<string, CheckpointRecord | undefined>;
  counters?: Map<string, number>;
  approvals?: Map<string, ApprovalRecord | undefined>;
  marks?: { ids: readonly string[]; present: Set<string> };
  head?: { seq: number; hash: string };
  checkpointFloor?: number;
}

export interface Statement {
  text: string;
  values: unknown[];
  name?: string;
}

/**
 * An in-memory `StateTx` over rows one transaction has locked and loaded: core's synchronous
 * rules (`beginTx`, `finishTx`, …) run against it, and it records their writes, which the store
 * then sends as one statement before COMMIT.
 */
export class Overlay implements StateTx {
  readonly #loaded: LoadedState;
  readonly #checkpoints = new Map<string, CheckpointRecord>();
  readonly #counters = new Map<string, number>();
  readonly #deltas = new Map<string, { delta: number; expiresAt: number | null }>();
  readonly #approvals = new Map<string, ApprovalRecord>();
  readonly #marks = new Map<string, number | null>();
  readonly #audit: AuditRow[] = [];
  #head: { seq: number; hash: string } | undefined;

  constructor(loaded: LoadedState) {
    this.#loaded = loaded;
    this.#head = loaded.head;
  }

  getKey(id: string): KeyRecord | undefined {
    const keys = this.#loaded.keys;
    if (!keys?.ids.includes(id)) throw notLoaded('key', id);
    return keys.rows.get(id);
  }

  getCheckpoint(id: string): CheckpointRecord | undefined {
    const written = this.#checkpoints.get(id);
    if (written) return written;
    const loaded = this.#loaded.checkpoints;
    if (!loaded?.has(id)) throw notLoaded('checkpoint', id);
    return loaded.get(id);
  }

  putCheckpoint(checkpoint: CheckpointRecord): void {
    this.#checkpoints.set(checkpoint.id, checkpoint);
  }

  getCounter(id: string): number {
    const written = this.#counters.get(id);
    if (written !== undefined) return written;
    const loaded = this.#loaded.counters?.get(id);
    if (loaded === undefined) throw notLoaded('counter', id);
    return loaded;
  }

  addCounter(id: string, delta: number, expiresAt: number | null): void {
    // Applied as value + delta in SQL: a counter need not be loaded to be added to (finish).
    const pending = this.#deltas.get(id);
    this.#deltas.set(id, {
      delta: (pending?.delta ?? 0) + delta,
      expiresAt: pending?.expiresAt ?? expiresAt,
    });
    const current = this.#counters.get(id) ?? this.#loaded.counters?.get(id);
    if (current !== undefined) this.#counters.set(id, current + delta);
  }

  getApproval(id: string): ApprovalRecord | undefined {
    const written = this.#approvals.get(id);
    if (written) return written;
    const loaded = this.#loaded.approvals;
    if (!loaded?.has(id)) throw notLoaded('approval', id);
    return loaded.get(id);
  }

  putApproval(approval: ApprovalRecord): void {
    this.#approvals.set(approval.id, approval);
  }

  hasMark(id: string): boolean {
    if (this.#marks.has(id)) return true;
    const marks = this.#loaded.marks;
    if (!marks?.ids.includes(id)) throw notLoaded('mark', id);
    return marks.present.has(id);
  }

  putMark(id: string, expiresAt: number | null): void {
    this.#marks.set(id, expiresAt);
  }

  auditHead(): { seq: number; hash: string } | undefined {
    if (!this.#head) throw new NeedsAuditHead();
    return this.#head.seq === 0 ? undefined : this.#head;
  }

  insertAudit(row: AuditRow): void {
    this.#audit.push(row);
    this.#head = { seq: row.seq, hash: row.hash };
  }

  checkpointFloor(): number {
    const floor = this.#loaded.checkpointFloor;
    if (floor === undefined) throw notLoaded('checkpoint floor', 'value');
    return floor;
  }

  /** Whether the rules changed a counter this step did not lock (so it must rerun locking them). */
  get changesUnlockedCounter(): boolean {
    for (const [id, { delta }] of this.#deltas)
      if (delta !== 0 && !this.#loaded.counters?.has(id)) return true;
    return false;
  }

  /**
   * Every write as one statement (data-modifying CTEs), or undefined when nothing changed.
   * `dropPlaceholder`: delete this checkpoint id's lock-only row unless a checkpoint was written.
   */
  writeStatement(t: Tables, dropPlaceholder?: string): Statement | undefined {
    const parts: string[] = [];
    const values: unknown[] = [];
    const p = (value: unknown, cast = '') => {
      values.push(value);
      return `$${values.length}${cast}`;
    };
    for (const c of this.#checkpoints.values()) {
      parts.push(
        `INSERT INTO ${t.checkpoints} AS c (id, state, fencing_token, reserved_micros, windows, ` +
          'outcome_unknown, lease_until, started_at, prunable_at, data) ' +
          `VALUES (${p(c.id)}, ${p(c.state)}, ${p(c.fencingToken)}, ${p(c.reservedMicros)}, ${p(c.windows, '::text[]')}, ` +
          `${p(c.outcomeUnknown)}, ${p(c.leaseUntil)}, ${p(c.startedAt)}, ${p(checkpointPrunableAt(c))}, ${p(JSON.stringify(c))}) ` +
          'ON CONFLICT (id) DO UPDATE SET state = excluded.state, fencing_token = excluded.fencing_token, ' +
          'reserved_micros = excluded.reserved_micros, windows = excluded.windows, ' +
          'outcome_unknown = excluded.outcome_unknown, lease_until = excluded.lease_until, ' +
          'started_at = excluded.started_at, prunable_at = excluded.prunable_at, data = excluded.data',
      );
    }
    if (dropPlaceholder !== undefined && !this.#checkpoints.has(dropPlaceholder)) {
      parts.push(`DELETE FROM ${t.checkpoints} WHERE id = ${p(dropPlaceholder)} AND data IS NULL`);
    }
    const deltas = [...this.#deltas].filter(([, d]) => d.delta !== 0);
    if (deltas.length > 0) {
      parts.push(
        `INSERT INTO ${t.counters} AS c (id, value, expires_at) ` +
          `SELECT * FROM unnest(${p(
            deltas.map(([id]) => id),
            '::text[]',
          )}, ${p(
            deltas.map(([, d]) => d.delta),
            '::bigint[]',
          )}, ${p(
            deltas.map(([, d]) => d.expiresAt),
            '::bigint[]',
          )}) ` +
          'ON CONFLICT (id) DO UPDATE SET value = c.value + excluded.value',
      );
    }
    for (const a of this.#approvals.values()) {
      parts.push(
        `INSERT INTO ${t.approvals} (id, data) VALUES (${p(a.id)}, ${p(JSON.stringify(a))}) ` +
          'ON CONFLICT (id) DO UPDATE SET data = excluded.data',
      );
    }
    if (this.#marks.size > 0) {
      parts.push(
        `INSERT INTO ${t.marks} (id, expires_at) SELECT * FROM unnest(${p(
          [...this.#marks.keys()],
          '::text[]',
        )}, ${p([...this.#marks.values()], '::bigint[]')}) ON CONFLICT (id) DO NOTHING`,
      );
    }
    if (this.#audit.length > 0) {
      const rows = this.#audit;
      const last = rows.at(-1) as AuditRow;
      parts.push(
        `INSERT INTO ${t.audit} (seq, hash, data) SELECT * FROM unnest(${p(
          rows.map((r) => r.seq),
          '::bigint[]',
        )}, ${p(
          rows.map((r) => r.hash),
          '::text[]',
        )}, ${p(
          rows.map((r) => JSON.stringify(r)),
          '::text[]',
        )})`,
      );
      parts.push(`UPDATE ${t.auditHead} SET seq = ${p(last.seq)}, hash = ${p(last.hash)} WHERE id`);
    }
    if (parts.length === 0) return undefined;
    if (parts.length === 1) return { text: parts[0] as string, values };
    return { text: `WITH ${parts.map((sql, i) => `w${i} AS (${sql})`).join(', ')} SELECT 1`, values };
  }
}

function notLoaded(what: string, id: string): Error {
  return new Error(`postgres store bug: ${what} ${id} was read but not loaded by this step`);
}
