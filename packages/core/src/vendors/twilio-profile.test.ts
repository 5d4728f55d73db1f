import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.ts';
import { twilioProfile } from './twilio-profile.ts';
import { FREE, unlisted, type VendorOperation } from './vendor-profile.ts';

const policy = resolvePolicy('sms', {
  twilio: {
    allow: [],
    prices: {
      '+1': 0.0079,
      '+44': 0.0463,
      '+4420': 0.05,
      'mms:+1': 0.02,
      'mms:+44': 0.04,
      'mms:+4420': 0.045,
    },
  },
});
const MESSAGES = '/2010-04-01/Accounts/AC123/Messages.json';
const MESSAGE = `/2010-04-01/Accounts/AC123/Messages/SM${'0'.repeat(32)}.json`;
const MEDIA = `/2010-04-01/Accounts/AC123/Messages/MM${'0'.repeat(32)}/Media/ME${'0'.repeat(32)}.json`;
const create = (params: Record<string, unknown>): VendorOperation => ({
  method: 'POST',
  path: MESSAGES,
  params,
});
const sms = (To: string, Body: string) => create({ To, Body });
const usd = (amount: number) => ({ cost: { amount: expect.closeTo(amount, 10), currency: 'usd' } });
const estimate = (op: VendorOperation, p = policy) => twilioProfile.estimate(op, { policy: p });

describe('twilio profile: SMS', () => {
  it.each([
    ['one GSM segment to the US', sms('+15551234567', 'Your order shipped'), 0.0079],
    ['two GSM segments to the UK', sms('+447700900123', 'x'.repeat(200)), 2 * 0.0463],
    ['the longest prefix wins', sms('+442071234567', 'hi'), 0.05],
    ['UCS-2 body of 71 chars is two segments', sms('+15551234567', 'ж'.repeat(71)), 2 * 0.0079],
    ['an emoji makes it UCS-2', sms('+15551234567', `${'a'.repeat(69)}🎉`), 2 * 0.0079],
    [
      'an extension char is not split: 152 + € + 152 is three',
      sms('+1555', `${'a'.repeat(152)}€${'a'.repeat(152)}`),
      3 * 0.0079,
    ],
    ['no Body is one segment', create({ To: '+15551234567' }), 0.0079],
    ['an empty MediaUrl is no media', create({ To: '+15551234567', Body: 'hi', MediaUrl: '' }), 0.0079],
    [
      'null-prototype params',
      create(Object.assign(Object.create(null), { To: '+1555', Body: 'hi' })),
      0.0079,
    ],
  ])('estimates %s', async (_name, op, amount) => {
    expect(await estimate(op)).toEqual(usd(amount));
  });

  it('denies a destination with no price', async () => {
    expect(await estimate(sms('+881234567', 'hi'))).toEqual({
      unknown: expect.stringContaining('no SMS price for destination +881234567'),
    });
  });

  it('never prices an SMS from an MMS price', async () => {
    const mmsOnly = resolvePolicy('mms', { twilio: { allow: [], prices: { 'mms:+1': 0.02 } } });
    expect(await estimate(sms('+15551234567', 'hi'), mmsOnly)).toHaveProperty('unknown');
    // A To written like an MMS key is no way in either.
    expect(await estimate(sms('mms:+15551234567', 'hi'), mmsOnly)).toHaveProperty('unknown');
  });

  it('treats a policy price that is not a finite number ≥ 0 as absent', async () => {
    const garbled = resolvePolicy('bad', {
      twilio: {
        allow: [],
        prices: { '+1': Number.NaN, '+44': 0.0463, '+4420': Number.POSITIVE_INFINITY, '+33': -1 },
      },
    });
    expect(await estimate(sms('+15551234567', 'hi'), garbled)).toHaveProperty('unknown');
    expect(await estimate(sms('+33612345678', 'hi'), garbled)).toHaveProperty('unknown');
    // The garbled longer prefix is absent, so the shorter one prices it.
    expect(await estimate(sms('+442071234567', 'hi'), garbled)).toEqual(usd(0.0463));
  });
});

describe('twilio profile: MMS', () => {
  const image = 'https://example.com/cat.jpg';

  it.each([
    ['one MediaUrl, per message', create({ To: '+15551234567', Body: 'look', MediaUrl: image }), 0.02],
    [
      'a long body is still one MMS',
      create({ To: '+15551234567', Body: 'x'.repeat(1000), MediaUrl: image }),
      0.02,
    ],
    [
      'a repeated MediaUrl (a list) is one MMS',
      create({ To: '+15551234567', MediaUrl: [image, image] }),
      0.02,
    ],
    ['the longest MMS prefix wins', create({ To: '+442071234567', MediaUrl: image }), 0.045],
    ['a shorter MMS prefix', create({ To: '+447700900123', MediaUrl: image }), 0.04],
  ])('estimates %s', async (_name, op, amount) => {
    expect(await estimate(op)).toEqual(usd(amount));
  });

  it('denies an MMS to a destination with only an SMS price, rather than pricing it as SMS', async () => {
    const smsOnly = resolvePolicy('sms', { twilio: { allow: [], prices: { '+1': 0.0079 } } });
    expect(await estimate(create({ To: '+15551234567', Body: 'hi', MediaUrl: image }), smsOnly)).toEqual({
      unknown: expect.stringContaining('no MMS price for destination +15551234567'),
    });
  });

  it('denies a MediaUrl that is not a URL or a list of them', async () => {
    for (const MediaUrl of [{}, 5, [image, {}], null]) {
      expect(await estimate(create({ To: '+15551234567', MediaUrl }))).toEqual({
        unknown: expect.stringContaining('MediaUrl'),
      });
    }
  });
});

describe('twilio profile: params it cannot read are unknown, with a sentence', () => {
  it.each([
    ['no To', { Body: 'hi' }, 'without a `To`'],
    ['an empty To', { To: '', Body: 'hi' }, 'without a `To`'],
    [
      'a list of To',
      { To: ['+15551234567', '+15551234568'], Body: 'hi' },
      'one `To` destination, a string; this one is a list',
    ],
    ['an object To', { To: {}, Body: 'hi' }, 'this one is an object'],
    ['a null-prototype To', { To: Object.create(null), Body: 'hi' }, 'this one is an object'],
    ['a number To', { To: 15551234567 }, 'this one is a number'],
    ['a list of Body', { To: '+15551234567', Body: ['a', 'b'] }, '`Body` is one string; this one is a list'],
    ['an object Body', { To: '+15551234567', Body: { x: 'y' } }, 'this one is an object'],
    ['a Content template', { To: '+15551234567', ContentSid: 'HX123' }, 'Content template'],
  ])('%s', async (_name, params, sentence) => {
    expect(await estimate(create(params))).toEqual({ unknown: expect.stringContaining(sentence) });
  });

  it('ignores a To inherited through the prototype', async () => {
    expect(await estimate(create(Object.create({ To: '+15551234567' })))).toEqual({
      unknown: expect.stringContaining('without a `To`'),
    });
  });

  it('denies params that are not an object', async () => {
    for (const params of [null, 'To=+1', ['+1']]) {
      const op = { method: 'POST', path: MESSAGES, params } as unknown as VendorOperation;
      expect(await estimate(op)).toHaveProperty('unknown');
    }
  });
});

describe('twilio profile: every write is priced or denied', () => {
  it.each([
    ['GET a message', 'GET', MESSAGE, {}],
    ['GET the message list', 'GET', MESSAGES, {}],
    ['HEAD', 'HEAD', '/2010-04-01/Accounts/AC123/Calls.json', {}],
    ['redacting a message (Body empty)', 'POST', MESSAGE, { Body: '' }],
    ['cancelling a scheduled message', 'POST', MESSAGE, { Status: 'canceled' }],
    ['deleting a message', 'DELETE', MESSAGE, {}],
    ['deleting a media item', 'DELETE', MEDIA, {}],
  ])('%s is free', async (_name, method, path, params) => {
    expect(await estimate({ method, path, params })).toEqual(FREE);
  });

  it.each([
    ['placing a call', 'POST', '/2010-04-01/Accounts/AC123/Calls.json', { To: '+1555', Url: 'https://x' }],
    ['updating a message with new text', 'POST', MESSAGE, { Body: 'new text' }],
    ['updating a message with any other param', 'POST', MESSAGE, { Status: 'canceled', To: '+1555' }],
    ['an unknown status', 'POST', MESSAGE, { Status: 'sent' }],
    ['a PUT of the messages list', 'PUT', MESSAGES, { To: '+1555' }],
    ['a DELETE of the messages list', 'DELETE', MESSAGES, {}],
    ['a messages path with a trailing slash', 'POST', `${MESSAGES}/`, { To: '+1555' }],
    ['buying a phone number', 'POST', '/2010-04-01/Accounts/AC123/IncomingPhoneNumbers.json', {}],
  ])('%s is unlisted', async (_name, method, path, params) => {
    expect(await estimate({ method, path, params })).toEqual(unlisted('twilio', { method, path }));
  });
});

describe('twilio profile: settle', () => {
  const estimated = { amount: 0.0079, currency: 'usd' };
  const op = sms('+1', '');

  it('settles to the price Twilio gives, or to the estimate marked as such', () => {
    expect(twilioProfile.settle(op, { sid: 'SM1', price: '-0.00750', price_unit: 'USD' }, estimated)).toEqual(
      {
        cost: { amount: 0.0075, currency: 'usd' },
        upstreamObjectId: 'SM1',
      },
    );
    expect(twilioProfile.settle(op, { sid: 'SM2', price: -0.02, price_unit: 'EUR' }, estimated)).toEqual({
      cost: { amount: 0.02, currency: 'eur' },
      upstreamObjectId: 'SM2',
    });
    expect(twilioProfile.settle(op, { sid: 'SM3', price: null, price_unit: 'USD' }, estimated)).toEqual({
      cost: estimated,
      costIsEstimate: true,
      upstreamObjectId: 'SM3',
    });
  });

  it.each([
    ['non-numeric', 'abc'],
    ['Infinity', 'Infinity'],
    ['an empty string (Number would read 0)', ''],
    ['hexadecimal', '0x10'],
    ['exponent notation', '-1e3'],
    ['too large to be finite', `-${'9'.repeat(400)}`],
    ['NaN as a number', Number.NaN],
    ['a list', ['-0.5']],
    ['an object', {}],
  ])('falls back to the estimate for a garbled price: %s', (_name, price) => {
    expect(twilioProfile.settle(op, { sid: 'SM1', price, price_unit: 'USD' }, estimated)).toEqual({
      cost: estimated,
      costIsEstimate: true,
      upstreamObjectId: 'SM1',
    });
  });

  it.each([
    ['a garbled unit', { price: '-0.0075', price_unit: 'US dollars' }],
    ['no body', null],
    ['a list', [{ price: '-0.0075', price_unit: 'USD' }]],
    ['a string', 'price=-0.0075'],
  ])('falls back to the estimate for %s', (_name, body) => {
    expect(twilioProfile.settle(op, body, estimated)).toEqual({ cost: estimated, costIsEstimate: true });
  });
});

describe('twilio profile: hostile params', () => {
  const hostileKey = fc.constantFrom(
    'To',
    'Body',
    'MediaUrl',
    'ContentSid',
    'Status',
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'hasOwnProperty',
  );
  const hostileValue = fc.oneof(
    fc.constantFrom(
      '+15551234567',
      '+442071234567',
      'mms:+1',
      '',
      'canceled',
      'https://x/y.jpg',
      '€'.repeat(90),
    ),
    fc.string(),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
  );
  const params = fc.oneof(
    fc.object({ key: hostileKey, values: [hostileValue], maxDepth: 2, withNullPrototype: true }),
    fc.anything({ key: hostileKey, maxDepth: 2, withNullPrototype: true }),
  );
  const method = fc.constantFrom('GET', 'HEAD', 'POST', 'DELETE', 'PUT', 'PATCH');
  const path = fc.constantFrom(MESSAGES, MESSAGE, MEDIA, '/2010-04-01/Accounts/AC123/Calls.json', '/');

  it('estimate is a finite cost ≥ 0 or a sentence, never a throw, and leaves Object.prototype alone', async () => {
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    await fc.assert(
      fc.asyncProperty(method, path, params, async (m, p, ps) => {
        const result = await estimate({ method: m, path: p, params: ps as Record<string, unknown> });
        if ('cost' in result) {
          expect(Number.isFinite(result.cost.amount)).toBe(true);
          expect(result.cost.amount).toBeGreaterThanOrEqual(0);
        } else {
          expect(result).toEqual(expect.objectContaining({ unknown: expect.stringMatching(/\S/) }));
        }
      }),
      { numRuns: 1000 },
    );
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
    expect(({} as Record<string, unknown>).To).toBeUndefined();
  });

  it('settle never throws nor gives a cost that is not finite and ≥ 0', () => {
    const estimated = { amount: 0.0079, currency: 'usd' };
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true }), fc.anything(), (body, price) => {
        for (const response of [body, { sid: 'SM1', price, price_unit: 'USD' }]) {
          const { cost } = twilioProfile.settle(create({}), response, estimated);
          expect(Number.isFinite(cost?.amount)).toBe(true);
          expect(cost?.amount).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 500 },
    );
  });
});

it('has no idempotency header: dedup is ours alone', () => {
  expect(twilioProfile.idempotencyHeader).toBeNull();
});
