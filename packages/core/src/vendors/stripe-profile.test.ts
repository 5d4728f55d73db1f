import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.ts';
import { stripeProfile } from './stripe-profile.ts';

const policy = resolvePolicy('p', { stripe: { allow: [] } });
const post = (path: string, params: Record<string, unknown>) => ({ method: 'POST', path, params });

describe('stripe profile: estimate before the call', () => {
  it.each([
    [
      'USD cents',
      post('/v1/payment_intents', { amount: '2000', currency: 'usd' }),
      { amount: 20, currency: 'usd' },
    ],
    [
      'EUR as a number',
      post('/v1/charges', { amount: 1999, currency: 'EUR' }),
      { amount: 19.99, currency: 'eur' },
    ],
    [
      'JPY is zero-decimal',
      post('/v1/payment_intents', { amount: '5000', currency: 'jpy' }),
      { amount: 5000, currency: 'jpy' },
    ],
    [
      'KRW is zero-decimal',
      post('/v1/charges', { amount: '12000', currency: 'krw' }),
      { amount: 12000, currency: 'krw' },
    ],
    [
      'KWD has three decimals',
      post('/v1/payment_intents', { amount: '1500', currency: 'kwd' }),
      { amount: 1.5, currency: 'kwd' },
    ],
    [
      'BHD has three decimals',
      post('/v1/charges', { amount: '250', currency: 'bhd' }),
      { amount: 0.25, currency: 'bhd' },
    ],
    [
      'confirm was counted at creation',
      post('/v1/payment_intents/pi_1/confirm', {}),
      { amount: 0, currency: 'usd' },
    ],
    [
      'capture was counted at creation',
      post('/v1/charges/ch_1/capture', { amount: '100' }),
      { amount: 0, currency: 'usd' },
    ],
    ['customers cost nothing', post('/v1/customers', { email: 'a@b.c' }), { amount: 0, currency: 'usd' }],
    [
      'reads cost nothing',
      { method: 'GET', path: '/v1/charges/ch_1', params: {} },
      { amount: 0, currency: 'usd' },
    ],
  ])('%s', async (_name, op, cost) => {
    expect(await stripeProfile.estimate(op, { policy })).toEqual({ cost });
  });

  it('denies a charge it cannot price', async () => {
    expect(await stripeProfile.estimate(post('/v1/charges', { amount: '100' }), { policy })).toHaveProperty(
      'unknown',
    );
  });

  it('prices a refund from the charge it names, reading the charge first', async () => {
    const seen: string[] = [];
    const lookup = async (path: string) => {
      seen.push(path);
      return {
        object: 'charge',
        amount: 5000,
        amount_captured: 5000,
        amount_refunded: 1500,
        currency: 'gbp',
      };
    };
    expect(await stripeProfile.estimate(post('/v1/refunds', { charge: 'ch_9' }), { policy, lookup })).toEqual(
      {
        cost: { amount: 35, currency: 'gbp' },
      },
    );
    expect(
      await stripeProfile.estimate(post('/v1/refunds', { charge: 'ch_9', amount: '700' }), {
        policy,
        lookup,
      }),
    ).toEqual({
      cost: { amount: 7, currency: 'gbp' },
    });
    expect(seen).toEqual(['/v1/charges/ch_9', '/v1/charges/ch_9']);
    expect(await stripeProfile.estimate(post('/v1/refunds', { charge: 'ch_9' }), { policy })).toHaveProperty(
      'unknown',
    );
  });

  it('prices an invoice payment from the invoice', async () => {
    const lookup = async () => ({
      object: 'invoice',
      amount_due: 4200,
      amount_remaining: 4200,
      currency: 'usd',
    });
    expect(await stripeProfile.estimate(post('/v1/invoices/in_1/pay', {}), { policy, lookup })).toEqual({
      cost: { amount: 42, currency: 'usd' },
    });
  });
});

describe('stripe profile: settle after the call', () => {
  it.each([
    [
      'a captured charge',
      { id: 'ch_1', object: 'charge', amount: 2000, amount_captured: 1500, captured: true, currency: 'usd' },
      15,
    ],
    [
      'an uncaptured charge commits its amount',
      { id: 'ch_2', object: 'charge', amount: 2000, amount_captured: 0, captured: false, currency: 'usd' },
      20,
    ],
    [
      'a payment intent in JPY',
      { id: 'pi_1', object: 'payment_intent', amount: 3000, currency: 'jpy' },
      3000,
    ],
    ['a refund in KWD', { id: 're_1', object: 'refund', amount: 1250, currency: 'kwd' }, 1.25],
    [
      'a paid invoice',
      { id: 'in_1', object: 'invoice', amount_due: 900, amount_paid: 900, currency: 'usd' },
      9,
    ],
  ])('%s', (_name, body, amount) => {
    const settled = stripeProfile.settle(post('/v1/x', {}), body, undefined);
    expect(settled.cost?.amount).toBe(amount);
    expect(settled.upstreamObjectId).toBe(body.id);
  });

  it('keeps the estimate for an object without an amount', () => {
    expect(
      stripeProfile.settle(
        post('/v1/customers', {}),
        { id: 'cus_1', object: 'customer' },
        { amount: 0, currency: 'usd' },
      ),
    ).toEqual({
      cost: { amount: 0, currency: 'usd' },
      upstreamObjectId: 'cus_1',
    });
  });
});
