import { createFakeStripe, type FakeServer } from '@spendguard/testkit';
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGuard, type Guard } from '../guard.ts';
import type { PolicyDocument } from '../policy.ts';
import { runWithBinding } from '../run-binding.ts';
import { MemoryStore } from '../stores/memory-store.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { createGovernedStripe } from './governed-stripe.ts';

const SECRET = 'sk_test_governed_stripe_REAL_SECRET';
const ENV = 'SPENDGUARD_TEST_STRIPE_KEY';

const policies: PolicyDocument = {
  policies: {
    billing: {
      stripe: {
        allow: [
          { 'POST /v1/charges': { amount: { max: 5000 }, currency: { in: ['usd', 'jpy', 'kwd'] } } },
          { 'POST /v1/payment_intents': { amount: { max: 5000 }, customer: { required: true } } },
          'POST /v1/refunds',
          'POST /v1/customers',
          'GET /v1/charges/*',
        ],
      },
      caps: { perKey: 100 },
      fx: { jpy: 0.0067, kwd: 3.25 },
    },
  },
  credentials: { stripe: { env: ENV } },
};

const fake = createFakeStripe({ secretKey: SECRET });
let server: FakeServer;
let guard: Guard;
let clock: FakeClock;
let token: string;
let rootId: string;

beforeAll(async () => {
  server = await fake.listen();
  process.env[ENV] = SECRET;
});
afterAll(async () => {
  await server.close();
  delete process.env[ENV];
});
beforeEach(async () => {
  fake.reset();
  clock = new FakeClock();
  guard = createGuard({ policies, store: new MemoryStore(), now: clock.now, leaseMs: 5000 });
  const root = await guard.keys.issueRoot({ policy: 'billing' });
  token = root.token;
  rootId = root.id;
});

/** A governed client; `key: null` leaves the key to the run binding. */
function stripe(config: Stripe.StripeConfig = {}, key: string | null = token): Stripe {
  return createGovernedStripe({
    guard,
    ...(key && { key }),
    config: { host: '127.0.0.1', port: server.port, protocol: 'http', maxNetworkRetries: 0, ...config },
  });
}

async function stripeError(promise: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) return error;
    throw error;
  }
  throw new Error('expected a Stripe error');
}

const charge = { amount: 2000, currency: 'usd', source: 'tok_visa', metadata: { order_id: 'ord_1' } };

describe('governed Stripe SDK', () => {
  it('charges once: the same charge made again is replayed, not sent', async () => {
    // Without spendguard, the plain SDK charges twice: each call gets its own random key.
    const plain = new Stripe(SECRET, { host: '127.0.0.1', port: server.port, protocol: 'http' });
    await plain.charges.create(charge);
    await plain.charges.create(charge);
    expect(fake.ledger.count('charge')).toBe(2);
    fake.reset();

    const first = await stripe().charges.create(charge);
    const second = await stripe().charges.create(charge);
    expect(second.id).toBe(first.id);
    expect(fake.ledger.count('charge')).toBe(1);
    expect(fake.ledger.moneyMoved('usd')).toBe(2000);
    // The vendor saw our checkpoint's key, not stripe-node's random one, and the real secret.
    expect(fake.ledger.requests[0]?.idempotencyKey).toMatch(/^sg_/);
    const rows = await guard.audit.list();
    expect(rows.map((r) => r.decision)).toEqual(['executed', 'replayed']);
    expect(rows[0]).toMatchObject({ upstreamStatus: 200, upstreamObjectId: first.id, actualCostUsd: 20 });
  });

  it('refuses an illegal amount with a Stripe error, and nothing reaches Stripe', async () => {
    const error = await stripeError(stripe().charges.create({ ...charge, amount: 5001 }));
    expect(error).toBeInstanceOf(Stripe.errors.StripePermissionError);
    expect(error.code).toBe('spendguard_param_not_allowed');
    expect(error.message).toContain('amount 5001 is above the maximum 5000');
    const notAllowed = await stripeError(stripe().payouts.create({ amount: 100, currency: 'usd' }));
    expect(notAllowed.code).toBe('spendguard_operation_not_allowed');
    expect(fake.ledger.requests).toHaveLength(0);
  });

  it('stops at the cap, exact to the cent, across currencies', async () => {
    const client = stripe();
    let refused: Stripe.errors.StripeError | undefined;
    for (let i = 0; i < 10 && !refused; i++) {
      try {
        await client.charges.create({ ...charge, amount: 3000, metadata: { order_id: `ord_${i}` } });
      } catch (error) {
        refused = error as Stripe.errors.StripeError;
      }
    }
    expect(refused?.code).toBe('spendguard_cap_exceeded');
    expect(fake.ledger.moneyMoved('usd')).toBe(9000); // 3 × $30; a 4th would pass $100
    // ¥1500 is $10.05 at 0.0067: it fits the $10 left? No: $90 + $10.05 > $100.
    expect(
      (await stripeError(client.charges.create({ ...charge, amount: 1500, currency: 'jpy' }))).code,
    ).toBe('spendguard_cap_exceeded');
    // 3.000 KWD (three decimals) is $9.75: it fits.
    await client.charges.create({ ...charge, amount: 3000, currency: 'kwd' });
    expect((await guard.spend(rootId)).lifetimeUsd).toBe(99.75);
  });

  it('keeps the reservation when a timeout leaves the outcome unknown, and re-sends with the same key after the lease', async () => {
    fake.faults.inject({ kind: 'timeout_after_act', ms: 2000 });
    const client = stripe({ timeout: 200 });
    const timedOut = await stripeError(client.charges.create(charge));
    expect(timedOut).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(fake.ledger.count('charge')).toBe(1); // Stripe did charge
    expect((await guard.spend(rootId)).lifetimeUsd).toBe(20); // and the money stays reserved

    // The agent retries at once: refused, not re-sent.
    const early = await stripeError(client.charges.create(charge));
    expect(early.code).toBe('spendguard_outcome_unknown');
    expect(fake.ledger.requests).toHaveLength(1);

    clock.advance(5001);
    const retried = await client.charges.create(charge);
    expect(fake.ledger.count('charge')).toBe(1); // Stripe replayed the first charge
    expect(retried.id).toBe(fake.ledger.list('charge')[0]?.id);
    const keys = fake.ledger.requests.map((r) => r.idempotencyKey);
    expect(new Set(keys).size).toBe(1);
    expect((await guard.spend(rootId)).lifetimeUsd).toBe(20);
  });

  it('releases the reservation when the charge surely failed (card declined)', async () => {
    fake.faults.inject({ kind: 'card_decline' });
    const declined = await stripeError(stripe().charges.create(charge));
    expect(declined).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(declined.code).toBe('card_declined');
    expect((await guard.spend(rootId)).lifetimeUsd).toBe(0);
    // A later retry is a new attempt under a new key, and goes through.
    const retried = await stripe().charges.create(charge);
    expect(retried.status).toBe('succeeded');
    expect(fake.ledger.count('charge')).toBe(1);
    expect(new Set(fake.ledger.requests.map((r) => r.idempotencyKey)).size).toBe(2);
  });

  it('prices a refund without an amount from the charge it names', async () => {
    const paid = await stripe().charges.create({ ...charge, amount: 4000 });
    await stripe().refunds.create({ charge: paid.id });
    expect(fake.ledger.moneyMoved('usd')).toBe(0);
    const rows = await guard.audit.list();
    expect(rows.at(-1)).toMatchObject({
      operation: 'POST /v1/refunds',
      estimatedCostUsd: 40,
      actualCostUsd: 40,
    });
  });

  it('takes its key from the current run binding, and attributes the audit row to the run', async () => {
    const run = await guard.keys.derive(token, { runId: 'run-9' });
    const client = stripe({}, null);
    await runWithBinding({ key: run.token, runId: 'run-9', toolCallId: 'call_7', agentId: 'billing' }, () =>
      client.customers.create({ email: 'a@example.com' }),
    );
    expect((await guard.audit.list())[0]).toMatchObject({
      keyId: run.id,
      runId: 'run-9',
      toolCallId: 'call_7',
      agentId: 'billing',
    });
    const unbound = await stripeError(client.customers.create({ email: 'b@example.com' }));
    expect(unbound).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(unbound.code).toBe('spendguard_key_unknown');
  });

  it('never lets the real secret or the vault token out', async () => {
    fake.faults.inject({ kind: 'fail_after_act' });
    const outputs: unknown[] = [];
    outputs.push(
      await stripe()
        .charges.create(charge)
        .catch((e: unknown) => e),
    );
    outputs.push(
      await stripe()
        .charges.create({ ...charge, amount: 9999 })
        .catch((e: unknown) => e),
    );
    outputs.push(await stripe().customers.create({ email: 'x@example.com' }));
    const dump = JSON.stringify([outputs, await guard.audit.list()], (_k, v) =>
      v instanceof Error ? { ...v, message: v.message } : v,
    );
    expect(dump).not.toContain(SECRET);
    expect(dump).not.toContain(token);
    expect(fake.ledger.requests.length).toBeGreaterThan(0);
  });
});
