import { beforeEach, expect, it } from 'vitest';
import { createGuard, type Guard } from '../guard.ts';
import type { Operation } from '../operation.ts';
import { MemoryStore } from '../stores/memory-store.ts';
import { policyApprovalReason } from './policy-approval.ts';
import { RunKeys } from './run-keys.ts';

let guard: Guard;
let root: { id: string; token: string };
let runKeys: RunKeys;

beforeEach(async () => {
  guard = createGuard({
    policies: {
      policies: { agent: { stripe: { allow: ['POST /v1/charges'] }, approval: { above: 100 } } },
    },
    store: new MemoryStore(),
  });
  root = await guard.keys.issueRoot({ policy: 'agent' });
  runKeys = new RunKeys({ guard, key: root.token });
});

const charge = (amount: number): Operation => ({
  vendor: 'stripe',
  method: 'POST',
  path: '/v1/charges',
  params: { amount, currency: 'usd' },
});

it("names the first vendor call the policy's approval rule matches, asked of the run's key", async () => {
  const reason = await policyApprovalReason(
    { guard, runKeys },
    { runId: 'r1', requests: [charge(500), charge(20_000)] },
  );
  expect(reason).toBe("spendguard: the policy wants a human's approval for stripe POST /v1/charges");
  expect(await policyApprovalReason({ guard, runKeys }, { requests: [charge(500)] })).toBeUndefined();
  // Nothing was reserved or audited.
  expect(await guard.audit.list()).toEqual([]);
});

it('asks nothing for a call that makes no vendor call', async () => {
  const derived: string[] = [];
  const counting = { token: async (runId: string) => derived.push(runId) } as unknown as RunKeys;
  expect(await policyApprovalReason({ guard, runKeys: counting }, { requests: [] })).toBeUndefined();
  expect(derived).toEqual([]);
});

it('answers no when the key cannot act: the tool call then reports the refusal', async () => {
  await guard.keys.revoke(root.id);
  expect(await policyApprovalReason({ guard, runKeys }, { requests: [charge(20_000)] })).toBeUndefined();
});
