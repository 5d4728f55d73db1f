import type {
  ApprovalQuery,
  ApprovalRecord,
  ApprovalVerdictInput,
  AuditAnchor,
  AuditEntry,
  AuditHead,
  AuditQuery,
  AuditRow,
  BeginPlan,
  BeginResult,
  CheckpointRecord,
  FinishInput,
  FinishResult,
  KeyQuery,
  KeyRecord,
  PruneOptions,
  PruneResult,
  Store,
  TokenRecord,
} from '../store.ts';
import { appendAuditTx, beginTx, decideApprovalTx, finishTx, type StateTx } from './state-tx.ts';

/** How many checkpoints `listPending` returns when the caller gives no limit. */
export const PENDING_LIMIT = 100;

/**
 * A store whose backend can run a synchronous function inside one transaction (memory, SQLite).
 * The pipeline's rules run inside it, so each public step is one atomic operation.
 */
export abstract class TransactionalStore implements Store {
  abstract readonly kind: string;

  /** Run `fn` atomically: all of its writes land, or (if it throws) none do. */
  protected abstract transaction<T>(fn: (tx: StateTx) => T): T;

  /** Run a read-only `fn`; a backend may skip the write lock a transaction takes. */
  protected read<T>(fn: (tx: StateTx) => T): T {
    return this.transaction(fn);
  }

  abstract insertKey(key: KeyRecord): Promise<void>;
  abstract getKey(id: string): Promise<KeyRecord | undefined>;
  abstract listKeys(query?: KeyQuery): Promise<KeyRecord[]>;
  abstract revokeKey(id: string, at: number): Promise<boolean>;
  abstract insertToken(token: TokenRecord): Promise<void>;
  abstract getToken(id: string): Promise<TokenRecord | undefined>;
  abstract readAudit(query?: AuditQuery): Promise<AuditRow[]>;
  abstract auditHead(): Promise<AuditHead | undefined>;
  abstract anchorAudit(anchor: AuditAnchor): Promise<void>;
  abstract listPending(options: { now: number; limit?: number }): Promise<CheckpointRecord[]>;
  abstract listApprovals(query?: ApprovalQuery): Promise<ApprovalRecord[]>;
  abstract prune(options: PruneOptions): Promise<PruneResult>;
  abstract close(): Promise<void>;

  async begin(plan: BeginPlan): Promise<BeginResult> {
    return this.transaction((tx) => beginTx(tx, plan));
  }

  async finish(input: FinishInput): Promise<FinishResult> {
    return this.transaction((tx) => finishTx(tx, input));
  }

  async getCheckpoint(id: string): Promise<CheckpointRecord | undefined> {
    return this.read((tx) => tx.getCheckpoint(id));
  }

  async getApproval(id: string): Promise<ApprovalRecord | undefined> {
    return this.read((tx) => tx.getApproval(id));
  }

  async decideApproval(input: ApprovalVerdictInput): Promise<ApprovalRecord | undefined> {
    return this.transaction((tx) => decideApprovalTx(tx, input));
  }

  async getCounter(id: string): Promise<number> {
    return this.read((tx) => tx.getCounter(id));
  }

  async appendAudit(entry: AuditEntry): Promise<AuditRow> {
    return this.transaction((tx) => appendAuditTx(tx, entry));
  }
}
