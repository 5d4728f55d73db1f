import { chainAudit } from '../audit-chain.ts';
import { microsToUsd } from '../policy-check.ts';
import type {
  AlertEvent,
  ApprovalRecord,
  ApprovalVerdictInput,
  AuditEntry,
  AuditRow,
  BeginPlan,
  BeginResult,
  CheckpointRecord,
  FinishInput,
  FinishResult,
  KeyRecord,
} from '../store.ts';

/**
 * The synchronous primitives a transactional backend offers inside one transaction. The
 * pipeline's rules (below) are written once against them; memory and SQLite supply them, and
 * run each function below inside one transaction, so begin and finish are atomic.
 */
export interface StateTx {
  getKey(id: string): KeyRecord | undefined;
  getCheckpoint(id: string): CheckpointRecord | undefined;
  putCheckpoint(checkpoint: CheckpointRecord): void;
  getCounter(id: string): number;
  addCounter(id: string, delta: number, expiresAt: number | null): void;
  getApproval(id: string): ApprovalRecord | undefined;
  putApproval(approval: ApprovalRecord): void;
  /** Marks record one-off facts, such as an alert that has fired. */
  hasMark(id: string): boolean;
  putMark(id: string, expiresAt: number | null): void;
  /**
   * The chain head: the seq and hash of the newest row ever appended. Not the newest row still
   * stored: after a row is deleted, the next one must not take its seq.
   */
  auditHead(): { seq: number; hash: string } | undefined;
  /** Store the row and move the head to it, in the same transaction. */
  insertAudit(row: AuditRow): void;
  /**
   * The generation and fencing token of a checkpoint created from nothing: 1 until `prune` has
   * deleted checkpoints, then above every one they used (see `raiseCheckpointFloor`).
   */
  checkpointFloor(): number;
}

export function appendAuditTx(tx: StateTx, entry: AuditEntry): AuditRow {
  const row = chainAudit(entry, tx.auditHead());
  tx.insertAudit(row);
  return row;
}

function deny(
  tx: StateTx,
  plan: BeginPlan,
  code: Extract<BeginResult, { kind: 'denied' }>['code'],
  message: string,
): BeginResult {
  appendAuditTx(tx, { ...plan.audit, decision: 'denied', code, message });
  return { kind: 'denied', code, message };
}

/**
 * An amount a counter may take: a whole number of micro-dollars from 0 to 2^53 - 1, so sums stay
 * exact. The guard never sends anything else; the stores refuse it too, so a counter never holds
 * NaN or drops below what was spent.
 */
function isMicros(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

// The Redis and Postgres stores write the same words.
const NOT_MICROS = 'is not a finite, non-negative whole number of micro-dollars below 2^53';

/** The plan's cost and caps, checked before begin reads or writes anything. */
function invalidAmount(plan: BeginPlan): string | undefined {
  if (!isMicros(plan.costMicros)) return `the reservation ${plan.costMicros} ${NOT_MICROS}`;
  for (const window of plan.windows) {
    if (window.capMicros !== null && !isMicros(window.capMicros)) {
      return `the ${window.label} cap ${window.capMicros} of key ${window.keyId} ${NOT_MICROS}`;
    }
  }
  return undefined;
}

/** begin: authenticate the chain, look up the checkpoint, approvals, rate, caps, then reserve and lease. */
export function beginTx(tx: StateTx, plan: BeginPlan): BeginResult {
  const invalid = invalidAmount(plan);
  if (invalid !== undefined) return deny(tx, plan, 'amount_invalid', invalid);
  const { now } = plan;
  for (const id of plan.chain) {
    const key = tx.getKey(id);
    if (!key || key.revokedAt !== null) {
      const which = id === plan.keyId ? 'this key' : `its ancestor ${id}`;
      return deny(tx, plan, 'key_revoked', `the vault key is revoked (${which})`);
    }
  }

  const existing = tx.getCheckpoint(plan.checkpointId);
  let generation: number;
  let fencingToken: number;
  if (existing) {
    const live = existing.state !== 'completed' || (existing.completedAt ?? 0) + plan.dedupWindowMs > now;
    if (live && existing.fingerprint !== plan.fingerprint) {
      return deny(
        tx,
        plan,
        'idempotency_mismatch',
        `idempotency key ${plan.checkpointKey} was already used for a call with different parameters`,
      );
    }
    fencingToken = existing.fencingToken + 1;
    if (existing.state === 'completed' && live) {
      appendAuditTx(tx, {
        ...plan.audit,
        decision: 'replayed',
        code: 'replayed',
        actualCostUsd: existing.actualMicros === null ? null : microsToUsd(existing.actualMicros),
        estimatedCostUsd: 0,
      });
      return { kind: 'replay', checkpoint: existing };
    }
    if (existing.state === 'in_progress') {
      if (existing.leaseUntil > now) return { kind: 'wait', checkpoint: existing };
      // The lease ended without an answer (timeout or crash): the vendor may have acted.
      if (!plan.vendorIdempotent) {
        return deny(
          tx,
          plan,
          'outcome_unknown',
          'an earlier attempt may have reached the vendor and it has no idempotency key; reconcile before retrying',
        );
      }
      // Re-send under the same vendor idempotency key; the reservation is still held.
      const resumed: CheckpointRecord = {
        ...existing,
        fencingToken,
        leaseUntil: now + plan.leaseMs,
        keyId: plan.keyId,
      };
      tx.putCheckpoint(resumed);
      return { kind: 'proceed', checkpoint: resumed, alerts: [], resumed: true };
    }
    // failed, or completed beyond the dedup window: a new attempt under a new vendor key.
    generation = existing.generation + 1;
  } else {
    // Perhaps pruned before: start above its numbers, so the vendor key and the fence are new.
    generation = fencingToken = tx.checkpointFloor();
  }

  // An approved record this call may use; marked used only once the call really proceeds.
  let admitted: ApprovalRecord | undefined;
  if (plan.approval) {
    const approval = tx.getApproval(plan.approval.id);
    if (approval?.state === 'denied') {
      return deny(
        tx,
        plan,
        'approval_denied',
        `approval ${approval.id} was denied${approval.reason ? `: ${approval.reason}` : ''}`,
      );
    }
    const stale = approval?.state === 'approved' ? staleApproval(approval, plan) : undefined;
    if (!approval || stale !== undefined) {
      tx.putApproval({
        ...plan.approval,
        state: 'pending',
        decidedAt: null,
        decidedBy: null,
        reason: null,
        usedAt: null,
      });
    }
    if (!approval || approval.state === 'pending' || stale !== undefined) {
      appendAuditTx(tx, {
        ...plan.audit,
        decision: 'needs_approval',
        code: 'approval_required',
        message: stale ?? `approval ${plan.approval.id} is needed before this call`,
      });
      return { kind: 'needs_approval', approvalId: plan.approval.id };
    }
    admitted = approval;
  }

  for (const rate of plan.rates) {
    if (tx.getCounter(rate.id) >= rate.limit) {
      return deny(
        tx,
        plan,
        'rate_limited',
        `rate limit of ${rate.limit} calls per minute reached for key ${rate.keyId}`,
      );
    }
  }

  // Each counter is read once: the cap check's reading is the reservation's starting point.
  const counted = new Map<string, number>();
  const counter = (id: string) => counted.get(id) ?? tx.getCounter(id);
  for (const window of plan.windows) {
    if (window.capMicros === null) continue;
    const used = counter(window.id);
    counted.set(window.id, used);
    if (used + plan.costMicros > window.capMicros) {
      return deny(
        tx,
        plan,
        'cap_exceeded',
        `the ${window.label} cap of $${microsToUsd(window.capMicros).toFixed(2)} for key ${window.keyId} would be exceeded ` +
          `($${microsToUsd(used).toFixed(2)} used, this call $${microsToUsd(plan.costMicros).toFixed(2)})`,
      );
    }
  }

  const alerts: AlertEvent[] = [];
  for (const window of plan.windows) {
    const before = counter(window.id);
    const after = before + plan.costMicros;
    counted.set(window.id, after);
    if (plan.costMicros !== 0) tx.addCounter(window.id, plan.costMicros, window.expiresAt);
    if (window.capMicros === null) continue;
    for (const threshold of window.alerts) {
      const line = (window.capMicros * threshold) / 100;
      const markId = `alert:${window.id}:${threshold}`;
      if (before < line && after >= line && !tx.hasMark(markId)) {
        tx.putMark(markId, window.expiresAt);
        alerts.push({
          keyId: window.keyId,
          window: window.label,
          windowId: window.id,
          thresholdPercent: threshold,
          capUsd: microsToUsd(window.capMicros),
          usedUsd: microsToUsd(after),
        });
      }
    }
  }
  for (const rate of plan.rates) tx.addCounter(rate.id, 1, rate.expiresAt);
  if (admitted) tx.putApproval({ ...admitted, usedAt: now });

  const checkpoint = startedCheckpoint(plan, generation, fencingToken);
  tx.putCheckpoint(checkpoint);
  return { kind: 'proceed', checkpoint, alerts, resumed: false };
}

/** The checkpoint a begin that proceeds leaves: this attempt in progress, its reservation held. */
export function startedCheckpoint(
  plan: BeginPlan,
  generation: number,
  fencingToken: number,
): CheckpointRecord {
  return {
    id: plan.checkpointId,
    key: plan.checkpointKey,
    fingerprint: plan.fingerprint,
    state: 'in_progress',
    outcomeUnknown: false,
    generation,
    fencingToken,
    leaseUntil: plan.now + plan.leaseMs,
    keyId: plan.keyId,
    reservedMicros: plan.costMicros,
    windows: plan.windows.map((w) => w.id),
    startedAt: plan.now,
    completedAt: null,
    dedupWindowMs: plan.dedupWindowMs,
    result: null,
    actualMicros: null,
    error: null,
    vendor: plan.audit.vendor,
    operation: plan.audit.operation,
  };
}

/**
 * Why an approved record cannot admit this call (the sentence for the audit row), or undefined
 * when it can. The fingerprint is checked first: a record from before approvals carried one
 * has none, and is replaced.
 */
function staleApproval(approval: ApprovalRecord, plan: BeginPlan): string | undefined {
  const again = 'a new approval is needed';
  if (approval.fingerprint !== plan.fingerprint) {
    return `approval ${approval.id} was given for a different call; ${again}`;
  }
  if (approval.usedAt !== null) {
    return `approval ${approval.id} was already used at ${new Date(approval.usedAt).toISOString()}; ${again}`;
  }
  // An approved record always has decidedAt; without one it counts as long expired.
  const expiresAt = (approval.decidedAt ?? 0) + approval.ttlMs;
  if (expiresAt <= plan.now) {
    return `approval ${approval.id} expired at ${new Date(expiresAt).toISOString()}; ${again}`;
  }
  if (plan.costMicros > approval.costMicros) {
    return (
      `approval ${approval.id} covers up to $${microsToUsd(approval.costMicros).toFixed(2)}; ` +
      `this call is $${microsToUsd(plan.costMicros).toFixed(2)}; ${again}`
    );
  }
  return undefined;
}

/** Throws a RangeError, before anything is written, if a completion's cost is not `isMicros`. */
function assertSettlement(input: FinishInput): void {
  if (input.outcome === 'completed' && input.actualMicros !== undefined && !isMicros(input.actualMicros)) {
    throw new RangeError(`the settlement ${input.actualMicros} ${NOT_MICROS}`);
  }
}

/** The message of a stale settlement's audit row: a newer attempt owns the checkpoint. */
export const STALE_ATTEMPT = 'stale attempt: a newer attempt owns this checkpoint';

/** finish: settle the reservation to the outcome and write the audit row. */
export function finishTx(tx: StateTx, input: FinishInput): FinishResult {
  assertSettlement(input);
  const checkpoint = tx.getCheckpoint(input.checkpointId);
  if (checkpoint?.state !== 'in_progress' || checkpoint.fencingToken !== input.fencingToken) {
    // A newer attempt owns the checkpoint (our lease ran out); its settlement wins. The vendor
    // saw the same idempotency key, so this answer is the same call: record it, change nothing.
    const audit = appendAuditTx(tx, { ...input.audit, message: STALE_ATTEMPT });
    return { ok: false, reason: checkpoint ? 'fenced' : 'missing', audit };
  }
  if (input.outcome === 'completed') {
    const actual = input.actualMicros ?? checkpoint.reservedMicros;
    const delta = actual - checkpoint.reservedMicros;
    if (delta !== 0) for (const id of checkpoint.windows) tx.addCounter(id, delta, null);
    tx.putCheckpoint({
      ...checkpoint,
      state: 'completed',
      outcomeUnknown: false,
      completedAt: input.now,
      result: input.result ?? 'null',
      actualMicros: actual,
      reservedMicros: actual,
      error: null,
    });
  } else if (input.outcome === 'failed') {
    if (checkpoint.reservedMicros !== 0) {
      for (const id of checkpoint.windows) tx.addCounter(id, -checkpoint.reservedMicros, null);
    }
    tx.putCheckpoint({
      ...checkpoint,
      state: 'failed',
      outcomeUnknown: false,
      completedAt: input.now,
      reservedMicros: 0,
      error: input.error ?? null,
    });
  } else {
    // Unknown: keep the reservation and the in-progress checkpoint until its lease ends.
    tx.putCheckpoint({ ...checkpoint, outcomeUnknown: true, error: input.error ?? null });
  }
  return { ok: true, audit: appendAuditTx(tx, input.audit) };
}

/** An approval from its stored JSON; one stored before approvals named a recipient has none. */
export function storedApproval(json: string): ApprovalRecord {
  const approval = JSON.parse(json) as ApprovalRecord;
  approval.recipient ??= null;
  return approval;
}

/** A pending approval with a person's verdict on it. */
export function decidedApproval(approval: ApprovalRecord, input: ApprovalVerdictInput): ApprovalRecord {
  return {
    ...approval,
    state: input.verdict,
    decidedAt: input.now,
    decidedBy: input.by,
    reason: input.reason,
  };
}

export function decideApprovalTx(tx: StateTx, input: ApprovalVerdictInput): ApprovalRecord | undefined {
  const approval = tx.getApproval(input.id);
  if (!approval) return undefined;
  if (approval.state !== 'pending') return approval;
  const decided = decidedApproval(approval, input);
  tx.putApproval(decided);
  appendAuditTx(tx, input.audit(decided));
  return decided;
}
