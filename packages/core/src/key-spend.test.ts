/** `guard.spend`: what a key spent in each window, next to its own caps, for operators' reports. */
import { describe, expect, it } from 'vitest';
import { createGuard } from './guard.ts';
import { MemoryStore } from './stores/memory-store.ts';
import { FakeClock } from './testing/fake-clock.ts';

function setup() {
  const clock = new FakeClock();
  const guard = createGuard({
    policies: {
      policies: {
        billing: {
          stripe: { allow: ['POST /v1/charges'] },
          caps: { perKey: 500, perDay: 200, perRun: 50 },
          alerts: [80, 50, 80],
        },
      },
    },
    store: new MemoryStore(),
    now: clock.now,
  });
  return { guard, clock };
}

const charge = (key: string, cents: number) => ({
  key,
  vendor: 'stripe',
  method: 'POST',
  path: '/v1/charges',
  params: { amount: String(cents), currency: 'usd', customer: 'cus_1' },
});

describe('guard.spend', () => {
  it("gives each window's spend and the key's own caps: a run key's lifetime is capped by the lower of perKey and perRun", async () => {
    const { guard } = setup();
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    const run = await guard.keys.derive(root.token, { runId: 'r1', caps: { perHour: 40 } });
    const executed = await guard.execute(charge(run.token, 1234), async () => ({ id: 'ch_1', amount: 1234 }));
    expect(executed.decision).toBe('executed');

    expect(await guard.spend(run.id)).toEqual({
      lifetimeUsd: 12.34,
      hourUsd: 12.34,
      dayUsd: 12.34,
      caps: { lifetimeUsd: 50, hourUsd: 40, dayUsd: 200 },
      alerts: [50, 80],
    });
    // The root counts its run's spend too, under its own caps (perRun is not a root's cap).
    expect(await guard.spend(root.id)).toMatchObject({
      lifetimeUsd: 12.34,
      caps: { lifetimeUsd: 500, hourUsd: null, dayUsd: 200 },
    });
  });

  it('reports an unknown key as nothing spent and nothing capped', async () => {
    const { guard } = setup();
    expect(await guard.spend('key_missing')).toEqual({
      lifetimeUsd: 0,
      hourUsd: 0,
      dayUsd: 0,
      caps: { lifetimeUsd: null, hourUsd: null, dayUsd: null },
      alerts: [],
    });
  });
});
