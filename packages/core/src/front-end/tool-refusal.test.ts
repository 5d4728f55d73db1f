import { describe, expect, it } from 'vitest';
import type { ExecuteDecision } from '../decision.ts';
import { SpendguardError, StoreUnavailableError } from '../errors.ts';
import { ADVICE } from './model-sentences.ts';
import { isToolRefusal, stopsTheRun, toolRefusal, unboundRunRefusal } from './tool-refusal.ts';

const info = { message: 'what happened', idempotencyKey: 'sg_1' };
const decisions = {
  executed: {
    ...info,
    decision: 'executed',
    code: 'executed',
    result: { id: 'ch_1' },
    actualCostUsd: 5,
    actualCostIsEstimate: false,
  },
  replayed: { ...info, decision: 'replayed', code: 'replayed', result: { id: 'ch_1' }, actualCostUsd: 5 },
  needsApproval: { ...info, decision: 'needs_approval', code: 'approval_required', approvalId: 'apr_1' },
  denied: { ...info, decision: 'denied', code: 'cap_exceeded' },
  revoked: { ...info, decision: 'denied', code: 'key_revoked' },
  expired: { ...info, decision: 'denied', code: 'key_expired' },
  vendorError: { ...info, decision: 'failed', code: 'vendor_error', error: { message: 'declined' } },
  outcomeUnknown: { ...info, decision: 'failed', code: 'outcome_unknown', error: { message: 'reset' } },
} satisfies Record<string, ExecuteDecision<unknown>>;

describe('toolRefusal', () => {
  it('is nothing for a call that ran', () => {
    expect(toolRefusal(decisions.executed)).toBeUndefined();
    expect(toolRefusal(decisions.replayed)).toBeUndefined();
  });

  it("gives the model the decision's code and sentence, and the advice for its kind", () => {
    const refusal = (advice: string, code: string) => ({
      refused: true,
      code,
      reason: 'what happened',
      advice,
    });
    expect(toolRefusal(decisions.denied)).toEqual(refusal(ADVICE.denied, 'cap_exceeded'));
    expect(toolRefusal(decisions.needsApproval)).toEqual({
      ...refusal(ADVICE.needsApproval, 'approval_required'),
      approvalId: 'apr_1',
    });
    expect(toolRefusal(decisions.vendorError)).toEqual(refusal(ADVICE.vendorError, 'vendor_error'));
    expect(toolRefusal(decisions.outcomeUnknown)).toEqual(refusal(ADVICE.outcomeUnknown, 'outcome_unknown'));
  });
});

describe('stopsTheRun', () => {
  it('is true for a revoked or expired key only', () => {
    const stopping = Object.entries(decisions).filter(([, d]) => stopsTheRun(d));
    expect(stopping.map(([name]) => name)).toEqual(['revoked', 'expired']);
  });
});

describe('unboundRunRefusal', () => {
  it('refuses for a root key that cannot act or a store that is down; nothing else', () => {
    expect(unboundRunRefusal(new SpendguardError('key_invalid', 'the root key is revoked'))).toEqual({
      refused: true,
      code: 'key_invalid',
      reason: 'the root key is revoked',
      advice: ADVICE.runKeyInvalid,
    });
    expect(unboundRunRefusal(new StoreUnavailableError('timeout'))).toMatchObject({
      code: 'store_unavailable',
      reason: 'the spendguard store is unavailable, so the call was not made: timeout',
      advice: ADVICE.storeUnavailable,
    });
    expect(unboundRunRefusal(new SpendguardError('narrowing_violation', 'other caps'))).toBeUndefined();
  });
});

describe('isToolRefusal', () => {
  it('recognises the refusal payload, and not a tool output that merely says refused', () => {
    expect(isToolRefusal(toolRefusal(decisions.denied))).toBe(true);
    expect(isToolRefusal({ refused: true, code: 'x' })).toBe(false);
    expect(isToolRefusal({ refused: 'yes', code: 'x', reason: 'y' })).toBe(false);
    expect(isToolRefusal({ id: 'ch_1' })).toBe(false);
    expect(isToolRefusal(null)).toBe(false);
  });
});
