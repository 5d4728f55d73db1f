import type { Narrowing } from './policy.ts';

/**
 * The one store interface. `begin` and `finish` are each one atomic operation: every backend
 * (memory, SQLite, Redis, Postgres) must make all of their reads and writes happen together or
 * not at all, across every process that shares the store. Policy, hashing and clocks live above
 * the store, in the guard; the store only keeps state and applies the plan it is given.
 */
export interface Store {
  /** Short backend name for errors and benchmarks (`memory`, `sqlite`, …). */
  readonly kind: string;

  insertKey(key: KeyRecord): Promise<void>;
  getKey(id: string): Promise<KeyRecord | undefined>;
  /**
   * Keys matching `query`, ordered by id (byte order; the guard's ids are ASCII). Without a
   * query, every key. Page with `afterId` (the last id of the previous page) and `limit`.
   */
  listKeys(query?: KeyQuery): Promise<KeyRecord[]>;
  /** Mark a key revoked; descendants are refused because begin checks the whole chain. */
  revokeKey(id: string, at: number): Promise<boolean>;
  insertToken(token: TokenRecord): Promise<void>;
  getToken(id: string): Promise<TokenRecord | undefined>;

  begin(plan: BeginPlan): Promise<BeginResult>;
  finish(input: FinishInput): Promise<FinishResult>;
  getCheckpoint(id: string): Promise<CheckpointRecord | undefined>;

  getApproval(id: string): Promise<ApprovalRecord | undefined>;
  /** Record a human's verdict on a pending approval, with its audit row, atomically. */
  decideApproval(input: ApprovalVerdictInput): Promise<ApprovalRecord | undefined>;

  /** Spent-or-reserved micro-dollars in a window (`<keyId>:life`, `<keyId>:day:2026-11-24`, …). */
  getCounter(id: string): Promise<number>;

  /**
   * Append one row. A store that links rows after the append (Redis) returns it before its links
   * are known; `readAudit` and `auditHead` always show it linked.
   */
  appendAudit(entry: AuditEntry): Promise<AppendedRow>;
  /** Audit rows matching `query`, always in seq order; see AuditQuery for paging. */
  readAudit(query?: AuditQuery): Promise<AuditRow[]>;
  /**
   * The chain head: the seq and hash of the newest row, updated in the same atomic step as every
   * append (so deleting the newest rows, or all of them, is detected), and the latest anchor.
   * Undefined when no row was ever appended.
   */
  auditHead(): Promise<AuditHead | undefined>;
  /**
   * Record an anchor: an HMAC of a head, made with a key the store never holds. Kept only if its
   * seq is above the anchor already recorded (anchors only move forward).
   */
  anchorAudit(anchor: AuditAnchor): Promise<void>;

  /**
   * Checkpoints nobody is finishing: in progress with an unknown outcome, or whose lease has
   * ended (`leaseUntil <= now`), oldest `startedAt` first (then by id), at most `limit` (default
   * 100). What a person reconciles (`guard.reconcile`).
   */
  listPending(options: { now: number; limit?: number }): Promise<CheckpointRecord[]>;
  /**
   * Approvals, oldest `createdAt` first (then by id), at most `limit` (default 100); only those
   * in `state` when given. What a person approves or denies (`guard.approvals.list`).
   */
  listApprovals(query?: ApprovalQuery): Promise<ApprovalRecord[]>;

  /**
   * Retention: delete what no call can need any more, and say how much. Tokens of keys that are
   * revoked, expired at `now` or missing (such a token could only fail to authenticate);
   * checkpoints completed or failed at least their dedup window ago (`completedAt +
   * dedupWindowMs <= now`: begin would no longer replay them), never one in progress; and, with
   * `approvalsOlderThanMs`, approvals decided that long ago, unless still able to admit their
   * call. A checkpoint begun again after it was pruned starts above every generation and fencing
   * token a pruned one used, so it gets a new vendor idempotency key. The audit log is never
   * pruned: it is the record.
   */
  prune(options: PruneOptions): Promise<PruneResult>;

  close(): Promise<void>;
}

/**
 * Which audit rows `readAudit` returns. Every filter given must match (AND); `decision` may list
 * several (OR among them; an empty list matches nothing). Rows come in seq order. Page forwards
 * with `afterSeq` = the last seq of the previous page; backwards with `beforeSeq` = the first seq
 * of the previous page.
 */
export interface AuditQuery {
  /** Only rows with seq above this. */
  afterSeq?: number;
  /** Only rows with seq below this. */
  beforeSeq?: number;
  /**
   * At most this many rows: the oldest matching rows (above `afterSeq`), or, when `beforeSeq` is
   * given, the newest matching rows below it. Default: no limit.
   */
  limit?: number;
  keyId?: string;
  rootKeyId?: string;
  runId?: string;
  decision?: Decision | readonly Decision[];
  code?: string;
  vendor?: string;
  /**
   * Only rows of this trace: rows whose `traceId` equals it, or begins with it followed by `;`
   * (the parts adapters add after a framework's trace id: `trace_abc;group=g1` for the OpenAI
   * Agents SDK, `<traceid>;thread=t;resource=r` for Mastra). So `trace_abc` finds `trace_abc`
   * and `trace_abc;group=g1`, never `trace_abcd` nor `trace_ab`; `a1b2;thread=t` finds
   * `a1b2;thread=t;resource=r`. Compared exactly, case and all: `%`, `_`, `*`, `\` and the like
   * are plain characters, never a pattern. Rows without a trace id never match.
   */
  traceId?: string;
  /** Only rows with `time >= fromTime` (ms, inclusive). */
  fromTime?: number;
  /** Only rows with `time < toTime` (ms, exclusive), so consecutive ranges never overlap. */
  toTime?: number;
}

/**
 * A key's own state at a time: `revoked` once its record is revoked, else `expired` once
 * `expiresAt <= now`, else `active`. A key derived from a revoked key is refused by begin (which
 * checks the chain) but keeps its own state here.
 */
export type KeyState = 'active' | 'revoked' | 'expired';

/** Which keys `listKeys` returns. Every filter given must match. */
export interface KeyQuery {
  rootId?: string;
  /** Keys derived directly from this key; `null`: root keys only. */
  parentId?: string | null;
  runId?: string;
  state?: KeyState;
  /** The time `state` is judged at (ms). Required with `state`: stores keep no clock. */
  now?: number;
  /** Only keys whose id sorts after this one. */
  afterId?: string;
  /** At most this many keys. Default: no limit. */
  limit?: number;
}

export interface PruneOptions {
  now: number;
  /** Delete approvals decided at least this long before `now`. Omitted: approvals are kept. */
  approvalsOlderThanMs?: number;
}

/** How many records `prune` deleted. */
export interface PruneResult {
  tokens: number;
  checkpoints: number;
  approvals: number;
}

export interface KeyRecord {
  id: string;
  /** Null for a root key. */
  parentId: string | null;
  rootId: string;
  /** Ids from the root down to this key (this key last). */
  chain: string[];
  /** Name of the policy in the document (inherited by derived keys). */
  policy: string;
  /** How a derived key narrows its parent; null for roots. */
  narrowing: Narrowing | null;
  name: string | null;
  runId: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

export interface TokenRecord {
  id: string;
  keyId: string;
  /** sha256 of the token's secret part; the token itself is never stored. */
  hash: string;
  createdAt: number;
}

export type CheckpointState = 'in_progress' | 'completed' | 'failed';

export interface CheckpointRecord {
  /** Storage id: hash of the root key id and the checkpoint key. */
  id: string;
  key: string;
  fingerprint: string;
  state: CheckpointState;
  /** The last attempt's outcome is unknown (timeout, crash): the reservation is kept. */
  outcomeUnknown: boolean;
  /** Bumps when a new attempt starts after a sure failure or after the dedup window. */
  generation: number;
  /** Bumps on every attempt, including a takeover after the lease; finish must present it. */
  fencingToken: number;
  leaseUntil: number;
  keyId: string;
  reservedMicros: number;
  /** Counter ids the reservation was added to. */
  windows: string[];
  startedAt: number;
  completedAt: number | null;
  /**
   * The dedup window in force when this attempt began: once settled, the checkpoint may be
   * pruned at `completedAt + dedupWindowMs`. Absent on checkpoints written before it was
   * recorded; those are never pruned.
   */
  dedupWindowMs?: number;
  /** JSON of the vendor call's result once completed. */
  result: string | null;
  actualMicros: number | null;
  error: { message: string; status?: number } | null;
  /** The vendor and operation (`POST /v1/refunds`) of the call, for people reading pending work. */
  vendor: string | null;
  operation: string | null;
}

export interface CapWindow {
  /** Counter id. */
  id: string;
  keyId: string;
  /** `call`, `run`, `key`, `hour`, `day`. */
  label: string;
  /** Null: counted but not capped. */
  capMicros: number | null;
  /** Alert thresholds (percent of the cap) for this window. */
  alerts: readonly number[];
  expiresAt: number | null;
}

export interface BeginPlan {
  now: number;
  /** Key ids to check for revocation (the key and all ancestors). */
  chain: string[];
  keyId: string;
  checkpointId: string;
  checkpointKey: string;
  fingerprint: string;
  leaseMs: number;
  dedupWindowMs: number;
  /** The vendor deduplicates on our idempotency key, so an unknown outcome may be re-sent. */
  vendorIdempotent: boolean;
  /** Not a whole number from 0 to 2^53 - 1 (nor is a window's cap): begin denies `amount_invalid`. */
  costMicros: number;
  windows: CapWindow[];
  rates: { id: string; keyId: string; limit: number; expiresAt: number }[];
  /**
   * Set when policy wants a human's yes for this call. An approved record admits this call only
   * when it is unused, unexpired (`decidedAt + ttlMs > now`), has the same fingerprint and
   * `plan.costMicros <= costMicros`; otherwise it is replaced by a fresh pending record (same
   * id) and begin answers needs_approval again. Admitting the call sets `usedAt`.
   */
  approval: Omit<ApprovalRecord, 'state' | 'decidedAt' | 'decidedBy' | 'reason' | 'usedAt'> | null;
  /** The audit row written when begin itself decides (denied, replayed, needs_approval). */
  audit: AuditEntry;
}

export interface AlertEvent {
  keyId: string;
  window: string;
  windowId: string;
  thresholdPercent: number;
  capUsd: number;
  usedUsd: number;
}

export type BeginResult =
  | { kind: 'proceed'; checkpoint: CheckpointRecord; alerts: AlertEvent[]; resumed: boolean }
  | { kind: 'replay'; checkpoint: CheckpointRecord }
  | { kind: 'wait'; checkpoint: CheckpointRecord }
  | { kind: 'denied'; code: StoreDenyCode; message: string }
  | { kind: 'needs_approval'; approvalId: string };

export type StoreDenyCode =
  | 'amount_invalid'
  | 'key_revoked'
  | 'idempotency_mismatch'
  | 'outcome_unknown'
  | 'rate_limited'
  | 'cap_exceeded'
  | 'approval_denied';

export interface FinishInput {
  now: number;
  checkpointId: string;
  fencingToken: number;
  outcome: 'completed' | 'failed' | 'unknown';
  result?: string;
  /**
   * A completion's cost (default: the reservation). Not a whole number from 0 to 2^53 - 1:
   * finish throws a RangeError and changes nothing.
   */
  actualMicros?: number;
  error?: { message: string; status?: number };
  audit: AuditEntry;
}

export type FinishResult =
  | { ok: true; audit: AppendedRow }
  | { ok: false; reason: 'fenced' | 'missing'; audit: AppendedRow };

export interface ApprovalRecord {
  id: string;
  checkpointId: string;
  keyId: string;
  vendor: string;
  operation: string;
  /** The most the approved call may cost: a higher estimate needs a new approval. */
  costMicros: number;
  /** The call approved (vendor, operation, path, params, account): one approval, one call. */
  fingerprint: string;
  /** The vendor account the call acts on (Stripe-Account, Twilio's account SID), or null. */
  account: string | null;
  /**
   * Who the money or the message goes to, as the vendor profile reads it from the call (a Stripe
   * customer or refunded charge, Twilio's `To`, Resend's `to`), for the person deciding; or null.
   */
  recipient: string | null;
  /** How long an approval stays good after the decision. */
  ttlMs: number;
  /** When the approved call was admitted: an approval is used once. */
  usedAt: number | null;
  state: 'pending' | 'approved' | 'denied';
  createdAt: number;
  decidedAt: number | null;
  decidedBy: string | null;
  reason: string | null;
}

/** Which approvals `listApprovals` returns. */
export interface ApprovalQuery {
  /** Only approvals in this state. Default: every state. */
  state?: ApprovalRecord['state'];
  /** At most this many, oldest first. Default: 100. */
  limit?: number;
}

export interface ApprovalVerdictInput {
  id: string;
  verdict: 'approved' | 'denied';
  by: string | null;
  reason: string | null;
  now: number;
  /** Built from the approval once it is read inside the store's transaction. */
  audit: (approval: ApprovalRecord) => AuditEntry;
}

export type Decision = 'executed' | 'replayed' | 'needs_approval' | 'denied' | 'failed' | 'approved';

/** One audit row as the engine writes it; the store adds `seq`, `prevHash` and `hash`. */
export interface AuditEntry {
  time: number;
  keyId: string | null;
  rootKeyId: string | null;
  runId: string | null;
  agentId: string | null;
  toolCallId: string | null;
  vendor: string | null;
  operation: string | null;
  idempotencyKey: string | null;
  decision: Decision;
  code: string;
  message: string | null;
  estimatedCostUsd: number | null;
  actualCostUsd: number | null;
  /** True when the vendor gave no price and the estimate was recorded as the actual cost. */
  actualCostIsEstimate: boolean | null;
  amount: number | null;
  currency: string | null;
  upstreamStatus: number | null;
  upstreamObjectId: string | null;
  latencyMs: number | null;
  traceId: string | null;
}

/** The newest row's seq and hash, and the latest anchor. */
export interface AuditHead {
  seq: number;
  hash: string;
  anchor: AuditAnchor | null;
}

/** HMAC-SHA256 (hex) of `${seq}:${hash}` under the audit key, which the store never holds. */
export interface AuditAnchor {
  seq: number;
  hash: string;
  hmac: string;
}

/**
 * A row as the step that appended it returns it: numbered, and linked (`prevHash`, `hash`) when
 * the store chains in the same step. The Redis store chains right after the step, in batches (see
 * its README), so its appended rows carry no links yet.
 */
export interface AppendedRow extends AuditEntry {
  seq: number;
  prevHash?: string;
  hash?: string;
}

export interface AuditRow extends AuditEntry {
  seq: number;
  prevHash: string;
  hash: string;
}
