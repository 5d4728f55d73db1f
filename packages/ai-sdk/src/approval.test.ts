import { createGuard, MemoryStore } from '@spendguard/core';
import { tool } from 'ai';
import { expect, it, vi } from 'vitest';
import { z } from 'zod';
import { spendguardToolApproval } from './approval.ts';
import { guardTool } from './guard-tools.ts';

async function guardedCharge() {
  const guard = createGuard({
    policies: { policies: { agent: { stripe: { allow: ['POST /v1/charges'] }, approval: { above: 100 } } } },
    store: new MemoryStore(),
  });
  const { token } = await guard.keys.issueRoot({ policy: 'agent' });
  const charge = tool({
    inputSchema: z.object({ amountCents: z.number() }),
    execute: async ({ amountCents }) => ({ charged: amountCents }),
  });
  return guardTool(charge, {
    name: 'charge',
    guard,
    key: token,
    approval: ({ amountCents }) => ({
      vendor: 'stripe',
      method: 'POST',
      path: '/v1/charges',
      params: { amount: amountCents, currency: 'usd' },
    }),
  });
}

const call = { toolCallId: 'call_1', messages: [], toolContext: undefined } as never;

it('finds the approval check on the guarded tool itself, not on a spread copy of it', async () => {
  const charge = await guardedCharge();
  const entry = spendguardToolApproval({ charge }).charge;
  expect(await entry?.({ amountCents: 20_000 }, call)).toEqual({
    type: 'user-approval',
    reason: "spendguard: the policy wants a human's approval for stripe POST /v1/charges",
  });
  expect(await entry?.({ amountCents: 500 }, call)).toBeUndefined();
  // The brand is not enumerable: a copy made for another `execute` carries no check.
  expect(Object.keys(spendguardToolApproval({ charge: { ...charge } }))).toEqual([]);
});

it('finds the approval check of a tool guarded by another installed copy of the adapter', async () => {
  vi.resetModules();
  const copy = await import('./guard-tools.ts');
  const { guardTool: otherGuardTool } = copy;
  expect(otherGuardTool).not.toBe(guardTool);
  const charge = await guardedCharge();
  const other = otherGuardTool(tool({ ...charge, needsApproval: true }), {
    name: 'charge',
    guard: createGuard({ policies: { policies: { agent: {} } }, store: new MemoryStore() }),
    key: 'sk_sg_unused',
    approval: () => undefined,
  });
  expect(await spendguardToolApproval({ charge: other }).charge?.({ amountCents: 1 }, call)).toBe(
    'user-approval',
  );
});
