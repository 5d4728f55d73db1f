import { SpendguardError } from '../errors.ts';
import { microsToUsd, usdToMicros } from '../policy-check.ts';
import type { CheckpointRecord, Store } from '../store.ts';
import { emptyAudit } from './audit-entries.ts';

/** A call waiting for a person (`guard.pending()`). */
export interface PendingCall {
  checkpointId: string;
  keyId: string;
  runId: string | null;
  vendor: string | null;
  operation: string | null;
  /** The reservation it holds, in USD. */
  reservedUsd: number;
  startedAt: number;
  ageMs: number;
  /** The last attempt's outcome is unknown (otherwise its lease ended with no word). */
  outcomeUnknown: boolean;
  /** Old enough (the policy's `reconcileAfter`) that a person should settle it now. */
  needsReconciliation: boolean;
}

export interface Reconciliation {
  outcome: 'executed' | 'failed';
  /** What it really cost, in USD; default: the reservation. */
  costUsd?: number;
  /** The vendor's id for what it made (`ch_…`). */
  objectId?: string;
  /** Who settled it, for the audit row. */
  by: string;
}

/** The calls nobody is finishing, oldest first, each with whether a person should settle it now. */
export async function listPendingCalls(
  store: Store,
  now: number,
  reconcileAfterMs: (policyName: string | undefined) => number,
  options: { limit?: number },
): Promise<PendingCall[]> {
  const checkpoints = await store.listPending({ now, ...options });
  const calls: PendingCall[] = [];
  for (const checkpoint of checkpoints) {
    const key = await store.getKey(checkpoint.keyId);
    const ageMs = now - checkpoint.startedAt;
    calls.push({
      checkpointId: checkpoint.id,
      keyId: checkpoint.keyId,
      runId: key?.runId ?? null,
      vendor: checkpoint.vendor,
      operation: checkpoint.operation,
      reservedUsd: microsToUsd(checkpoint.reservedMicros),
      startedAt: checkpoint.startedAt,
      ageMs,
      outcomeUnknown: checkpoint.outcomeUnknown,
      needsReconciliation: ageMs >= reconcileAfterMs(key?.policy) || checkpoint.leaseUntil <= now,
    });
  }
  return calls;
}

/**
 * A person settles a pending call: settle its reservation to what it cost, or release it, with an
 * audit row naming who. Finishes under the checkpoint's current fencing token, so an attempt that
 * takes it over meanwhile wins and this throws.
 */
export async function reconcileCall(
  store: Store,
  now: number,
  checkpointId: string,
  settlement: Reconciliation,
): Promise<CheckpointRecord> {
  const checkpoint = await store.getCheckpoint(checkpointId);
  if (checkpoint?.state !== 'in_progress') {
    throw new SpendguardError(
      'checkpoint_unknown',
      `no pending call with checkpoint ${checkpointId}${checkpoint ? ` (it is ${checkpoint.state})` : ''}`,
    );
  }
  const executed = settlement.outcome === 'executed';
  const costUsd = settlement.costUsd;
  if (costUsd !== undefined && !(Number.isFinite(costUsd) && costUsd >= 0)) {
    throw new SpendguardError('operation_invalid', 'costUsd must be a finite, non-negative USD amount');
  }
  const actualMicros = costUsd === undefined ? checkpoint.reservedMicros : usdToMicros(costUsd);
  const message = `reconciled as ${settlement.outcome} by ${settlement.by}`;
  const finished = await store.finish({
    now,
    checkpointId,
    fencingToken: checkpoint.fencingToken,
    outcome: executed ? 'completed' : 'failed',
    ...(executed
      ? { actualMicros, result: JSON.stringify({ reconciled: true, objectId: settlement.objectId ?? null }) }
      : { error: { message } }),
    audit: {
      ...emptyAudit(now),
      keyId: checkpoint.keyId,
      vendor: checkpoint.vendor,
      operation: checkpoint.operation,
      idempotencyKey: checkpoint.key,
      decision: executed ? 'executed' : 'failed',
      code: 'reconciled',
      message,
      actualCostUsd: executed ? microsToUsd(actualMicros) : null,
      upstreamObjectId: settlement.objectId ?? null,
    },
  });
  if (!finished.ok) {
    throw new SpendguardError(
      'checkpoint_unknown',
      `checkpoint ${checkpointId} was taken over by a newer attempt while it was being reconciled`,
    );
  }
  return (await store.getCheckpoint(checkpointId)) as CheckpointRecord;
}
