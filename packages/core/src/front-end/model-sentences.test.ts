import { expect, it } from 'vitest';
import { ADVICE, approvalReason, storeUnavailableReason } from './model-sentences.ts';

it('every advice tells the model not to make the same call again, so it does not loop', () => {
  for (const [kind, advice] of Object.entries(ADVICE)) {
    expect(advice, kind).toMatch(/retrying will not help|do not (call it again|retry)/i);
  }
});

it('reasons name what was refused', () => {
  expect(storeUnavailableReason('connection refused')).toBe(
    'the spendguard store is unavailable, so the call was not made: connection refused',
  );
  expect(approvalReason({ vendor: 'stripe', method: 'post', path: '/v1/charges' })).toBe(
    "spendguard: the policy wants a human's approval for stripe POST /v1/charges",
  );
});
