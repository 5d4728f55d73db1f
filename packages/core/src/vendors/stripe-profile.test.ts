import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.ts';
import { stripeProfile } from './stripe-profile.ts';

const policy = resolvePolicy('p', { stripe: { allow: [] } });
const post = (path: string, params: Record<string, unknown> = {}) => ({ method: 'POST', path, params });
const usd = (amount: number) => ({ cost: { amount, currency: 'usd' } });

/** Stripe objects a lookup returns, by path. */
const objects: Record<string, unknown> = {
  '/v1/payment_intents/pi_auto': {
    object: 'payment_intent',
    amount: 2500,
    currency: 'usd',
    capture_method: 'automatic',
    status: 'requires_confirmation',
  },
  '/v1/payment_intents/pi_manual': {
    object: 'payment_intent',
    amount: 2500,
    currency: 'usd',
    capture_method: 'manual',
    status: 'requires_confirmation',
  },
  '/v1/payment_intents/pi_action': {
    object: 'payment_intent',
    amount: 2500,
    currency: 'usd',
    capture_method: 'automatic',
    status: 'requires_action',
  },
  '/v1/payment_intents/pi_held': {
    object: 'payment_intent',
    amount: 2500,
    amount_capturable: 2500,
    currency: 'eur',
    capture_method: 'manual',
    status: 'requires_capture',
  },
  '/v1/charges/ch_auth': {
    object: 'charge',
    amount: 1800,
    amount_captured: 0,
    captured: false,
    currency: 'usd',
  },
  '/v1/charges/ch_9': {
    object: 'charge',
    amount: 5000,
    amount_captured: 5000,
    amount_refunded: 1500,
    currency: 'gbp',
  },
  '/v1/invoices/in_1': { object: 'invoice', amount_due: 4200, amount_remaining: 4200, currency: 'usd' },
  '/v1/prices/price_monthly': { object: 'price', unit_amount: 1500, currency: 'usd' },
  '/v1/prices/price_seat': { object: 'price', unit_amount: 700, currency: 'usd' },
  '/v1/prices/price_metered': { object: 'price', unit_amount: null, currency: 'usd' },
  '/v1/subscriptions/sub_1': {
    object: 'subscription',
    items: {
      data: [{ id: 'si_1', quantity: 2, price: { id: 'price_seat', unit_amount: 700, currency: 'usd' } }],
    },
  },
};
const seen: string[] = [];
const lookup = async (path: string) => {
  seen.push(path);
  if (!(path in objects)) throw new Error(`GET ${path} answered HTTP 404`);
  return objects[path];
};
const estimate = (op: { method: string; path: string; params: Record<string, unknown> }) =>
  stripeProfile.estimate(op, { policy, lookup });

describe('stripe profile: every write is priced, free, or unlisted', () => {
  it.each([
    [
      'a PaymentIntent created with confirm',
      post('/v1/payment_intents', { amount: '2000', currency: 'usd', confirm: 'true' }),
      usd(20),
    ],
    [
      'a PaymentIntent created without confirm moves nothing yet',
      post('/v1/payment_intents', { amount: '2000', currency: 'usd' }),
      usd(0),
    ],
    [
      'a manual-capture PaymentIntent confirmed at creation only authorizes',
      post('/v1/payment_intents', {
        amount: '2000',
        currency: 'usd',
        confirm: 'true',
        capture_method: 'manual',
      }),
      usd(0),
    ],
    [
      'JPY is zero-decimal',
      post('/v1/payment_intents', { amount: '5000', currency: 'jpy', confirm: true }),
      { cost: { amount: 5000, currency: 'jpy' } },
    ],
    [
      'KWD has three decimals',
      post('/v1/payment_intents', { amount: '1500', currency: 'kwd', confirm: 'true' }),
      { cost: { amount: 1.5, currency: 'kwd' } },
    ],
    ['confirm prices the PaymentIntent it confirms', post('/v1/payment_intents/pi_auto/confirm'), usd(25)],
    ['confirm of a manual capture only authorizes', post('/v1/payment_intents/pi_manual/confirm'), usd(0)],
    [
      'confirm after requires_action was counted by the confirm that raised it',
      post('/v1/payment_intents/pi_action/confirm'),
      usd(0),
    ],
    [
      'capture prices what it captures',
      post('/v1/payment_intents/pi_held/capture', { amount_to_capture: '1000' }),
      { cost: { amount: 10, currency: 'eur' }, effective: { amount_to_capture: 1000 } },
    ],
    [
      'capture without an amount captures everything capturable',
      post('/v1/payment_intents/pi_held/capture'),
      { cost: { amount: 25, currency: 'eur' }, effective: { amount_to_capture: 2500 } },
    ],
    [
      'EUR charge as a number',
      post('/v1/charges', { amount: 1999, currency: 'EUR' }),
      { cost: { amount: 19.99, currency: 'eur' } },
    ],
    [
      'an uncaptured charge only authorizes',
      post('/v1/charges', { amount: '1999', currency: 'usd', capture: 'false' }),
      usd(0),
    ],
    [
      'a charge capture prices the charge',
      post('/v1/charges/ch_auth/capture'),
      { cost: { amount: 18, currency: 'usd' }, effective: { amount: 1800 } },
    ],
    ['an invoice payment prices what is due', post('/v1/invoices/in_1/pay'), usd(42)],
    [
      'a transfer',
      post('/v1/transfers', { amount: '12000', currency: 'usd', destination: 'acct_1' }),
      usd(120),
    ],
    ['a payout', post('/v1/payouts', { amount: '3000', currency: 'usd' }), usd(30)],
    ['a top-up', post('/v1/topups', { amount: '10000', currency: 'usd' }), usd(100)],
    [
      'a subscription: first period of its items',
      post('/v1/subscriptions', {
        customer: 'cus_1',
        items: [{ price: 'price_monthly' }, { price: 'price_seat', quantity: '3' }],
      }),
      usd(36),
    ],
    [
      'a subscription item with inline price_data',
      post('/v1/subscriptions', {
        items: [{ price_data: { unit_amount: '900', currency: 'usd' }, quantity: 2 }],
      }),
      usd(18),
    ],
    [
      'a subscription update of its metadata moves nothing',
      post('/v1/subscriptions/sub_1', { metadata: { a: 'b' } }),
      usd(0),
    ],
    [
      'a subscription update of quantity bills the new first period',
      post('/v1/subscriptions/sub_1', { items: [{ id: 'si_1', quantity: '5' }] }),
      usd(35),
    ],
    [
      'a subscription update that resets the cycle bills the current items',
      post('/v1/subscriptions/sub_1', { billing_cycle_anchor: 'now' }),
      usd(14),
    ],
    ['customers cost nothing', post('/v1/customers', { email: 'a@b.c' }), usd(0)],
    ['cancelling a PaymentIntent costs nothing', post('/v1/payment_intents/pi_auto/cancel'), usd(0)],
    [
      'deleting a customer costs nothing',
      { method: 'DELETE', path: '/v1/customers/cus_1', params: {} },
      usd(0),
    ],
    ['reads cost nothing', { method: 'GET', path: '/v1/charges/ch_1', params: {} }, usd(0)],
  ])('%s', async (_name, op, expected) => {
    expect(await estimate(op)).toEqual(expected);
  });

  it.each([
    post('/v1/checkout/sessions', { mode: 'payment' }),
    post('/v1/subscriptions/sub_1/resume'),
    post('/v1/Refunds', { amount: '100', charge: 'ch_9' }),
    post('/v1/refunds/', { amount: '100', charge: 'ch_9' }),
    { method: 'DELETE', path: '/v1/refunds/re_1', params: {} },
    { method: 'PUT', path: '/v1/charges', params: {} },
  ])('a write it does not know is unlisted: $method $path', async (op) => {
    expect(await estimate(op)).toMatchObject({
      unlisted: true,
      unknown: expect.stringContaining('stripe.costs'),
    });
  });

  it.each([
    ['a negative amount', { amount: '-500' }, 'amount'],
    ['an amount in exponent form', { amount: '5e3' }, 'amount'],
    ['a fractional amount', { amount: '12.5' }, 'amount'],
    ['NaN', { amount: 'NaN' }, 'amount'],
    ['hex', { amount: '0x1F4' }, 'amount'],
    ['a list', { amount: ['100', '9999999'] }, 'amount'],
    ['an object', { amount: { value: '1' } }, 'amount'],
    ['a negative number', { amount: -1 }, 'amount'],
    ['an unsafe integer', { amount: 2 ** 60 }, 'amount'],
    ['a garbled currency', { amount: '100', currency: 'us dollars' }, 'currency'],
    ['a currency that is a list', { amount: '100', currency: ['usd'] }, 'currency'],
  ])('refuses %s as invalid, naming the param', async (_name, params, param) => {
    const result = await estimate(post('/v1/charges', { currency: 'usd', ...params }));
    expect(result).toEqual({ invalid: expect.stringContaining(param) });
  });

  it('refuses a path id that is not a Stripe id before it reaches a lookup', async () => {
    seen.length = 0;
    const result = await estimate(post('/v1/payment_intents/..%2Fcustomers/confirm'));
    expect(result).toHaveProperty('invalid');
    expect(await estimate(post('/v1/refunds', { charge: '../v1/balance' }))).toHaveProperty('invalid');
    expect(seen).toEqual([]);
  });

  it('prices a refund from the charge it names, giving the effective amount when none is sent', async () => {
    seen.length = 0;
    expect(await estimate(post('/v1/refunds', { charge: 'ch_9' }))).toEqual({
      cost: { amount: 35, currency: 'gbp' },
      effective: { amount: 3500 },
    });
    expect(await estimate(post('/v1/refunds', { charge: 'ch_9', amount: '700' }))).toEqual({
      cost: { amount: 7, currency: 'gbp' },
    });
    expect(seen).toEqual(['/v1/charges/ch_9', '/v1/charges/ch_9']);
    expect(await stripeProfile.estimate(post('/v1/refunds', { charge: 'ch_9' }), { policy })).toHaveProperty(
      'unknown',
    );
  });

  it('cannot price what it cannot read', async () => {
    expect(await estimate(post('/v1/charges', { amount: '100' }))).toHaveProperty('unknown');
    expect(await estimate(post('/v1/payment_intents/pi_gone/confirm'))).toHaveProperty('unknown');
    expect(await estimate(post('/v1/subscriptions', { items: [{ price: 'price_metered' }] }))).toHaveProperty(
      'unknown',
    );
  });
});

describe('stripe profile: settle after the call', () => {
  it.each([
    [
      'a captured charge',
      post('/v1/charges'),
      { id: 'ch_1', object: 'charge', amount: 2000, amount_captured: 1500, captured: true, currency: 'usd' },
      15,
    ],
    [
      'a payment intent in JPY',
      post('/v1/payment_intents'),
      { id: 'pi_1', object: 'payment_intent', amount: 3000, currency: 'jpy' },
      3000,
    ],
    [
      'a refund in KWD',
      post('/v1/refunds'),
      { id: 're_1', object: 'refund', amount: 1250, currency: 'kwd' },
      1.25,
    ],
    [
      'a paid invoice',
      post('/v1/invoices/in_1/pay'),
      { id: 'in_1', object: 'invoice', amount_due: 900, amount_paid: 900, currency: 'usd' },
      9,
    ],
  ])('%s', (_name, op, body, amount) => {
    const settled = stripeProfile.settle(op, body, { amount: 1, currency: 'usd' });
    expect(settled.cost?.amount).toBe(amount);
    expect(settled.upstreamObjectId).toBe(body.id);
  });

  it('settles a write priced at nothing at nothing, whatever object it returns', () => {
    const intent = {
      id: 'pi_2',
      object: 'payment_intent',
      amount: 90000,
      currency: 'usd',
      status: 'requires_capture',
    };
    const free = { amount: 0, currency: 'usd' };
    expect(stripeProfile.settle(post('/v1/payment_intents'), intent, free)).toEqual({
      cost: free,
      upstreamObjectId: 'pi_2',
    });
    expect(stripeProfile.settle(post('/v1/payment_intents/pi_2'), intent, free).cost).toEqual(free);
  });

  it('keeps the estimate when the answer reports garbled money', () => {
    const estimate = { amount: 20, currency: 'usd' };
    for (const amount of [-500, Number.NaN, '2000', 1.5]) {
      const body = { id: 'ch_3', object: 'charge', amount, amount_captured: amount, currency: 'usd' };
      expect(stripeProfile.settle(post('/v1/charges'), body, estimate).cost).toEqual(estimate);
    }
  });
});
