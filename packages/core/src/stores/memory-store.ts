import type { ApprovalRecord, AuditRow, CheckpointRecord, KeyRecord, TokenRecord } from '../store.ts';
import type { StateTx } from './state-tx.ts';
import { TransactionalStore } from './transactional-store.ts';

/**
 * Everything in this process's memory: for tests and single-process use. Each step runs
 * synchronously, so no other call can interleave with it.
 */
export class MemoryStore extends TransactionalStore {
  readonly kind = 'memory';
  readonly #keys = new Map<string, KeyRecord>();
  readonly #tokens = new Map<string, TokenRecord>();
  readonly #checkpoints = new Map<string, CheckpointRecord>();
  readonly #counters = new Map<string, number>();
  readonly #approvals = new Map<string, ApprovalRecord>();
  readonly #marks = new Set<string>();
  readonly #audit: AuditRow[] = [];
  #closed = false;

  readonly #tx: StateTx = {
    getKey: (id) => this.#keys.get(id),
    getCheckpoint: (id) => this.#checkpoints.get(id),
    putCheckpoint: (checkpoint) => void this.#checkpoints.set(checkpoint.id, checkpoint),
    getCounter: (id) => this.#counters.get(id) ?? 0,
    addCounter: (id, delta) => void this.#counters.set(id, (this.#counters.get(id) ?? 0) + delta),
    getApproval: (id) => this.#approvals.get(id),
    putApproval: (approval) => void this.#approvals.set(approval.id, approval),
    hasMark: (id) => this.#marks.has(id),
    putMark: (id) => void this.#marks.add(id),
    lastAudit: () => this.#audit.at(-1),
    insertAudit: (row) => void this.#audit.push(row),
  };

  protected transaction<T>(fn: (tx: StateTx) => T): T {
    if (this.#closed) throw new Error('memory store is closed');
    // Records are replaced, never mutated, so a throw part-way leaves earlier writes only if
    // fn wrote before throwing; the pipeline's functions check everything before writing.
    return fn(this.#tx);
  }

  async insertKey(key: KeyRecord): Promise<void> {
    if (!this.#keys.has(key.id)) this.#keys.set(key.id, key);
  }

  async getKey(id: string): Promise<KeyRecord | undefined> {
    return this.#keys.get(id);
  }

  async listKeys(): Promise<KeyRecord[]> {
    return [...this.#keys.values()];
  }

  async revokeKey(id: string, at: number): Promise<boolean> {
    const key = this.#keys.get(id);
    if (!key) return false;
    if (key.revokedAt === null) this.#keys.set(id, { ...key, revokedAt: at });
    return true;
  }

  async insertToken(token: TokenRecord): Promise<void> {
    this.#tokens.set(token.id, token);
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    return this.#tokens.get(id);
  }

  async readAudit(options: { afterSeq?: number; limit?: number } = {}): Promise<AuditRow[]> {
    const after = options.afterSeq ?? 0;
    return this.#audit.filter((row) => row.seq > after).slice(0, options.limit ?? Number.POSITIVE_INFINITY);
  }

  /** For tests of `verify`: the live rows, so a test can tamper with one. */
  auditRowsForTesting(): AuditRow[] {
    return this.#audit;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
