import { setTimeout as sleep } from 'node:timers/promises';
import type { CheckpointRecord, Store } from '../store.ts';

/**
 * The bounded wait of a concurrent duplicate for the call it duplicates. It polls the store with
 * backoff (1 ms doubling to 50 ms), and is woken at once when this process finishes that
 * checkpoint; another process's finish is seen at the next poll.
 */
export class CheckpointWaiters {
  /** Local waiters per checkpoint, woken when this process finishes that checkpoint. */
  readonly #waiters = new Map<string, Set<() => void>>();

  /** Wake everyone in this process waiting on the checkpoint. */
  wake(checkpointId: string): void {
    const waiters = this.#waiters.get(checkpointId);
    if (waiters) for (const wake of waiters) wake();
  }

  /**
   * Wait until `until` (a `performance.now()` reading) for an in-flight checkpoint to complete,
   * fail or lose its lease; `'timeout'` when it does none of these in time.
   */
  async waitFor(
    store: Store,
    checkpoint: CheckpointRecord,
    until: number,
    now: () => number,
  ): Promise<CheckpointRecord | 'timeout'> {
    let delay = 1;
    for (;;) {
      const left = until - performance.now();
      if (left <= 0) return 'timeout';
      await this.#sleepOrWake(checkpoint.id, Math.min(delay, left));
      delay = Math.min(delay * 2, 50);
      let current: CheckpointRecord | undefined;
      try {
        current = await store.getCheckpoint(checkpoint.id);
      } catch {
        continue;
      }
      if (current?.state !== 'in_progress' || current.fencingToken !== checkpoint.fencingToken) {
        return current ?? checkpoint;
      }
      // Lease over, or its owner already reported an unknown outcome: no one is working on it.
      if (current.leaseUntil <= now() || current.outcomeUnknown) return current;
    }
  }

  async #sleepOrWake(checkpointId: string, ms: number): Promise<void> {
    const controller = new AbortController();
    let waiters = this.#waiters.get(checkpointId);
    if (!waiters) {
      waiters = new Set();
      this.#waiters.set(checkpointId, waiters);
    }
    const wake = () => controller.abort();
    waiters.add(wake);
    try {
      await sleep(ms, undefined, { signal: controller.signal });
    } catch {
      // woken early: the checkpoint was finished in this process
    } finally {
      waiters.delete(wake);
      if (waiters.size === 0) this.#waiters.delete(checkpointId);
    }
  }
}
