import { TOKEN_PREFIX } from '@spendguard/core';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { auditTraceId } from './trace-id.ts';

const noSecret = () => false;

it('carries the trace id, and the group id when there is one; nothing for the no-op trace of disabled tracing', () => {
  const traceId = 'trace_0123456789abcdef0123456789abcdef';
  expect(auditTraceId({ traceId, groupId: null }, noSecret)).toBe(traceId);
  expect(auditTraceId({ traceId, groupId: 'thread_42' }, noSecret)).toBe(`${traceId};group=thread_42`);
  expect(auditTraceId({ traceId: 'no-op', groupId: 'thread_42' }, noSecret)).toBeUndefined();
  expect(auditTraceId(undefined, noSecret)).toBeUndefined();
  expect(auditTraceId(null, noSecret)).toBeUndefined();
});

it('leaves out an id that is not plain, or that could carry a secret or a vault key', () => {
  const traceId = 'trace_abc';
  expect(auditTraceId({ traceId, groupId: 'chat 42' }, noSecret)).toBe(traceId);
  expect(auditTraceId({ traceId, groupId: 'a;group=b' }, noSecret)).toBe(traceId);
  expect(auditTraceId({ traceId, groupId: `${TOKEN_PREFIX}abcdef` }, noSecret)).toBe(traceId);
  expect(auditTraceId({ traceId, groupId: 'sk_live_123' }, (t) => t.includes('sk_live'))).toBe(traceId);
  expect(auditTraceId({ traceId: 'x'.repeat(129) }, noSecret)).toBeUndefined();
  expect(auditTraceId({ traceId: 42, groupId: 'g' }, noSecret)).toBeUndefined();
});

it('is bounded and plain for any trace the SDK could hold', () => {
  fc.assert(
    fc.property(
      fc.record({ traceId: fc.anything(), groupId: fc.anything() }, { requiredKeys: [] }),
      (trace) => {
        const id = auditTraceId(trace, noSecret);
        if (id === undefined) return;
        expect(id).toMatch(/^[A-Za-z0-9._:-]{1,128}(;group=[A-Za-z0-9._:-]{1,128})?$/);
        expect(id).not.toContain(TOKEN_PREFIX);
      },
    ),
    { numRuns: 500 },
  );
});
