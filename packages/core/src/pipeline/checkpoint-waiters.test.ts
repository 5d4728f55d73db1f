import { describe, expect, it } from 'vitest';
import type { CheckpointRecord } from '../store.ts';
import { MemoryStore } from '../stores/memory-store.ts';
import { CheckpointWaiters } from './checkpoint-waiters.ts';

const inFlight = {
  id: 'cp',
  state: 'in_progress',
  fencingToken: 1,
  leaseUntil: Number.MAX_SAFE_INTEGER,
  outcomeUnknown: false,
} as CheckpointRecord;

/** A store whose checkpoint is whatever the test says it is now. */
function storeWith(read: () => CheckpointRecord | undefined) {
  const store = new MemoryStore();
  store.getCheckpoint = async () => read();
  return store;
}

describe('CheckpointWaiters', () => {
  it('gives up at the deadline while the call is still in flight', async () => {
    const started = performance.now();
    const result = await new CheckpointWaiters().waitFor(
      storeWith(() => inFlight),
      inFlight,
      started + 40,
      Date.now,
    );
    expect(result).toBe('timeout');
    expect(performance.now() - started).toBeGreaterThanOrEqual(39);
  });

  it('returns as soon as this process finishes the checkpoint, without waiting for the next poll', async () => {
    let current: CheckpointRecord = inFlight;
    const waiters = new CheckpointWaiters();
    const started = performance.now();
    const waiting = waiters.waitFor(
      storeWith(() => current),
      inFlight,
      started + 5_000,
      Date.now,
    );
    await new Promise((r) => setTimeout(r, 60)); // the backoff has grown past 30 ms by now
    current = { ...inFlight, state: 'completed' };
    const woken = performance.now();
    waiters.wake('cp');
    expect(await waiting).toMatchObject({ state: 'completed' });
    expect(performance.now() - woken).toBeLessThan(25);
  });

  it('stops waiting once the lease has ended or the owner reported an unknown outcome', async () => {
    const waiters = new CheckpointWaiters();
    const lapsed = { ...inFlight, leaseUntil: 10 };
    expect(
      await waiters.waitFor(
        storeWith(() => lapsed),
        inFlight,
        performance.now() + 1_000,
        () => 20,
      ),
    ).toBe(lapsed);
    const unknown = { ...inFlight, outcomeUnknown: true };
    expect(
      await waiters.waitFor(
        storeWith(() => unknown),
        inFlight,
        performance.now() + 1_000,
        Date.now,
      ),
    ).toBe(unknown);
  });
});
