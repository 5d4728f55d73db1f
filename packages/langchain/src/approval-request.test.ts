import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { approvalDecisions, approvalInterrupt } from './approval-request.ts';

describe('approvalInterrupt', () => {
  it('is shaped like humanInTheLoopMiddleware’s request: one action per call, one review config per tool', () => {
    const ask = (toolCallId: string, name: string) => ({
      name,
      args: { n: 1 },
      description: 'why',
      toolCallId,
    });
    expect(approvalInterrupt([ask('a', 'charge'), ask('b', 'refund'), ask('c', 'charge')])).toEqual({
      actionRequests: [ask('a', 'charge'), ask('b', 'refund'), ask('c', 'charge')],
      reviewConfigs: [
        { actionName: 'charge', allowedDecisions: ['approve', 'reject'] },
        { actionName: 'refund', allowedDecisions: ['approve', 'reject'] },
      ],
    });
  });
});

describe('approvalDecisions', () => {
  it('takes exactly one approve or reject per action request', () => {
    expect(
      approvalDecisions({ decisions: [{ type: 'approve' }, { type: 'reject', message: 'no' }] }, 2),
    ).toEqual([{ type: 'approve' }, { type: 'reject', message: 'no' }]);
    expect(approvalDecisions({ decisions: [{ type: 'reject', message: '' }] }, 1)).toEqual([
      { type: 'reject' },
    ]);
    // Anything else asks again: a wrong count, an edit (not offered), a malformed message.
    for (const bad of [
      { decisions: [{ type: 'approve' }] },
      { decisions: [{ type: 'edit', editedAction: { name: 'charge', args: {} } }, { type: 'approve' }] },
      { decisions: [{ type: 'reject', message: 42 }, { type: 'approve' }] },
      [{ type: 'approve' }, { type: 'approve' }],
      'approve',
      null,
    ]) {
      expect(approvalDecisions(bad, 2)).toBeUndefined();
    }
  });

  it('never throws, and accepts only a fitting answer (property)', () => {
    const decision = fc.oneof(
      fc.record({ type: fc.constantFrom('approve', 'reject', 'edit', '__proto__') }),
      fc.record({ type: fc.constant('reject'), message: fc.anything() }),
      fc.anything(),
    );
    const answer = fc.oneof(fc.record({ decisions: fc.array(decision, { maxLength: 4 }) }), fc.anything());
    fc.assert(
      fc.property(answer, fc.integer({ min: 0, max: 4 }), (value, count) => {
        const parsed = approvalDecisions(value, count);
        if (parsed === undefined) return;
        expect(parsed).toHaveLength(count);
        for (const d of parsed) {
          expect(['approve', 'reject']).toContain(d.type);
          if (d.type === 'reject' && d.message !== undefined) expect(typeof d.message).toBe('string');
        }
      }),
      { numRuns: 500 },
    );
  });
});
