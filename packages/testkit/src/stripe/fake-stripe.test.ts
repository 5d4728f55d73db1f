import Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeServer } from '../http-server.ts';
import { createFakeStripe, type FakeStripe } from './fake-stripe.ts';

const KEY = 'sk_test_fake';
let fake: FakeStripe;
let server: FakeServer;
let stripe: Stripe;

function client(config: Stripe.StripeConfig = {}, key = KEY): Stripe {
  return new Stripe(key, {
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
  stripe = client();
});

afterEach(() => server.close());

describe('resources', () => {
  it('creates and retrieves a customer', async () => {
    const created = await stripe.customers.create({
      email: 'ada@example.com',
      metadata: { order_id: 'o_1' },
    });
    expect(created.id).toMatch(/^cus_\w{14}$/);
    const fetched = await stripe.customers.retrieve(created.id);
    expect(fetched).toMatchObject({
      id: created.id,
      email: 'ada@example.com',
      metadata: { order_id: 'o_1' },
    });
    expect(fake.ledger.list('customer')).toHaveLength(1);
  });

  it('moves money when an automatic-capture PaymentIntent is confirmed', async () => {
    const customer = await stripe.customers.create();
    const intent = await stripe.paymentIntents.create({
      amount: 2000,
      currency: 'USD',
      customer: customer.id,
      payment_method: 'pm_card_visa',
      confirm: true,
      expand: ['latest_charge'],
    });
    expect(intent).toMatchObject({ status: 'succeeded', amount_received: 2000, currency: 'usd' });
    expect(intent.id).toMatch(/^pi_\w{24}$/);
    expect(intent.latest_charge).toMatchObject({
      object: 'charge',
      amount_captured: 2000,
      payment_intent: intent.id,
    });
    expect(fake.ledger.movements).toEqual([
      { kind: 'payment_intent', objectId: intent.id, amount: 2000, currency: 'usd', at: expect.any(Number) },
    ]);
  });

  it('confirms later and captures part of a manual-capture PaymentIntent', async () => {
    const intent = await stripe.paymentIntents.create({
      amount: 5000,
      currency: 'eur',
      capture_method: 'manual',
      payment_method_data: { type: 'card' } as Stripe.PaymentIntentCreateParams.PaymentMethodData,
    });
    expect(intent.status).toBe('requires_confirmation');
    const confirmed = await stripe.paymentIntents.confirm(intent.id);
    expect(confirmed).toMatchObject({ status: 'requires_capture', amount_capturable: 5000 });
    expect(fake.ledger.moneyMoved('eur')).toBe(0);

    const captured = await stripe.paymentIntents.capture(intent.id, { amount_to_capture: 3000 });
    expect(captured).toMatchObject({ status: 'succeeded', amount_received: 3000, amount_capturable: 0 });
    const charge = await stripe.charges.retrieve(captured.latest_charge as string);
    expect(charge).toMatchObject({ amount_captured: 3000, amount_refunded: 2000, captured: true });
    expect(fake.ledger.moneyMoved('eur')).toBe(3000);
    await expect(stripe.paymentIntents.capture(intent.id)).rejects.toMatchObject({
      code: 'payment_intent_unexpected_state',
    });
  });

  it('creates a charge, holds one with capture=false, and captures it', async () => {
    const charge = await stripe.charges.create({ amount: 1500, currency: 'usd', source: 'tok_visa' });
    expect(charge).toMatchObject({ status: 'succeeded', captured: true, paid: true });
    const held = await stripe.charges.create({
      amount: 700,
      currency: 'usd',
      source: 'tok_visa',
      capture: false,
    });
    expect(held.captured).toBe(false);
    expect(fake.ledger.count('charge')).toBe(1);
    await stripe.charges.capture(held.id);
    expect(fake.ledger.count('charge')).toBe(2);
    expect(fake.ledger.moneyMoved()).toBe(2200);
    await expect(stripe.charges.capture(held.id)).rejects.toMatchObject({ code: 'charge_already_captured' });
  });

  it('refunds part, then the rest, then refuses', async () => {
    const charge = await stripe.charges.create({ amount: 1000, currency: 'usd', source: 'tok_visa' });
    const partial = await stripe.refunds.create({ charge: charge.id, amount: 300 });
    expect(partial).toMatchObject({ amount: 300, charge: charge.id, status: 'succeeded' });
    expect(partial.id).toMatch(/^re_/);
    const rest = await stripe.refunds.create({ charge: charge.id });
    expect(rest.amount).toBe(700);
    expect(await stripe.charges.retrieve(charge.id)).toMatchObject({ amount_refunded: 1000, refunded: true });
    await expect(stripe.refunds.create({ charge: charge.id })).rejects.toMatchObject({
      code: 'charge_already_refunded',
    });
    expect(fake.ledger.moneyMoved('usd')).toBe(0);
    expect(fake.ledger.count('refund')).toBe(2);
  });

  it('refunds a PaymentIntent through its latest charge', async () => {
    const intent = await stripe.paymentIntents.create({
      amount: 900,
      currency: 'jpy',
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    await stripe.refunds.create({ payment_intent: intent.id, amount: 400 });
    expect(fake.ledger.moneyMoved('jpy')).toBe(500);
  });

  it('pays a seeded invoice', async () => {
    const invoice = fake.seedInvoice({ amount_due: 4200, currency: 'usd', customer: 'cus_seeded' });
    expect(invoice.id).toMatch(/^in_/);
    const paid = await stripe.invoices.pay(invoice.id);
    expect(paid).toMatchObject({ status: 'paid', amount_paid: 4200, amount_remaining: 0 });
    expect(fake.ledger.count('invoice_payment')).toBe(1);
    await expect(stripe.invoices.pay(invoice.id)).rejects.toBeInstanceOf(
      Stripe.errors.StripeInvalidRequestError,
    );
  });

  it('creates a price and a payment link for it; the link moves no money', async () => {
    const price = await stripe.prices.create({
      unit_amount: 4000,
      currency: 'USD',
      product_data: { name: 'Pro plan' },
    });
    expect(price).toMatchObject({ object: 'price', unit_amount: 4000, currency: 'usd', type: 'one_time' });
    expect(price.id).toMatch(/^price_\w{24}$/);
    expect(await stripe.prices.retrieve(price.id)).toMatchObject({ id: price.id, unit_amount: 4000 });
    const monthly = await stripe.prices.create({
      unit_amount: 900,
      currency: 'usd',
      product: 'prod_given',
      recurring: { interval: 'month' },
    });
    expect(monthly).toMatchObject({
      product: 'prod_given',
      type: 'recurring',
      recurring: { interval: 'month' },
    });

    const link = await stripe.paymentLinks.create({
      line_items: [{ price: price.id, quantity: 3 }],
      after_completion: { type: 'redirect', redirect: { url: 'https://shop.test/thanks' } },
    });
    expect(link).toMatchObject({
      object: 'payment_link',
      active: true,
      currency: 'usd',
      after_completion: { type: 'redirect', redirect: { url: 'https://shop.test/thanks' } },
    });
    expect(link.url).toMatch(/^https:\/\/buy\.stripe\.com\/test_/);
    expect((await stripe.paymentLinks.retrieve(link.id)).id).toBe(link.id);
    expect(fake.ledger.list('payment_link')).toHaveLength(1);
    expect(fake.ledger.movements).toEqual([]);
  });

  it('refuses a price without an amount or product, and a link to an unknown price', async () => {
    await expect(stripe.prices.create({ currency: 'usd', product: 'prod_1' })).rejects.toMatchObject({
      statusCode: 400,
      param: 'unit_amount',
    });
    await expect(stripe.prices.create({ currency: 'usd', unit_amount: 100 })).rejects.toMatchObject({
      statusCode: 400,
      param: 'product',
    });
    await expect(
      stripe.paymentLinks.create({ line_items: [{ price: 'price_missing', quantity: 1 }] }),
    ).rejects.toMatchObject({ statusCode: 400, code: 'resource_missing', param: 'line_items[0][price]' });
    const price = await stripe.prices.create({ currency: 'usd', unit_amount: 100, product: 'prod_1' });
    await expect(
      stripe.paymentLinks.create({ line_items: [{ price: price.id }] } as never),
    ).rejects.toMatchObject({ statusCode: 400, param: 'line_items[0][quantity]' });
    expect(fake.ledger.list('payment_link')).toHaveLength(0);
  });

  it('keeps invoices from options across reset()', async () => {
    const seeded = createFakeStripe({ invoices: [{ amount_due: 100, currency: 'usd' }] });
    const [invoice] = seeded.ledger.list('invoice');
    seeded.reset();
    expect(seeded.ledger.list('invoice').map((i) => i.id)).toEqual([invoice?.id]);
  });

  it('answers validation failures and unknown objects like Stripe', async () => {
    await expect(
      stripe.charges.create({ currency: 'usd', source: 'tok_visa' } as never),
    ).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      statusCode: 400,
      code: 'parameter_missing',
      param: 'amount',
    });
    await expect(stripe.charges.retrieve('ch_missing')).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    });
    await expect(
      stripe.paymentIntents.create({ amount: 100, currency: 'usd', customer: 'cus_nobody' }),
    ).rejects.toMatchObject({ statusCode: 400, code: 'resource_missing', param: 'customer' });
  });

  it('answers an unknown route with a 404 invalid_request_error', async () => {
    const error = await stripe.rawRequest('POST', '/v1/teleportations', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({
      statusCode: 404,
      message: expect.stringContaining('Unrecognized request URL'),
    });
  });
});

describe('authentication', () => {
  it('surfaces a wrong key as StripeAuthenticationError and records nothing', async () => {
    const error = await client({}, 'sk_test_wrong')
      .charges.create({ amount: 100, currency: 'usd', source: 'tok_visa' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(error).toMatchObject({
      statusCode: 401,
      message: expect.stringContaining('Invalid API Key provided'),
    });
    expect(fake.ledger.requests.map((r) => r.status)).toEqual([401]);
    expect(fake.ledger.objects.size).toBe(0);
  });

  it('accepts the key as a Basic-auth user, as curl -u sends it', async () => {
    const response = await fetch(`${server.url}/v1/customers`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${KEY}:`).toString('base64')}` },
    });
    expect(response.status).toBe(200);
  });
});

describe('idempotency', () => {
  const params = { amount: 1000, currency: 'usd', source: 'tok_visa', metadata: { order: '7' } };

  it('replays the first response for the same key and params', async () => {
    const first = await stripe.charges.create(params, { idempotencyKey: 'order-7' });
    const second = await stripe.charges.create(params, { idempotencyKey: 'order-7' });
    expect(second.id).toBe(first.id);
    expect(second.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(fake.ledger.count('charge')).toBe(1);
    expect(fake.ledger.requests.map((r) => [r.idempotencyKey, r.replayed])).toEqual([
      ['order-7', false],
      ['order-7', true],
    ]);
  });

  it('sends its own stripe-node-retry key on every POST when none is given', async () => {
    await stripe.charges.create(params);
    await stripe.charges.create(params);
    const keys = fake.ledger.requests.map((r) => r.idempotencyKey);
    expect(keys[0]).toMatch(/^stripe-node-retry-/);
    expect(keys[1]).not.toBe(keys[0]);
    expect(fake.ledger.count('charge')).toBe(2);
  });

  it('refuses the same key with other params: StripeIdempotencyError', async () => {
    await stripe.charges.create(params, { idempotencyKey: 'order-7' });
    const error = await stripe.charges
      .create({ ...params, amount: 1001 }, { idempotencyKey: 'order-7' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(error).toMatchObject({ statusCode: 400, rawType: 'idempotency_error' });
    expect(fake.ledger.count('charge')).toBe(1);
  });

  it('answers 409 while the first request with the key is still running', async () => {
    // `match` runs once the request has claimed the key, before it waits.
    let arrive = () => {};
    const arrived = new Promise<void>((resolve) => {
      arrive = resolve;
    });
    fake.faults.inject(
      { kind: 'latency', ms: 300 },
      {
        match: () => {
          arrive();
          return true;
        },
      },
    );
    const first = stripe.charges.create(params, { idempotencyKey: 'order-7' });
    await arrived;
    const error = await stripe.charges.create(params, { idempotencyKey: 'order-7' }).catch((e: unknown) => e);
    // stripe-node has no class for 409: it raises the generic StripeAPIError.
    expect(error).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(error).toMatchObject({ statusCode: 409, code: 'idempotency_key_in_use' });
    await expect(first).resolves.toMatchObject({ amount: 1000 });
    expect(fake.ledger.count('charge')).toBe(1);
  });

  it('does not keep validation failures: the key can be used again', async () => {
    await expect(
      stripe.charges.create({ amount: 1000, source: 'tok_visa' } as never, { idempotencyKey: 'k' }),
    ).rejects.toMatchObject({ statusCode: 400 });
    await expect(stripe.charges.create(params, { idempotencyKey: 'k' })).resolves.toMatchObject({
      amount: 1000,
    });
  });

  it('ignores the key on GET', async () => {
    const charge = await stripe.charges.create(params);
    await stripe.charges.retrieve(charge.id, {}, { idempotencyKey: 'get-key' } as Stripe.RequestOptions);
    await stripe.charges.retrieve(charge.id, {}, { idempotencyKey: 'get-key' } as Stripe.RequestOptions);
    expect(fake.ledger.requests.filter((r) => r.method === 'GET' && r.replayed)).toHaveLength(0);
  });

  it('forgets keys after 24 h on the fake clock', async () => {
    let now = Date.parse('2026-11-24T10:00:00Z');
    await server.close();
    fake = createFakeStripe({ secretKey: KEY, now: () => now });
    server = await fake.listen();
    stripe = client();
    await stripe.charges.create(params, { idempotencyKey: 'order-7' });
    now += 24 * 60 * 60 * 1000;
    const again = await stripe.charges.create(params, { idempotencyKey: 'order-7' });
    expect(again.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    expect(fake.ledger.count('charge')).toBe(2);
  });
});

describe('card declines', () => {
  it('raises StripeCardError and stores the decline under the key', async () => {
    fake.faults.inject({ kind: 'card_decline', declineCode: 'insufficient_funds' });
    const params = { amount: 800, currency: 'usd', source: 'tok_visa' };
    const error = await stripe.charges.create(params, { idempotencyKey: 'd1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(error).toMatchObject({
      statusCode: 402,
      code: 'card_declined',
      decline_code: 'insufficient_funds',
      headers: expect.objectContaining({ 'stripe-should-retry': 'false' }),
    });
    // Like Stripe, the decline is the stored answer: the same key gets it again, the fault is spent.
    const replayed = await stripe.charges.create(params, { idempotencyKey: 'd1' }).catch((e: unknown) => e);
    expect(replayed).toMatchObject({
      statusCode: 402,
      charge: (error as Stripe.errors.StripeCardError).charge,
    });
    expect(fake.ledger.list('charge').map((c) => c.status)).toEqual(['failed']);
    expect(fake.ledger.moneyMoved()).toBe(0);
  });

  it('declines a PaymentIntent, which then needs another payment method', async () => {
    const error = await stripe.paymentIntents
      .create({ amount: 800, currency: 'usd', payment_method: 'pm_card_chargeDeclined', confirm: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);
    const intentId = (error as Stripe.errors.StripeCardError).payment_intent?.id as string;
    expect(await stripe.paymentIntents.retrieve(intentId)).toMatchObject({
      status: 'requires_payment_method',
    });
    const retried = await stripe.paymentIntents.confirm(intentId, { payment_method: 'pm_card_visa' });
    expect(retried.status).toBe('succeeded');
    expect(fake.ledger.moneyMoved('usd')).toBe(800);
  });

  it('declines an invoice payment and leaves it open', async () => {
    const invoice = fake.seedInvoice({ amount_due: 300, currency: 'usd' });
    fake.faults.inject({ kind: 'card_decline' });
    await expect(stripe.invoices.pay(invoice.id)).rejects.toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(fake.ledger.get(invoice.id)).toMatchObject({ status: 'open', attempt_count: 1 });
  });

  it('is only taken by a request that charges a card', async () => {
    fake.faults.inject({ kind: 'card_decline' });
    await stripe.customers.create();
    expect(fake.faults.pending()).toHaveLength(1);
  });
});

describe('reset()', () => {
  it('clears objects, ledger, keys and faults', async () => {
    await stripe.charges.create(
      { amount: 100, currency: 'usd', source: 'tok_visa' },
      { idempotencyKey: 'r' },
    );
    fake.faults.inject({ kind: 'rate_limit' });
    fake.reset();
    expect(fake.ledger.objects.size + fake.ledger.requests.length + fake.ledger.movements.length).toBe(0);
    expect(fake.faults.pending()).toEqual([]);
    const again = await stripe.charges.create(
      { amount: 100, currency: 'usd', source: 'tok_visa' },
      { idempotencyKey: 'r' },
    );
    expect(again.lastResponse.headers['idempotent-replayed']).toBeUndefined();
  });
});
