import { describe, expect, it } from 'vitest';
import { Credentials } from '../credentials.ts';
import { resolvePolicy } from '../policy.ts';
import { stripeProfile } from '../vendors/stripe-profile.ts';
import { plainRequest, priceCall, settledMicros } from './pricing.ts';

const policy = resolvePolicy('p', {
  stripe: {
    allow: [
      { 'POST /v1/charges': { amount: { max: 5000 } } },
      'POST /v1/checkout/sessions',
      'POST /v1/other',
    ],
    costs: { 'POST /v1/other': 1.25 },
  },
  acme: { allow: ['POST /v1/send', 'GET /v1/status'] },
  caps: { perCall: 40 },
  fx: { eur: 1.1 },
});
const credentials = new Credentials();
const stripe = (path: string, params: Record<string, unknown>) =>
  priceCall({ key: 'k', vendor: 'stripe', method: 'POST', path, params }, policy, stripeProfile, credentials);

describe('priceCall', () => {
  it('prices a charge in USD micros, with FX', async () => {
    expect(await stripe('/v1/charges', { amount: '2000', currency: 'eur' })).toMatchObject({
      costMicros: 22_000_000,
    });
  });

  it.each([
    ['a param rule', '/v1/charges', { amount: '9000', currency: 'usd' }, 'param_not_allowed'],
    ['an amount that is not whole', '/v1/charges', { amount: '-1', currency: 'usd' }, 'amount_invalid'],
    ['a currency without a rate', '/v1/charges', { amount: '100', currency: 'gbp' }, 'currency_not_priced'],
    ['the per-call cap', '/v1/charges', { amount: '4500', currency: 'eur' }, 'cap_exceeded'],
    ['an unlisted write with no stated cost', '/v1/checkout/sessions', {}, 'cost_unknown'],
  ])('refuses %s', async (_name, path, params, code) => {
    expect(await stripe(path, params)).toMatchObject({ code });
  });

  it('prices an unlisted write at the cost the policy states', async () => {
    expect(await stripe('/v1/other', {})).toMatchObject({ costMicros: 1_250_000 });
  });

  it('a vendor with no profile: reads are free, writes need a stated cost', async () => {
    const acme = (method: string, path: string) =>
      priceCall({ key: 'k', vendor: 'acme', method, path }, policy, undefined, credentials);
    expect(await acme('GET', '/v1/status')).toMatchObject({ costMicros: 0 });
    expect(await acme('POST', '/v1/send')).toMatchObject({ code: 'cost_unknown' });
  });

  it('a settlement that is garbled or unpriceable leaves the reservation to stand', () => {
    expect(settledMicros(policy, { amount: 2, currency: 'usd' })).toBe(2_000_000);
    for (const cost of [
      { amount: Number.NaN, currency: 'usd' },
      { amount: -1, currency: 'usd' },
      { amount: 1, currency: 'gbp' },
      undefined,
    ]) {
      expect(settledMicros(policy, cost)).toBeUndefined();
    }
  });

  it('plainRequest copies params as plain data, or says why it cannot', () => {
    const plain = plainRequest({ key: 'k', vendor: 'v', method: 'POST', path: '/', params: { a: { b: 1 } } });
    expect(typeof plain !== 'string' && Object.getPrototypeOf(plain.params)).toBe(null);
    expect(
      plainRequest({ key: 'k', vendor: 'v', method: 'POST', path: '/', params: { when: new Date() } }),
    ).toMatch(/Date/);
  });
});
