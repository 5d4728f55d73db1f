import Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeServer } from '../http-server.ts';
import { createFakeStripe, type FakeStripe } from './fake-stripe.ts';

// Each fault through the official SDK. The point of the *_after_act faults: the client gets an
// error, yet the ledger shows the charge happened.

const KEY = 'sk_test_fake';
const params = { amount: 2500, currency: 'usd', source: 'tok_visa' };
let fake: FakeStripe;
let server: FakeServer;

function client(config: Stripe.StripeConfig = {}): Stripe {
  return new Stripe(KEY, {
    host: '127.0.0.1',
    port: server.port,
    protocol: 'http',
    maxNetworkRetries: 0,
    ...config,
  });
}

beforeEach(async () => {
  fake = createFakeStripe({ secretKey: KEY });
  server = await fake.listen();
});

afterEach(() => server.close());

describe('fail_after_act', () => {
  it('records the charge, answers 500 api_error, and replays the 500 for the same key', async () => {
    fake.faults.inject({ kind: 'fail_after_act' });
    // Default retries: stripe-node would retry a 500, but Stripe-Should-Retry: false stops it.
    const stripe = client({ maxNetworkRetries: 2 });
    const error = await stripe.charges.create(params, { idempotencyKey: 'pay-1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(error).toMatchObject({ statusCode: 500, rawType: 'api_error' });
    expect(fake.ledger.requests).toHaveLength(1);
    expect(fake.ledger.count('charge')).toBe(1);

    // Stripe stores what it sent, 5xx included: retrying the key cannot reveal the charge.
    const again = await stripe.charges.create(params, { idempotencyKey: 'pay-1' }).catch((e: unknown) => e);
    expect(again).toMatchObject({ statusCode: 500 });
    expect(fake.ledger.count('charge')).toBe(1);
    expect(fake.ledger.moneyMoved('usd')).toBe(2500);
  });

  it('takes another 5xx status', async () => {
    fake.faults.inject({ kind: 'fail_after_act', status: 503 });
    await expect(client().customers.create()).rejects.toMatchObject({ statusCode: 503 });
  });
});

describe('reset_after_act', () => {
  it('records the charge, then drops the connection: StripeConnectionError', async () => {
    // stripe-node retries a reset connection once even with maxNetworkRetries: 0, so fail both.
    fake.faults.inject({ kind: 'reset_after_act' }, { times: 2 });
    const error = await client()
      .charges.create(params)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(error).toMatchObject({ detail: expect.objectContaining({ code: 'ECONNRESET' }) });
    // One charge: the SDK's retry carried the same stripe-node-retry key and got a replay.
    expect(fake.ledger.count('charge')).toBe(1);
    const [first, retry] = fake.ledger.requests;
    expect(retry?.idempotencyKey).toBe(first?.idempotencyKey);
    expect(fake.ledger.requests.map((r) => [r.status, r.replayed, r.fault])).toEqual([
      [200, false, 'reset_after_act'],
      [200, true, 'reset_after_act'],
    ]);
  });

  it('is healed by the SDK when it happens once: the automatic retry gets the replay', async () => {
    fake.faults.inject({ kind: 'reset_after_act' });
    const charge = await client().charges.create(params);
    expect(charge.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(fake.ledger.count('charge')).toBe(1);
  });
});

describe('timeout_after_act', () => {
  it('records the charge while the client times out', async () => {
    fake.faults.inject({ kind: 'timeout_after_act' });
    const error = await client({ timeout: 150 })
      .charges.create(params)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(error).toMatchObject({
      message: expect.stringContaining('timeout'),
      detail: { code: 'ETIMEDOUT' },
    });
    expect(fake.ledger.count('charge')).toBe(1);
    expect(fake.ledger.requests[0]).toMatchObject({ status: 200, fault: 'timeout_after_act' });
  });

  it('still closes the server promptly while an answer is held back', async () => {
    fake.faults.inject({ kind: 'timeout_after_act' }); // held for 120 s by default
    const pending = client({ timeout: 10_000 })
      .customers.create()
      .catch((e: unknown) => e);
    await waitFor(() => fake.ledger.requests.length === 1);
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await pending).toBeInstanceOf(Stripe.errors.StripeConnectionError);
  });

  it('answers late when the client waits long enough', async () => {
    fake.faults.inject({ kind: 'timeout_after_act', ms: 100 });
    await expect(client({ timeout: 5000 }).customers.create()).resolves.toMatchObject({ object: 'customer' });
  });
});

describe('latency', () => {
  it('delays, then acts normally', async () => {
    fake.faults.inject({ kind: 'latency', ms: 150 });
    const started = Date.now();
    await client().charges.create(params);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(fake.ledger.count('charge')).toBe(1);
  });
});

describe('rate_limit', () => {
  it('answers 429 without acting; stripe-node does not retry it', async () => {
    fake.faults.inject({ kind: 'rate_limit' });
    const error = await client({ maxNetworkRetries: 2 })
      .charges.create(params)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(fake.ledger.requests).toHaveLength(1);
    expect(fake.ledger.objects.size).toBe(0);
  });

  it('does not store the key: the next request with it acts', async () => {
    fake.faults.inject({ kind: 'rate_limit' });
    const stripe = client();
    await expect(stripe.charges.create(params, { idempotencyKey: 'k' })).rejects.toMatchObject({
      statusCode: 429,
    });
    await expect(stripe.charges.create(params, { idempotencyKey: 'k' })).resolves.toMatchObject({
      amount: 2500,
    });
  });
});

describe('targeting', () => {
  it('applies a fault `times` times to the requests `match` accepts', async () => {
    fake.faults.inject(
      { kind: 'fail_after_act' },
      { times: 2, match: (r) => r.method === 'POST' && r.path === '/v1/refunds' },
    );
    const stripe = client();
    const charge = await stripe.charges.create(params);
    await expect(stripe.refunds.create({ charge: charge.id, amount: 100 })).rejects.toMatchObject({
      statusCode: 500,
    });
    await expect(stripe.refunds.create({ charge: charge.id, amount: 100 })).rejects.toMatchObject({
      statusCode: 500,
    });
    await expect(stripe.refunds.create({ charge: charge.id, amount: 100 })).resolves.toMatchObject({
      amount: 100,
    });
    expect(fake.ledger.count('refund')).toBe(3);
    expect(fake.ledger.moneyMoved('usd')).toBe(2200);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
}
