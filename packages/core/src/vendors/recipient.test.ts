import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resendProfile } from './resend-profile.ts';
import { stripeProfile } from './stripe-profile.ts';
import { twilioProfile } from './twilio-profile.ts';
import { recipientFrom, type VendorOperation, type VendorProfile } from './vendor-profile.ts';

const post = (path: string, params: Record<string, unknown>): VendorOperation => ({
  method: 'POST',
  path,
  params,
});
const recipientOf = (profile: VendorProfile, op: VendorOperation) => profile.recipientOf?.(op);

describe('who a call pays or writes to', () => {
  it('Stripe: the customer, a transfer destination, the refunded charge or payment, else the id in the path', () => {
    expect(recipientOf(stripeProfile, post('/v1/charges', { amount: 500, customer: 'cus_1' }))).toBe('cus_1');
    expect(recipientOf(stripeProfile, post('/v1/transfers', { destination: 'acct_9' }))).toBe('acct_9');
    expect(recipientOf(stripeProfile, post('/v1/refunds', { charge: 'ch_1', amount: 100 }))).toBe('ch_1');
    expect(recipientOf(stripeProfile, post('/v1/refunds', { payment_intent: 'pi_1' }))).toBe('pi_1');
    expect(recipientOf(stripeProfile, post('/v1/payment_intents/pi_7/confirm', {}))).toBe('pi_7');
    expect(recipientOf(stripeProfile, post('/v1/charges', { amount: 500 }))).toBeUndefined();
  });

  it("Twilio: the message's To; Resend: to, and every message's to in a batch", () => {
    const sms = post('/2010-04-01/Accounts/AC1/Messages.json', { To: '+14155550100', Body: 'hi' });
    expect(recipientOf(twilioProfile, sms)).toBe('+14155550100');
    expect(recipientOf(resendProfile, post('/emails', { to: ['a@x.io', 'b@x.io'] }))).toBe('a@x.io, b@x.io');
    expect(recipientOf(resendProfile, post('/emails', { to: 'a@x.io' }))).toBe('a@x.io');
    const batch = post('/emails/batch', { emails: [{ to: 'a@x.io' }, { to: ['b@x.io', 'c@x.io'] }, 7] });
    expect(recipientOf(resendProfile, batch)).toBe('a@x.io, b@x.io, c@x.io');
  });

  it('shows at most five, each list cut to 200 characters, and says how many more', () => {
    const to = Array.from({ length: 8 }, (_, i) => `user${i}@example.com`);
    expect(recipientFrom({ to }, ['to'])).toBe(`${to.slice(0, 5).join(', ')} and 3 more`);
    expect(recipientFrom({ to: 'x'.repeat(500) }, ['to'])).toBe(`${'x'.repeat(200)}…`);
  });

  it('reads only text the params themselves carry: never a prototype, a number, an object or a mixed list', () => {
    const inherited = Object.create({ customer: 'cus_from_prototype' }) as Record<string, unknown>;
    expect(recipientFrom(inherited, ['customer'])).toBeUndefined();
    expect(recipientFrom(JSON.parse('{"__proto__":{"customer":"cus_x"}}'), ['customer'])).toBeUndefined();
    for (const customer of [7, null, { id: 'cus_1' }, ['cus_1', 2], [], '']) {
      expect(recipientFrom({ customer }, ['customer'])).toBeUndefined();
    }
  });

  it('any params a model could send: text of bounded length, or nothing; never a throw', () => {
    const profiles = [stripeProfile, twilioProfile, resendProfile];
    const paths = [
      '/v1/charges',
      '/v1/refunds',
      '/v1/payment_intents/pi_1/confirm',
      '/emails',
      '/emails/batch',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...profiles),
        fc.constantFrom(...paths),
        fc.dictionary(
          fc.constantFrom(
            'customer',
            'charge',
            'To',
            'to',
            'emails',
            'destination',
            '__proto__',
            'constructor',
          ),
          fc.jsonValue(),
        ),
        (profile, path, params) => {
          const got = recipientOf(profile, post(path, params));
          expect(got === undefined || typeof got === 'string').toBe(true);
          // Five entries of at most 200 characters each, joined, cut, and "and N more".
          if (got !== undefined) expect(got.length).toBeLessThanOrEqual(240);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
