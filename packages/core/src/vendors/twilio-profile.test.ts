import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.ts';
import { twilioProfile } from './twilio-profile.ts';

const policy = resolvePolicy('sms', {
  twilio: { allow: [], prices: { '+1': 0.0079, '+44': 0.0463, '+4420': 0.05 } },
});
const sms = (To: string, Body: string) => ({
  method: 'POST',
  path: '/2010-04-01/Accounts/AC123/Messages.json',
  params: { To, Body },
});

describe('twilio profile', () => {
  it.each([
    ['one GSM segment to the US', sms('+15551234567', 'Your order shipped'), 0.0079],
    ['two GSM segments to the UK', sms('+447700900123', 'x'.repeat(200)), 2 * 0.0463],
    ['the longest prefix wins', sms('+442071234567', 'hi'), 0.05],
    ['UCS-2 body of 71 chars is two segments', sms('+15551234567', 'ж'.repeat(71)), 2 * 0.0079],
    ['an emoji makes it UCS-2', sms('+15551234567', `${'a'.repeat(69)}🎉`), 2 * 0.0079],
  ])('estimates %s', async (_name, op, usd) => {
    const estimate = await twilioProfile.estimate(op, { policy });
    expect(estimate).toEqual({ cost: { amount: expect.closeTo(usd, 10), currency: 'usd' } });
  });

  it('denies a destination with no price', async () => {
    const estimate = await twilioProfile.estimate(sms('+881234567', 'hi'), { policy });
    expect(estimate).toEqual({ unknown: expect.stringContaining('+881234567') });
  });

  it('settles to the price Twilio gives, or to the estimate marked as such', () => {
    const estimate = { amount: 0.0079, currency: 'usd' };
    expect(
      twilioProfile.settle(sms('+1', ''), { sid: 'SM1', price: '-0.00750', price_unit: 'USD' }, estimate),
    ).toEqual({
      cost: { amount: 0.0075, currency: 'usd' },
      upstreamObjectId: 'SM1',
    });
    expect(
      twilioProfile.settle(sms('+1', ''), { sid: 'SM2', price: null, price_unit: 'USD' }, estimate),
    ).toEqual({
      cost: estimate,
      costIsEstimate: true,
      upstreamObjectId: 'SM2',
    });
  });

  it('has no idempotency header: dedup is ours alone', () => {
    expect(twilioProfile.idempotencyHeader).toBeNull();
  });
});
