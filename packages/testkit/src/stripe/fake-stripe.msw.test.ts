import { setupServer } from 'msw/node';
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createFakeStripe } from './fake-stripe.ts';

// The same fake through msw: the SDK keeps its default base URL (https://api.stripe.com).
const fake = createFakeStripe({ secretKey: 'sk_test_fake' });
const network = setupServer(...fake.handlers);
const stripe = new Stripe('sk_test_fake', { maxNetworkRetries: 0 });

beforeAll(() =>
  network.listen({
    onUnhandledFrame: ({ frame, defaults }) => {
      // The real server from listen() on loopback is reached directly; anything else is a mistake.
      const { request } = frame.data as { request?: Request };
      if (!request || new URL(request.url).hostname !== '127.0.0.1') defaults.error();
    },
  }),
);
afterEach(() => fake.reset());
afterAll(() => network.close());

it('serves the SDK at its default host', async () => {
  const charge = await stripe.charges.create({ amount: 1200, currency: 'usd', source: 'tok_visa' });
  expect(charge.id).toMatch(/^ch_/);
  expect(fake.ledger.moneyMoved('usd')).toBe(1200);
});

it('replays with the same idempotency key', async () => {
  const params = { amount: 1200, currency: 'usd', source: 'tok_visa' };
  const first = await stripe.charges.create(params, { idempotencyKey: 'msw-1' });
  const second = await stripe.charges.create(params, { idempotencyKey: 'msw-1' });
  expect(second.id).toBe(first.id);
  expect(fake.ledger.count('charge')).toBe(1);
});

it('shares state with a real server from the same fake', async () => {
  const server = await fake.listen();
  try {
    const direct = new Stripe('sk_test_fake', { host: '127.0.0.1', port: server.port, protocol: 'http' });
    const customer = await direct.customers.create({ email: 'both@example.com' });
    expect(await stripe.customers.retrieve(customer.id)).toMatchObject({ email: 'both@example.com' });
  } finally {
    await server.close();
  }
});

it('turns reset_after_act into a network error (no ECONNRESET code, so no SDK retry)', async () => {
  fake.faults.inject({ kind: 'reset_after_act' });
  const error = await stripe.charges
    .create({ amount: 500, currency: 'usd', source: 'tok_visa' })
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(Stripe.errors.StripeConnectionError);
  expect(fake.ledger.count('charge')).toBe(1);
  expect(fake.ledger.requests).toHaveLength(1);
});

it('times out the SDK with timeout_after_act, given the fetch client', async () => {
  // Under msw, the Node http client's socket timeout never fires (msw's socket ignores
  // setTimeout); stripe-node's fetch client times out with an AbortSignal, which msw honours.
  const viaFetch = new Stripe('sk_test_fake', {
    maxNetworkRetries: 0,
    httpClient: Stripe.createFetchHttpClient(),
  });
  fake.faults.inject({ kind: 'timeout_after_act', ms: 2000 });
  const started = Date.now();
  const error = await viaFetch.charges
    .create({ amount: 500, currency: 'usd', source: 'tok_visa' }, { timeout: 100 })
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(Stripe.errors.StripeConnectionError);
  expect(Date.now() - started).toBeLessThan(1000);
  expect(fake.ledger.count('charge')).toBe(1);
});

it('raises StripeCardError on a decline', async () => {
  fake.faults.inject({ kind: 'card_decline' });
  await expect(
    stripe.charges.create({ amount: 500, currency: 'usd', source: 'tok_visa' }),
  ).rejects.toBeInstanceOf(Stripe.errors.StripeCardError);
});

it('builds its handlers lazily, once (msw is an optional peer dependency)', () => {
  const other = createFakeStripe();
  expect(typeof Object.getOwnPropertyDescriptor(other, 'handlers')?.get).toBe('function');
  expect(other.handlers).toBe(other.handlers);
});
