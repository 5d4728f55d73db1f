import { MemoryStore } from '@spendguard/core';
import type {
  BeginPlan,
  BeginResult,
  CheckpointRecord,
  FinishInput,
  FinishResult,
} from '@spendguard/core/store-kit';

/**
 * The least a store can do under the guard, to time the guard's own JavaScript: keys and tokens
 * as the memory store keeps them, and checkpoints in one Map (a stored result replays, as
 * @node-idempotency's memory adapter does), with no caps, counters, leases, approvals or audit
 * chain. Only for the benchmark: it enforces nothing.
 */
export class GuardOnlyStore extends MemoryStore {
  readonly #completed = new Map<string, CheckpointRecord>();
  #seq = 0;

  override async begin(plan: BeginPlan): Promise<BeginResult> {
    const stored = this.#completed.get(plan.checkpointId);
    if (stored) return { kind: 'replay', checkpoint: stored };
    const checkpoint: CheckpointRecord = {
      id: plan.checkpointId,
      key: plan.checkpointKey,
      fingerprint: plan.fingerprint,
      state: 'in_progress',
      outcomeUnknown: false,
      generation: 1,
      fencingToken: 1,
      leaseUntil: plan.now + plan.leaseMs,
      keyId: plan.keyId,
      reservedMicros: plan.costMicros,
      windows: [],
      startedAt: plan.now,
      completedAt: null,
      result: null,
      actualMicros: null,
      error: null,
      vendor: null,
      operation: null,
    };
    return { kind: 'proceed', checkpoint, alerts: [], resumed: false };
  }

  override async finish(input: FinishInput): Promise<FinishResult> {
    if (input.outcome === 'completed') {
      this.#completed.set(input.checkpointId, {
        id: input.checkpointId,
        state: 'completed',
        generation: 1,
        result: input.result ?? 'null',
        actualMicros: input.actualMicros ?? null,
      } as CheckpointRecord);
    }
    return { ok: true, audit: { ...input.audit, seq: ++this.#seq } };
  }
}
