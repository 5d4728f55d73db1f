import { getRetryable } from '@langchain/core/errors';
import { createGovernedStripe } from '@spendguard/core/stripe';
import { BillingWorld } from '@spendguard/testkit/adapters';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isVendorRefusal, markRefusal } from './vendor-refusal.ts';

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());

function stripeError(stripe: ReturnType<BillingWorld['plainStripe']>, amount: number, customer: string) {
  return stripe.charges.create({ amount, currency: 'usd', customer }).catch((e: unknown) => e);
}

it("recognises spendguard's refusal as the Stripe SDK raises it, and marks only that not retryable", async () => {
  const { x: customer } = (await world.customers('x')) as { x: string };
  const key = await world.guard.keys.derive(world.rootToken, { runId: 'vendor-refusal' });
  const governed = createGovernedStripe({
    guard: world.guard,
    key: key.token,
    config: { host: '127.0.0.1', port: world.server.port, protocol: 'http', maxNetworkRetries: 0 },
  });
  const refused = await stripeError(governed, 90_000, customer);
  expect(isVendorRefusal(refused)).toBe(true);
  expect(getRetryable(markRefusal(refused))).toBe(false);

  // Stripe's own failure (a 5xx it answers itself) stays retryable.
  world.fake.faults.inject({ kind: 'fail_after_act' });
  const failed = await stripeError(world.plainStripe(), 100, customer);
  expect(isVendorRefusal(failed)).toBe(false);
  expect(getRetryable(markRefusal(failed))).toBeUndefined();
});

it('never throws, and marks nothing without a spendguard_ code (property)', () => {
  fc.assert(
    fc.property(fc.anything(), (value) => {
      const claims = JSON.stringify(value ?? null)?.includes('spendguard_') ?? false;
      if (!claims) expect(isVendorRefusal(value)).toBe(false);
    }),
  );
});
