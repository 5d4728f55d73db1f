/** What the guard records of a failing call: never a vault token it quotes. */
import { describe, expect, it } from 'vitest';
import { createGuard } from './guard.ts';
import { MemoryStore } from './stores/memory-store.ts';

function setup() {
  const guard = createGuard({
    policies: { policies: { billing: { stripe: { allow: ['POST /v1/charges'] } } } },
    store: new MemoryStore(),
  });
  return { guard };
}

const charge = (key: string, cents: number) => ({
  key,
  vendor: 'stripe',
  method: 'POST',
  path: '/v1/charges',
  params: { amount: String(cents), currency: 'usd', customer: 'cus_1' },
});

describe('vault tokens in errors', () => {
  it("never records a token a failing call quotes (its own run key's), in the decision or the audit log", async () => {
    const { guard } = setup();
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    const run = await guard.keys.derive(root.token, { runId: 'r-leak' });
    const failed = await guard.execute(charge(run.token, 100), async () => {
      throw new Error(`card declined for request made with ${run.token} (parent ${root.token})`);
    });
    expect(failed.decision).toBe('failed');
    const text = JSON.stringify([failed, await guard.audit.list()]);
    expect(text).toContain('card declined');
    for (const token of [run.token, root.token]) expect(text).not.toContain(token.slice(6));
  });
});
