import { expect, it } from 'vitest';
import { resolvePolicy } from '../policy.ts';
import { resendProfile } from './resend-profile.ts';

const policy = resolvePolicy('mail', { resend: { allow: [], prices: { email: 0.001 } } });

it.each([
  ['one recipient', '/emails', { to: 'a@x.io', from: 'f@x.io', subject: 's' }, 1],
  ['to + cc + bcc', '/emails', { to: ['a@x.io', 'b@x.io'], cc: 'c@x.io', bcc: ['d@x.io'] }, 4],
  [
    'every message of a batch',
    '/emails/batch',
    { emails: [{ to: 'a@x.io' }, { to: ['b@x.io', 'c@x.io'], bcc: 'd@x.io' }] },
    4,
  ],
])('prices %s', async (_name, path, params, recipients) => {
  expect(await resendProfile.estimate({ method: 'POST', path, params }, { policy })).toEqual({
    cost: { amount: expect.closeTo(recipients * 0.001, 10), currency: 'usd' },
  });
});

it('reads a batch body (a JSON array) into params', () => {
  expect(resendProfile.readParams('application/json', '[{"to":"a@x.io"}]')).toEqual({
    emails: [{ to: 'a@x.io' }],
  });
});

it('denies when the policy has no price per email', async () => {
  const unpriced = resolvePolicy('mail', { resend: { allow: [] } });
  expect(
    await resendProfile.estimate(
      { method: 'POST', path: '/emails', params: { to: 'a@x.io' } },
      { policy: unpriced },
    ),
  ).toHaveProperty('unknown');
});
