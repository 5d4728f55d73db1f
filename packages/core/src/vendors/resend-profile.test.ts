import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../policy.ts';
import { resendProfile } from './resend-profile.ts';
import { FREE, unlisted, type VendorOperation } from './vendor-profile.ts';

const policy = resolvePolicy('mail', { resend: { allow: [], prices: { email: 0.001 } } });
const estimate = (op: VendorOperation, p = policy) => resendProfile.estimate(op, { policy: p });
const send = (params: unknown) => estimate({ method: 'POST', path: '/emails', params } as VendorOperation);
const batch = (emails: unknown) => estimate({ method: 'POST', path: '/emails/batch', params: { emails } });
const addresses = (n: number) => Array.from({ length: n }, (_, i) => `r${i}@x.io`);

describe('resend profile: recipients', () => {
  it.each([
    ['one recipient', { to: 'a@x.io', from: 'f@x.io', subject: 's' }, 1],
    ['to + cc + bcc', { to: ['a@x.io', 'b@x.io'], cc: 'c@x.io', bcc: ['d@x.io'] }, 4],
    ['a comma-separated to', { to: 'a@x.com, b@y.com' }, 2],
    ['a list element holding commas', { to: ['a@x.io, b@x.io', 'c@x.io'] }, 3],
    ['a comma-separated cc and bcc', { to: 'a@x.io', cc: 'b@x.io,c@x.io', bcc: 'd@x.io, e@x.io, f@x.io' }, 6],
    ['blank pieces between commas count nothing', { to: 'a@x.io, ,b@x.io,' }, 2],
    ['50 to addresses, Resend’s most', { to: addresses(50) }, 50],
    ['many cc and bcc (no Resend limit on them is applied)', { to: 'a@x.io', cc: addresses(60) }, 61],
    ['null cc and bcc are none', { to: 'a@x.io', cc: null, bcc: null }, 1],
    ['null-prototype params', Object.assign(Object.create(null), { to: 'a@x.io', cc: 'b@x.io' }), 2],
  ])('prices %s', async (_name, params, recipients) => {
    expect(await send(params)).toEqual({
      cost: { amount: expect.closeTo(recipients * 0.001, 10), currency: 'usd' },
    });
  });

  it('prices every message of a batch', async () => {
    expect(
      await batch([{ to: 'a@x.io' }, { to: ['b@x.io', 'c@x.io'], bcc: 'd@x.io' }, { to: 'e@x.io, f@x.io' }]),
    ).toEqual({ cost: { amount: expect.closeTo(6 * 0.001, 10), currency: 'usd' } });
  });

  it('prices a batch of 100 emails, Resend’s most', async () => {
    expect(await batch(Array.from({ length: 100 }, () => ({ to: 'a@x.io' })))).toEqual({
      cost: { amount: expect.closeTo(0.1, 10), currency: 'usd' },
    });
  });

  it.each([
    ['no to', { cc: 'a@x.io' }, 'no `to` address'],
    ['an empty to', { to: '' }, 'no `to` address'],
    ['a to of only commas', { to: ' , ' }, 'no `to` address'],
    ['51 to addresses', { to: addresses(51) }, 'has 51 `to` addresses; Resend takes at most 50'],
    ['51 to addresses in one string', { to: addresses(51).join(',') }, 'Resend takes at most 50'],
    ['an object to', { to: {} }, '`to` is an object, not an address or a list of addresses'],
    ['a number to', { to: 5 }, '`to` is a number'],
    ['a list holding an object', { to: ['a@x.io', { address: 'b@x.io' }] }, '`to` holds an object'],
    ['a list holding a list', { to: [['a@x.io']] }, '`to` holds a list'],
    ['a list holding null', { to: ['a@x.io', null] }, '`to` holds null'],
    ['an object cc', { to: 'a@x.io', cc: { a: 1 } }, '`cc` is an object'],
    ['a boolean bcc', { to: 'a@x.io', bcc: true }, '`bcc` is a boolean'],
  ])('denies %s, with a sentence', async (_name, params, sentence) => {
    expect(await send(params)).toEqual({ unknown: expect.stringContaining(sentence) });
  });

  it('ignores a to inherited through the prototype', async () => {
    expect(await send(Object.create({ to: 'a@x.io' }))).toEqual({
      unknown: expect.stringContaining('no `to` address'),
    });
  });

  it.each([
    ['not a list', { to: 'a@x.io' }, 'a Resend batch is a list of emails'],
    ['missing', undefined, 'a Resend batch is a list of emails'],
    [
      '101 emails',
      Array.from({ length: 101 }, () => ({ to: 'a@x.io' })),
      'holds 101 emails; Resend takes at most 100',
    ],
    [
      'holding a string',
      [{ to: 'a@x.io' }, 'b@x.io'],
      'email 1 of the batch is a string, not an email object',
    ],
    ['holding null', [null], 'email 0 of the batch is null'],
    ['holding a list', [[{ to: 'a@x.io' }]], 'email 0 of the batch is a list'],
    [
      'with an email missing to',
      [{ to: 'a@x.io' }, { cc: 'b@x.io' }],
      'email 1 of the batch has no `to` address',
    ],
  ])('denies a batch %s', async (_name, emails, sentence) => {
    expect(await batch(emails)).toEqual({ unknown: expect.stringContaining(sentence) });
  });

  it('denies params that are not an object', async () => {
    for (const params of [null, 'to=a@x.io', ['a@x.io']]) {
      expect(await send(params)).toHaveProperty('unknown');
    }
  });
});

describe('resend profile: prices', () => {
  it('denies when the policy has no price per email', async () => {
    const unpriced = resolvePolicy('mail', { resend: { allow: [] } });
    expect(await estimate({ method: 'POST', path: '/emails', params: { to: 'a@x.io' } }, unpriced)).toEqual({
      unknown: expect.stringContaining('no price per email'),
    });
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, -0.001])('treats a price of %s as absent', async (email) => {
    const garbled = resolvePolicy('mail', { resend: { allow: [], prices: { email } } });
    expect(await estimate({ method: 'POST', path: '/emails', params: { to: 'a@x.io' } }, garbled)).toEqual({
      unknown: expect.stringContaining('no price per email'),
    });
  });
});

describe('resend profile: every write is priced or denied', () => {
  it.each([
    ['GET', '/emails/em_1'],
    ['HEAD', '/emails'],
    ['GET', '/anything/at/all'],
    ['PATCH', '/emails/em_1'],
    ['POST', '/emails/em_1/cancel'],
    ['POST', '/domains'],
    ['PATCH', '/domains/d_1'],
    ['POST', '/domains/d_1/verify'],
    ['DELETE', '/domains/d_1'],
    ['POST', '/api-keys'],
    ['DELETE', '/api-keys/k_1'],
    ['POST', '/audiences'],
    ['DELETE', '/audiences/a_1'],
    ['POST', '/audiences/a_1/contacts'],
    ['PATCH', '/audiences/a_1/contacts/c_1'],
    ['DELETE', '/audiences/a_1/contacts/c_1'],
    ['POST', '/contacts'],
    ['PATCH', '/contacts/c_1'],
    ['DELETE', '/contacts/c_1'],
  ])('%s %s is free', async (method, path) => {
    expect(await estimate({ method, path, params: { to: 'a@x.io' } })).toEqual(FREE);
  });

  it.each([
    ['POST', '/broadcasts/b_1/send'],
    ['POST', '/broadcasts'],
    ['POST', '/emails/'],
    ['PUT', '/emails'],
    ['PATCH', '/emails'],
    ['DELETE', '/emails/em_1'],
    ['POST', '/domains/d_1/contacts/x/y'],
  ])('%s %s is unlisted', async (method, path) => {
    expect(await estimate({ method, path, params: { to: 'a@x.io' } })).toEqual(
      unlisted('resend', { method, path }),
    );
  });
});

it('reads a batch body (a JSON array) into params', () => {
  expect(resendProfile.readParams('application/json', '[{"to":"a@x.io"}]')).toEqual({
    emails: [{ to: 'a@x.io' }],
  });
});

it('settles to the estimate, with the email id when the answer has one', () => {
  const estimated = { amount: 0.002, currency: 'usd' };
  const op = { method: 'POST', path: '/emails', params: {} };
  expect(resendProfile.settle(op, { id: 'em_1' }, estimated)).toEqual({
    cost: estimated,
    upstreamObjectId: 'em_1',
  });
  expect(resendProfile.settle(op, null, estimated)).toEqual({ cost: estimated });
  expect(resendProfile.settle(op, [{ id: 'em_1' }], estimated)).toEqual({ cost: estimated });
});

describe('resend profile: hostile params', () => {
  const hostileKey = fc.constantFrom(
    'to',
    'cc',
    'bcc',
    'emails',
    '__proto__',
    'constructor',
    'prototype',
    'toString',
  );
  const hostileValue = fc.oneof(
    fc.constantFrom('a@x.io', 'a@x.io, b@x.io', '', ',', addresses(51).join(',')),
    fc.array(fc.constantFrom('a@x.io', 'b@x.io,c@x.io', ''), { maxLength: 60 }),
    fc.string(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
  );
  const email = fc.object({ key: hostileKey, values: [hostileValue], maxDepth: 1, withNullPrototype: true });
  const params = fc.oneof(
    email,
    fc.record({ emails: fc.array(fc.oneof(email, fc.anything()), { maxLength: 110 }) }),
    fc.anything({ key: hostileKey, maxDepth: 2, withNullPrototype: true }),
  );
  const method = fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE');
  const path = fc.constantFrom('/emails', '/emails/batch', '/emails/em_1', '/domains', '/broadcasts');

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
    expect(({} as Record<string, unknown>).to).toBeUndefined();
  });
});
