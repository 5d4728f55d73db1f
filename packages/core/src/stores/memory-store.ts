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
import { auditPage, checkKeyQuery, matchesAuditQuery, matchesKeyQuery } from './queries.ts';
import {
  isPrunableApproval,
  isPrunableCheckpoint,
  isPrunableToken,
  raiseCheckpointFloor,
} from './retention.ts';
import type { StateTx } from './state-tx.ts';
import { PENDING_LIMIT, TransactionalStore } from './transactional-store.ts';

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
  #head: { seq: number; hash: string } | undefined;
  #anchor: AuditAnchor | null = null;
  #checkpointFloor = 1;
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
    auditHead: () => this.#head,
    insertAudit: (row) => {
      this.#audit.push(row);
      this.#head = { seq: row.seq, hash: row.hash };
    },
    checkpointFloor: () => this.#checkpointFloor,
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

  async listKeys(query: KeyQuery = {}): Promise<KeyRecord[]> {
    checkKeyQuery(query);
    const keys = [...this.#keys.values()]
      .filter((key) => matchesKeyQuery(key, query))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return query.limit === undefined ? keys : keys.slice(0, query.limit);
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

  async readAudit(query: AuditQuery = {}): Promise<AuditRow[]> {
    return auditPage(
      this.#audit.filter((row) => matchesAuditQuery(row, query)),
      query,
    );
  }

  async auditHead(): Promise<AuditHead | undefined> {
    return this.#head && { ...this.#head, anchor: this.#anchor };
  }

  async anchorAudit(anchor: AuditAnchor): Promise<void> {
    if (this.#head && anchor.seq > (this.#anchor?.seq ?? 0)) this.#anchor = { ...anchor };
  }

  async listPending(options: { now: number; limit?: number }): Promise<CheckpointRecord[]> {
    return [...this.#checkpoints.values()]
      .filter((c) => c.state === 'in_progress' && (c.outcomeUnknown || c.leaseUntil <= options.now))
      .sort((a, b) => a.startedAt - b.startedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, options.limit ?? PENDING_LIMIT);
  }

  async listApprovals(query: ApprovalQuery = {}): Promise<ApprovalRecord[]> {
    return [...this.#approvals.values()]
      .filter((a) => query.state === undefined || a.state === query.state)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, query.limit ?? PENDING_LIMIT)
      .map((a) => ({ ...a }));
  }

  async prune(options: PruneOptions): Promise<PruneResult> {
    return this.transaction(() => {
      const { now, approvalsOlderThanMs } = options;
      let tokens = 0;
      for (const [id, token] of this.#tokens) {
        if (isPrunableToken(this.#keys.get(token.keyId), now) && this.#tokens.delete(id)) tokens++;
      }
      const checkpoints = [...this.#checkpoints.values()].filter((c) => isPrunableCheckpoint(c, now));
      for (const checkpoint of checkpoints) this.#checkpoints.delete(checkpoint.id);
      this.#checkpointFloor = raiseCheckpointFloor(this.#checkpointFloor, checkpoints);
      let approvals = 0;
      if (approvalsOlderThanMs !== undefined) {
        for (const [id, approval] of this.#approvals) {
          if (isPrunableApproval(approval, now, approvalsOlderThanMs) && this.#approvals.delete(id))
            approvals++;
        }
      }
      return { tokens, checkpoints: checkpoints.length, approvals };
    });
  }

  /** For tests of `verify`: the live rows, so a test can tamper with one. */
  auditRowsForTesting(): AuditRow[] {
    return this.#audit;
  }

  /** For tests of `verify`: overwrite the head, as an attacker rewriting the whole chain would. */
  setAuditHeadForTesting(head: AuditHead): void {
    this.#head = { seq: head.seq, hash: head.hash };
    this.#anchor = head.anchor;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
